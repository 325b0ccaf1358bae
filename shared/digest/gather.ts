import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AuditLog } from '../audit/log';
import type { BudgetStore, PeriodBudgets } from '../budgets';
import { ACTIVE_STATE, ATTRIBUTES, KEYS, parseBudgetItem, wholeOf } from '../budgets/items';
import type { PendingWaits } from '../decisions/pending';
import { ACCOUNT_PRINCIPAL } from '../identity';
import { sum, type Usd, ZERO } from '../money';
import { type PeriodKind, periodKey, periodStartOfKey } from '../period';
import { chargedCalls, markedEvents } from '../report/read';
import type { ChargedCall } from '../report/report';
import { scanItems } from '../scan';
import type {
  Crossing,
  DigestData,
  PendingDecision,
  RejectedRecords,
  SpendLine,
  SuspensionInForce,
  UnknownModel,
} from './digest';

export interface DigestSources {
  readonly documents: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  /** The period counters and limits, as `status` and the report read them. */
  readonly budgets: BudgetStore;
  readonly audit: AuditLog;
  readonly waits: PendingWaits;
  /** Told what could not be read and was left out (the digest still goes out, saying so). */
  readonly warn?: (message: string, error: unknown) => void;
}

export interface DigestTables {
  readonly budgetsTable: string;
  readonly usageTable: string;
  readonly rejectedQueueUrl: string;
  readonly periodKind: PeriodKind;
  readonly extraPeriodKinds: readonly PeriodKind[];
}

const DAY_MS = 86_400_000;

/** What was charged on the day, by principal and by model, and in all. */
interface DaySpend {
  readonly byPrincipal: ReadonlyMap<string, Usd>;
  readonly byModel: ReadonlyMap<string, Usd>;
  readonly account: Usd;
}

/**
 * Reads what a day's digest reports, through the read paths the report and `status` use: the period's counters and
 * limits (BudgetStore.periodBudgets), the day's spend, its audited crossings (shared/report/read.ts), the waits
 * nobody decided (PendingWaits), the unknown-model markers and the rejected-records queue's counts. Where the
 * deployment keeps daily counters, the day's spend is its counters (and the account's per-model spend); otherwise
 * it is the day's charged calls, a scan of the Usage table once a day.
 */
export async function gatherDigest(
  sources: DigestSources,
  tables: DigestTables,
  day: string,
  now: Date,
): Promise<DigestData> {
  const dayStart = new Date(`${day}T00:00:00.000Z`);
  if (Number.isNaN(dayStart.getTime()) || dayStart.toISOString().slice(0, 10) !== day) {
    throw new RangeError(`${JSON.stringify(day)} is not a day (YYYY-MM-DD)`);
  }
  const dayEnd = new Date(dayStart.getTime() + DAY_MS);
  const kind = tables.periodKind;
  const period = periodKey(kind, dayStart);
  // One scan per period key: the day's period and each kind's current period are often the same.
  const read = new Map<string, Promise<PeriodBudgets>>();
  const budgetsOf = (key: string) => {
    let budgets = read.get(key);
    if (!budgets) {
      budgets = sources.budgets.periodBudgets(key);
      read.set(key, budgets);
    }
    return budgets;
  };
  const keepsDaily = kind === 'daily' || tables.extraPeriodKinds.includes('daily');
  const [budgets, spent, events, suspensions, pending, markers, rejected] = await Promise.all([
    budgetsOf(period),
    keepsDaily
      ? dailyCounters(sources.budgets, budgetsOf, day)
      : chargedCalls(sources.documents, tables.usageTable, dayStart, dayEnd).then(callsSpend),
    markedEvents(sources.audit, dayStart, new Date(dayEnd.getTime() - 1)),
    suspensionsInForce([kind, ...tables.extraPeriodKinds], now, budgetsOf),
    pendingDecisions(sources.waits, now),
    unknownModelMarkers(sources.documents, tables.budgetsTable),
    rejectedRecords(sources.sqs, tables.rejectedQueueUrl).catch((error: unknown) => {
      sources.warn?.('the rejected-records queue could not be read: the digest says so', error);
      return undefined;
    }),
  ]);

  const { byPrincipal: dayByPrincipal, byModel: dayByModel } = spent;
  const counters = new Map(budgets.counters.map((counter) => [counter.principal, counter]));
  // A limit stands against a period of its own kind only (as in `status`): a weekly limit says nothing of a month.
  const lineOf = async (principal: string, dayUsd: Usd): Promise<SpendLine> => {
    const counter = counters.get(principal);
    const ownKind = budgets.limits.get(principal)?.periodKind ?? kind;
    return {
      name: principal,
      dayUsd,
      periodUsd: counter?.spendUsd ?? ZERO,
      ...(ownKind === kind ? { limitUsd: await sources.budgets.limitIn(principal, budgets.limits) } : {}),
      state: counter?.state ?? ACTIVE_STATE,
    };
  };
  const names = new Set([...counters.keys(), ...dayByPrincipal.keys()]);
  names.delete(ACCOUNT_PRINCIPAL);
  const principals = await Promise.all([...names].map((name) => lineOf(name, dayByPrincipal.get(name) ?? ZERO)));
  const account = await lineOf(ACCOUNT_PRINCIPAL, spent.account);

  const crossings: Crossing[] = events.flatMap((event): Crossing[] => {
    if (event.action === 'threshold.alerted') {
      const threshold = Number(event.details.threshold);
      return Number.isFinite(threshold) ? [{ principal: event.subject, threshold, at: event.at }] : [];
    }
    return event.action === 'suspension.requested'
      ? [{ principal: event.subject, threshold: 'limit', at: event.at }]
      : [];
  });

  const periodStart = (periodStartOfKey(period) ?? dayStart).toISOString();
  const unknownModels: UnknownModel[] = markers
    .map((marker) => ({ ...marker, dayUsd: dayByModel.get(marker.model) ?? ZERO }))
    .filter((marker) => marker.dayUsd.gt(0) || (marker.lastSeen ?? '') >= periodStart);

  return {
    day,
    period,
    now,
    principals,
    account,
    // Groups: no group budgets exist yet. When they do, their counters are read here like principals' (see DigestData).
    crossings,
    suspensions,
    pending,
    unknownModels,
    ...(rejected ? { rejected } : {}),
  };
}

