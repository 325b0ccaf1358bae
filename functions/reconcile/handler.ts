import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import * as z from 'zod';
import { AuditLog } from '../../shared/audit/log';
import { documents, sfn, sns } from '../../shared/clients';
import {
  extraPeriodKindsFromEnv,
  identityRulesFromEnv,
  periodKindFromEnv,
  positiveIntFromEnv,
  requireEnv,
} from '../../shared/config';
import { Outbox } from '../../shared/decisions/outbox';
import { parseLimitUsd } from '../../shared/money';
import { daysBefore } from '../../shared/period';
import { BillUnavailableError, fetchDayBill, parsePrincipalGroup } from '../../shared/reconcile/cost-explorer';
import { reconcileDay } from '../../shared/reconcile/day';
import { billFromCostExplorer, checkDay } from '../../shared/reconcile/reconcile';
import { ownAccountOnly, settleDay, unavailableReason } from './daily';

// Configuration is read and checked once, at cold start: a missing variable fails the init with its name.
const logger = new Logger({ serviceName: 'budgeteer-reconcile' });
const metrics = new Metrics({ namespace: 'Budgeteer', serviceName: 'reconcile' });
// A deployment that keeps daily counters is metered from them (a few reads), else from a scan of Usage.
const keepsDaily = [periodKindFromEnv(), ...extraPeriodKindsFromEnv()].includes('daily');
const metered = {
  usageTable: requireEnv('USAGE_TABLE'),
  ...(keepsDaily ? { dailyCounters: { budgetsTable: requireEnv('BUDGETS_TABLE') } } : {}),
};
const group = parsePrincipalGroup(requireEnv('RECONCILE_PRINCIPAL_GROUP'));
const tolerance = parseLimitUsd(requireEnv('RECONCILE_TOLERANCE_USD'));
const delayDays = positiveIntFromEnv('RECONCILE_DELAY_DAYS', 2);
const rules = identityRulesFromEnv();
// It owes alerts and audit entries only: it starts no workflow and invokes nothing (no grant to).
const outbox = Outbox.fromEnv({ documents, sns, sfn, audit: AuditLog.fromEnv(documents) });

/**
 * EventBridge's Scheduled Event (its `time` is the same on every retry of a delivery, so the day is too), or
 * `{"day": "2026-11-30"}` to reconcile a day by hand.
 */
const ReconcileEvent = z.looseObject({ time: z.iso.datetime().optional(), day: z.string().optional() });

/** Once a day: the day `RECONCILE_DELAY_DAYS` before, metered against Cost Explorer's bill (./daily.ts). */
export async function dailyReconcile(event: unknown) {
  const parsed = ReconcileEvent.parse(event ?? {});
  const day = parsed.day
    ? checkDay(parsed.day)
    : daysBefore(parsed.time ? new Date(parsed.time) : new Date(), delayDays);
  let answer: unknown;
  try {
    answer = await fetchDayBill(day, group);
  } catch (error) {
    if (!(error instanceof BillUnavailableError)) throw error;
    return unavailable(day, error.message);
  }
  const bill = billFromCostExplorer(answer, day);
  const reconciliation = ownAccountOnly(
    await reconcileDay(documents, metered, day, bill, rules),
    rules.homeAccount !== undefined,
  );
  const reason = unavailableReason(reconciliation, bill);
  if (reason) return unavailable(day, reason);
  const settled = await settleDay(outbox, reconciliation, tolerance, new Date());
  metrics.addMetric('ReconcileDrifts', MetricUnit.Count, settled.drifted.length);
  logger.info(settled.drifted.length > 0 ? 'bill drifts from metered spend' : 'bill matches metered spend', {
    ...settled,
    principals: reconciliation.principals.length,
  });
  return { status: 'reconciled', ...settled };
}

/** Not a drift: said in the log and counted, so an alarm can tell a day never reconciled. */
function unavailable(day: string, reason: string) {
  logger.warn('bill not available to reconcile', { day, reason });
  metrics.addMetric('ReconcileBillUnavailable', MetricUnit.Count, 1);
  return { status: 'unavailable', day, reason };
}

export const handler = middy(dailyReconcile).use(injectLambdaContext(logger)).use(logMetrics(metrics));
