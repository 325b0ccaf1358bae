import type { IdentityRules } from '../identity';
import { chargedCalls } from '../report/read';
import { type Bill, checkDay, meteredOf, type Reconciliation, reconcile } from './reconcile';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The day's reconciliation: the calls the Usage table charged that UTC day (one scan: a once-a-day job or a
 * person's command) against the bill, per principal and model.
 */
export async function reconcileDay(
  documents: Parameters<typeof chargedCalls>[0],
  usageTable: string,
  date: string,
  bill: Bill,
  rules: IdentityRules,
): Promise<Reconciliation> {
  const start = new Date(`${checkDay(date)}T00:00:00.000Z`);
  const calls = await chargedCalls(documents, usageTable, start, new Date(start.getTime() + DAY_MS));
  return reconcile(date, meteredOf(calls), bill, rules);
}
