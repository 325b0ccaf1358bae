import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PERIOD_INDEX } from '../budgets';
import { ATTRIBUTE_PREFIXES, decimalOf, kindOfKey } from '../budgets/items';
import type { IdentityRules } from '../identity';
import type { Usd } from '../money';
import { chargedCalls } from '../report/read';
import { batchGetItems, queryItems } from '../scan';
import { type Bill, checkDay, meteredOf, type Reconciliation, reconcile } from './reconcile';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Where a day's metered spend is read: the Usage table, or the Budgets table's daily counters when it keeps them. */
export interface MeteredTables {
  readonly usageTable: string;
  /** Set when the deployment keeps daily counters (`daily` is its period or an extra kind): read those instead. */
  readonly dailyCounters?: { readonly budgetsTable: string };
}

/**
 * The day's reconciliation: what was metered that UTC day against the bill, per principal and model. With daily
 * counters, from each principal's counter of the day (its per-model spend: the period index lists them, a
 * BatchGetItem per hundred reads them): a few requests however many calls. Without, from one scan of the Usage table
 * for the calls charged that day, which grows with the table (all its retained days).
 */
export async function reconcileDay(
  documents: DynamoDBDocumentClient,
  tables: MeteredTables,
  date: string,
  bill: Bill,
  rules: IdentityRules,
): Promise<Reconciliation> {
  const start = new Date(`${checkDay(date)}T00:00:00.000Z`);
  const metered = tables.dailyCounters
    ? await dailyMetered(documents, tables.dailyCounters.budgetsTable, date)
    : await chargedCalls(documents, tables.usageTable, start, new Date(start.getTime() + DAY_MS));
  return reconcile(date, meteredOf(metered), bill, rules);
}

/** Each principal's spend per model on its counter of the day (`modelSpend:<model>` attributes). */
async function dailyMetered(
  documents: DynamoDBDocumentClient,
  budgetsTable: string,
  day: string,
): Promise<{ principal: string; model: string; costUsd: Usd }[]> {
  const keys: Record<string, unknown>[] = [];
  for await (const item of queryItems(documents, {
    TableName: budgetsTable,
    IndexName: PERIOD_INDEX,
    KeyConditionExpression: '#period = :day',
    ExpressionAttributeNames: { '#period': 'period' },
    ExpressionAttributeValues: { ':day': day },
  })) {
    // Principals' counters only: not the account's shards, a group's, the digest's claim or a coverage marker.
    if (kindOfKey(item.principal, item.period) === 'counter') keys.push({ principal: item.principal, period: day });
  }
  const metered: { principal: string; model: string; costUsd: Usd }[] = [];
  for (const counter of await batchGetItems(documents, budgetsTable, keys)) {
    for (const [name, value] of Object.entries(counter)) {
      if (!name.startsWith(ATTRIBUTE_PREFIXES.modelSpend)) continue;
      const model = name.slice(ATTRIBUTE_PREFIXES.modelSpend.length);
      metered.push({ principal: String(counter.principal), model, costUsd: decimalOf(value) });
    }
  }
  return metered;
}