/** The day's spend from its charged calls. */
function callsSpend(calls: readonly ChargedCall[]): DaySpend {
  const byPrincipal = new Map<string, Usd>();
  const byModel = new Map<string, Usd>();
  for (const call of calls) {
    byPrincipal.set(call.principal, (byPrincipal.get(call.principal) ?? ZERO).plus(call.costUsd));
    byModel.set(call.model, (byModel.get(call.model) ?? ZERO).plus(call.costUsd));
  }
  return { byPrincipal, byModel, account: sum(byPrincipal.values()) };
}

/** The day's spend from its daily counters: each principal's, the account's shards and their spend per model. */
async function dailyCounters(
  store: BudgetStore,
  budgetsOf: (period: string) => Promise<PeriodBudgets>,
  day: string,
): Promise<DaySpend> {
  const [{ counters }, account] = await Promise.all([budgetsOf(day), store.accountTotal(day)]);
  const byPrincipal = new Map(
    counters.filter((c) => c.principal !== ACCOUNT_PRINCIPAL).map((c) => [c.principal, c.spendUsd] as const),
  );
  return { byPrincipal, byModel: account.modelSpend, account: account.spendUsd };
}

/** Principals suspended and the account stopped, in each kind's current period. */
async function suspensionsInForce(
  kinds: readonly PeriodKind[],
  now: Date,
  budgetsOf: (period: string) => Promise<PeriodBudgets>,
): Promise<SuspensionInForce[]> {
  const found: SuspensionInForce[] = [];
  for (const period of new Set(kinds.map((kind) => periodKey(kind, now)))) {
    for (const counter of (await budgetsOf(period)).counters) {
      if (counter.state === ACTIVE_STATE) continue;
      found.push({
        principal: counter.principal,
        period,
        state: counter.state,
        since: counter.suspension?.since ?? now.toISOString(),
        reason: counter.suspension?.reason ?? counter.state,
        ...(counter.suspension?.waitId ? { waitId: counter.suspension.waitId } : {}),
      });
    }
  }
  return found;
}

async function pendingDecisions(waits: PendingWaits, now: Date): Promise<PendingDecision[]> {
  const pending: PendingDecision[] = [];
  for await (const wait of waits.undecided()) {
    if (wait.expiresAt <= now.toISOString()) continue;
    const { id, kind, principal, period, createdAt, expiresAt } = wait;
    pending.push({ id, kind, principal, period, createdAt, expiresAt });
  }
  return pending;
}

/** Every unknown-model marker (`MODEL#<id>` / `UNKNOWN`): the models charged at the fallback price. */
async function unknownModelMarkers(
  documents: DynamoDBDocumentClient,
  table: string,
): Promise<Omit<UnknownModel, 'dayUsd'>[]> {
  const markers: Omit<UnknownModel, 'dayUsd'>[] = [];
  for await (const raw of scanItems(documents, {
    TableName: table,
    FilterExpression: '#period = :unknown',
    ExpressionAttributeNames: { '#period': ATTRIBUTES.period },
    ExpressionAttributeValues: { ':unknown': KEYS.unknownModelPeriod },
  })) {
    const item = parseBudgetItem(raw);
    if (item.kind !== 'unknown-model') continue;
    markers.push({
      model: item.principal.slice(KEYS.modelMarkerPrefix.length),
      ...(item.firstSeen ? { firstSeen: item.firstSeen } : {}),
      ...(item.lastSeen ? { lastSeen: item.lastSeen } : {}),
      requests: wholeOf(item.requests) ?? 0,
    });
  }
  return markers;
}

/** The rejected-records queue's counts. */
async function rejectedRecords(sqs: SQSClient, queueUrl: string): Promise<RejectedRecords> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    waiting: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}
