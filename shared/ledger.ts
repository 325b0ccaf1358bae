import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, NumberValue, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { ATTRIBUTE_PREFIXES, KEYS } from './budgets/items';
import { ACCOUNT_SHARDS, accountShardPrincipal } from './budgets/keys';
import type { BedrockCall } from './events/parse';
import { toDecimalString, type Usd, ZERO } from './money';
import { type PeriodKind, periodKey } from './period';

/** A call from an invocation log, priced: this is what moves spend. */
export interface Charge {
  readonly call: BedrockCall;
  readonly model: string;
  readonly costUsd: Usd;
  readonly unknownModel: boolean;
  readonly catalogVersion: string;
}

export interface LedgerTables {
  readonly usageTable: string;
  readonly budgetsTable: string;
}

export interface LedgerOptions extends LedgerTables {
  readonly periodKind: PeriodKind;
  /** Further period kinds to keep counters for (principals whose limit is weekly or daily). @default none */
  readonly extraPeriodKinds?: readonly PeriodKind[];
  readonly usageTtlDays: number;
  readonly now?: () => Date;
  /** The account shard this ledger adds to until a transaction conflicts on it. @default a random one */
  readonly accountShard?: number;
  /** Shards to spread over, at most ACCOUNT_SHARDS (1 is the single account item the tests compare with). */
  readonly accountShards?: number;
  /** Draws a shard to move to after a conflict. @default Math.random */
  readonly random?: () => number;
}

export interface LedgerResult {
  /** Charges newly counted in this call. */
  readonly charged: Charge[];
  /** Request ids already counted before (retries, replays, the same request from both sources). */
  readonly duplicates: string[];
  /** CloudTrail sightings newly recorded (calls whose tokens are not known yet). */
  readonly sighted: number;
  /** DynamoDB requests made, for the cost figure of merit. */
  readonly requests: number;
  /**
   * Items on which a transaction was cancelled because another transaction held them (TransactionConflict), by
   * kind of item: the account shard, a principal's (or marker's) counter, a Usage row. Each cancellation is retried.
   */
  readonly conflicts: { readonly account: number; readonly counters: number; readonly rows: number };
}

/** A LedgerResult while it is being counted. */
interface Progress {
  charged: Charge[];
  duplicates: string[];
  sighted: number;
  requests: number;
  conflicts: { account: number; counters: number; rows: number };
}

/** DynamoDB's limit on actions per transaction. */
export const MAX_TRANSACTION_ACTIONS = 100;
const MAX_CONFLICT_RETRIES = 8;
/** Cancellation reasons that a later attempt of the same transaction can overcome. */
const RETRYABLE = new Set(['TransactionConflict', 'ThrottlingError', 'ProvisionedThroughputExceeded']);

export const LIMIT_PERIOD = KEYS.limitPeriod;

/** The unmetered index spreads sightings over a few partitions so one hot key never limits CloudTrail ingest. */
export const UNMETERED_SHARDS = 4;
export function unmeteredShardOf(requestId: string): string {
  let hash = 0;
  for (const char of requestId) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `U${hash % UNMETERED_SHARDS}`;
}
export const unknownModelKey = (model: string) => ({
  principal: `${KEYS.modelMarkerPrefix}${model}`,
  period: KEYS.unknownModelPeriod,
});

type Item =
  | { readonly kind: 'charge'; readonly charge: Charge }
  | { readonly kind: 'sighting'; readonly call: BedrockCall };

interface Counter {
  readonly principal: string;
  readonly period: string;
  readonly principalArn?: string;
  readonly principalKind?: string;
  spend: Usd;
  requests: number;
  /** Spend per resolved model, so an alert can name the models that cost the most. */
  readonly models: Map<string, Usd>;
}

/** Per-model spend on a counter item is kept in top-level attributes named with this prefix. */
export const MODEL_SPEND_PREFIX = ATTRIBUTE_PREFIXES.modelSpend;

/**
 * Writes a batch exactly once. Every call's Usage row is written with a condition (the row is what makes the call
 * count once), and in the same transaction the spend of the rows it charges is ADDed to each principal's period
 * counter and the account's: a row and the spend it adds land together or not at all, so a retry of any part
 * can neither double-count nor lose spend. Rows are grouped by principal so one counter update serves many rows.
 */
export class Ledger {
  private readonly now: () => Date;
  private readonly random: () => number;
  /** Sticky: one execution environment runs one transaction at a time, so each keeps to a shard of its own. */
  private accountShard: number;
  private readonly accountShards: number;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly options: LedgerOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.random = options.random ?? Math.random;
    this.accountShards = Math.min(options.accountShards ?? ACCOUNT_SHARDS, ACCOUNT_SHARDS);
    this.accountShard = options.accountShard ?? Math.floor(this.random() * this.accountShards);
  }

  async record(charges: readonly Charge[], sightings: readonly BedrockCall[]): Promise<LedgerResult> {
    const { items, duplicates } = dedupe(charges, sightings);
    const result: Progress = {
      charged: [],
      duplicates,
      sighted: 0,
      requests: 0,
      conflicts: { account: 0, counters: 0, rows: 0 },
    };
    for (const chunk of this.pack(items)) await this.commit(chunk, result);
    return result;
  }

  private periodOf(call: BedrockCall): string {
    return periodKey(this.options.periodKind, new Date(call.time));
  }

  /** The counter periods a call adds to: the deployment's, then any extra kinds'. */
  private periodsOf(call: BedrockCall): string[] {
    const at = new Date(call.time);
    return [this.options.periodKind, ...(this.options.extraPeriodKinds ?? [])].map((kind) => periodKey(kind, at));
  }

  /** Greedy packing: charges sorted by principal so consecutive rows share counter updates. */
  private pack(items: Item[]): Item[][] {
    const sorted = [...items].sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
    const chunks: Item[][] = [];
    let chunk: Item[] = [];
    let counters = new Set<string>();
    for (const item of sorted) {
      const keys = this.counterKeysOf(item);
      const added = keys.filter((key) => !counters.has(key)).length;
      if (chunk.length + counters.size + 1 + added > MAX_TRANSACTION_ACTIONS) {
        chunks.push(chunk);
        chunk = [];
        counters = new Set();
      }
      chunk.push(item);
      for (const key of keys) counters.add(key);
    }
    if (chunk.length > 0) chunks.push(chunk);
    return chunks;
  }

  private counterKeysOf(item: Item): string[] {
    if (item.kind === 'sighting') return [];
    const { call, unknownModel, model } = item.charge;
    const keys = this.periodsOf(call).flatMap((period) => [
      `${call.principal.id}\u0000${period}`,
      `account\u0000${period}`,
    ]);
    if (unknownModel) keys.push(unknownModelKey(model).principal);
    return keys;
  }

  private async commit(chunk: Item[], result: Progress) {
    let pending = chunk;
    for (let attempt = 0; pending.length > 0; attempt++) {
      const actions = this.actionsFor(pending);
      try {
        result.requests++;
        await this.client.send(new TransactWriteCommand({ TransactItems: actions }));
        for (const item of pending) {
          if (item.kind === 'charge') result.charged.push(item.charge);
          else result.sighted++;
        }
        return;
      } catch (error) {
        if (!(error instanceof TransactionCanceledException) || attempt >= MAX_CONFLICT_RETRIES) throw error;
        const reasons = error.CancellationReasons ?? [];
        // Actions are rows first (one per pending item, same order), then counters.
        const failedRows = new Set<number>();
        let conflict = false;
        let accountBusy = false;
        reasons.forEach((reason, index) => {
          if (reason.Code === 'ConditionalCheckFailed' && index < pending.length) failedRows.add(index);
          else if (reason.Code && RETRYABLE.has(reason.Code)) {
            conflict = true;
            const kind = this.kindOfAction(actions[index], index < pending.length);
            if (reason.Code === 'TransactionConflict') result.conflicts[kind]++;
            // Another environment is on this shard now (or it is throttled): the retry goes to another.
            if (kind === 'account') accountBusy = true;
          } else if (reason.Code && reason.Code !== 'None') throw error;
        });
        if (failedRows.size === 0 && !conflict) throw error;
        if (accountBusy) this.moveAccountShard();
        for (const index of failedRows) {
          const item = pending[index] as Item;
          // A sighting of a call already known is simply nothing new; a second charge is a duplicate.
          if (item.kind === 'charge') result.duplicates.push(item.charge.call.requestId);
        }
        pending = pending.filter((_, index) => !failedRows.has(index));
        if (conflict) await sleep(Math.min(1000, 20 * 2 ** attempt) * (0.5 + Math.random()));
      }
    }
  }

  private kindOfAction(action: object | undefined, isRow: boolean) {
    if (isRow) return 'rows' as const;
    const key = (action as { Update?: { Key?: { principal?: unknown } } } | undefined)?.Update?.Key;
    return key?.principal === accountShardPrincipal(this.accountShard) ? ('account' as const) : ('counters' as const);
  }

  private moveAccountShard(): void {
    if (this.accountShards < 2) return;
    const step = 1 + Math.floor(this.random() * (this.accountShards - 1));
    this.accountShard = (this.accountShard + step) % this.accountShards;
  }

  private actionsFor(items: Item[]) {
    const now = this.now();
    const nowIso = now.toISOString();
    const ttl = Math.floor(now.getTime() / 1000) + this.options.usageTtlDays * 86_400;
    const rows = items.map((item) =>
      item.kind === 'charge' ? this.chargeRow(item.charge, nowIso, ttl) : this.sightingRow(item.call, nowIso, ttl),
    );
    return [...rows, ...this.counterUpdates(items, nowIso)];
  }

  private chargeRow(charge: Charge, nowIso: string, ttl: number) {
    const { call } = charge;
    const tokens = call.tokens ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
    return {
      Update: {
        TableName: this.options.usageTable,
        Key: { requestId: call.requestId },
        // The CloudTrail sighting (if any) came first: keep its fields, add the cost, clear the unmetered marker.
        UpdateExpression:
          'SET principal = :principal, principalArn = :arn, model = :model, modelId = :modelId, #op = :op, #region = :region, callTime = :time, tokens = :tokens, costUsd = :cost, unknownModel = :unknown, catalogVersion = :catalog, chargedAt = :now, chargedBy = :source, period = :period, #ttl = :ttl REMOVE unmeteredSince, unmeteredShard',
        ConditionExpression: 'attribute_not_exists(costUsd)',
        ExpressionAttributeNames: { '#op': 'operation', '#region': 'region', '#ttl': 'ttl' },
        ExpressionAttributeValues: {
          ':principal': call.principal.id,
          ':arn': call.principal.arn,
          ':model': charge.model,
          ':modelId': call.modelId,
          ':op': call.operation,
          ':region': call.region,
          ':time': call.time,
          ':tokens': tokens,
          ':cost': NumberValue.from(toDecimalString(charge.costUsd)),
          ':unknown': charge.unknownModel,
          ':catalog': charge.catalogVersion,
          ':now': nowIso,
          ':source': call.source,
          ':period': this.periodOf(call),
          ':ttl': ttl,
        },
        ReturnValuesOnConditionCheckFailure: 'NONE' as const,
      },
    };
  }

  private sightingRow(call: BedrockCall, nowIso: string, ttl: number) {
    return {
      Put: {
        TableName: this.options.usageTable,
        Item: {
          requestId: call.requestId,
          principal: call.principal.id,
          principalArn: call.principal.arn,
          principalKind: call.principal.kind,
          accountId: call.principal.accountId,
          modelId: call.modelId,
          operation: call.operation,
          region: call.region,
          callTime: call.time,
          sightedAt: nowIso,
          period: this.periodOf(call),
          // Sparse index keys: present only until the invocation log (or the coverage sweep) charges the call.
          unmeteredShard: unmeteredShardOf(call.requestId),
          unmeteredSince: call.time,
          ttl,
        },
        ConditionExpression: 'attribute_not_exists(requestId)',
      },
    };
  }

  private counterUpdates(items: Item[], nowIso: string) {
    const counters = new Map<string, Counter>();
    const unknownModels = new Map<string, number>();
    const bump = (key: Omit<Counter, 'spend' | 'requests' | 'models'>, cost: Usd, model: string) => {
      const id = `${key.principal}\u0000${key.period}`;
      const counter = counters.get(id) ?? { ...key, spend: ZERO, requests: 0, models: new Map() };
      counter.spend = counter.spend.plus(cost);
      counter.requests++;
      counter.models.set(model, (counter.models.get(model) ?? ZERO).plus(cost));
      counters.set(id, counter);
    };
    for (const item of items) {
      if (item.kind !== 'charge') continue;
      const { call, costUsd } = item.charge;
      const { principal } = call;
      const { model } = item.charge;
      for (const period of this.periodsOf(call)) {
        bump(
          { principal: principal.id, period, principalArn: principal.arn, principalKind: principal.kind },
          costUsd,
          model,
        );
        bump({ principal: accountShardPrincipal(this.accountShard), period }, costUsd, model);
      }
      if (item.charge.unknownModel) {
        unknownModels.set(item.charge.model, (unknownModels.get(item.charge.model) ?? 0) + 1);
      }
    }
    const updates = [...counters.values()].map((counter) => {
      const models = [...counter.models];
      const modelAdds = models.map((_, i) => `, #m${i} :m${i}`).join('');
      const identity = counter.principalArn ? ', principalArn = :arn, principalKind = :kind' : '';
      return {
        Update: {
          TableName: this.options.budgetsTable,
          Key: { principal: counter.principal, period: counter.period },
          UpdateExpression: `ADD spendUsd :spend, requests :n${modelAdds} SET updatedAt = :now${identity}`,
          ExpressionAttributeNames: Object.fromEntries(
            models.map(([model], i) => [`#m${i}`, `${MODEL_SPEND_PREFIX}${model}`]),
          ),
          ExpressionAttributeValues: {
            ':spend': NumberValue.from(toDecimalString(counter.spend)),
            ':n': counter.requests,
            ':now': nowIso,
            ...(counter.principalArn ? { ':arn': counter.principalArn, ':kind': counter.principalKind } : {}),
            ...Object.fromEntries(models.map(([, spend], i) => [`:m${i}`, NumberValue.from(toDecimalString(spend))])),
          },
        },
      };
    });
    // One marker item per unknown model: its first write is the stream INSERT the evaluator alerts on, once.
    const markers = [...unknownModels].map(([model, calls]) => ({
      Update: {
        TableName: this.options.budgetsTable,
        Key: unknownModelKey(model),
        UpdateExpression: 'SET firstSeen = if_not_exists(firstSeen, :now), lastSeen = :now ADD requests :n',
        ExpressionAttributeValues: { ':now': nowIso, ':n': calls },
      },
    }));
    return [...updates, ...markers];
  }
}

const sortKey = (item: Item) =>
  item.kind === 'charge'
    ? `0${item.charge.call.principal.id}\u0000${item.charge.call.time}`
    : `1${item.call.requestId}`;

/** One item per request id: a charge (tokens known) wins over a CloudTrail sighting of the same call; a second
 * charge for the same request in one batch is a duplicate. */
function dedupe(charges: readonly Charge[], sightings: readonly BedrockCall[]) {
  const byId = new Map<string, Item>();
  const duplicates: string[] = [];
  for (const charge of charges) {
    const { requestId } = charge.call;
    if (byId.has(requestId)) duplicates.push(requestId);
    else byId.set(requestId, { kind: 'charge', charge });
  }
  for (const call of sightings) if (!byId.has(call.requestId)) byId.set(call.requestId, { kind: 'sighting', call });
  return { items: [...byId.values()], duplicates };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
