import { type AttributeValue, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, NumberValue, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { ATTRIBUTE_PREFIXES, ATTRIBUTES, conflictKey, KEYS } from './budgets/items';
import { ACCOUNT_SHARDS, accountShardPrincipal } from './budgets/keys';
import type { BedrockCall } from './events/parse';
import { groupPrincipal, profileMemberOf } from './groups/groups';
import { toDecimalString, type Usd, ZERO } from './money';
import { type PeriodKind, periodKey, TOTAL_PERIOD } from './period';
import { bucketExpiry, bucketKey } from './rate/buckets';
import {
  recordKey,
  recordOf,
  resolve,
  type StandingRecord,
  standingOf,
  USAGE_GROUPS_ATTRIBUTE,
  type UsageRecord,
} from './usage/records';

/** A call from an invocation log, priced: this is what moves spend. */
export interface Charge {
  readonly call: BedrockCall;
  readonly model: string;
  readonly costUsd: Usd;
  readonly unknownModel: boolean;
  readonly catalogVersion: string;
  /** The application inference profile's ARN, when the call went through one and it was resolved to its model. */
  readonly inferenceProfile?: string;
  /** The profile's tags, as ingest read them with it: a group by tag counts the calls through a tagged profile. */
  readonly inferenceProfileTags?: Readonly<Record<string, string>>;
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
  /**
   * Request ids for which a record arrived that disagrees with the one counted (another cost or principal): the
   * dearer stands, and a conflict marker is written for the evaluator to alert and audit (see usage/records).
   */
  readonly conflicting: string[];
  /** CloudTrail sightings newly recorded (calls whose tokens are not known yet). */
  readonly sighted: number;
  /** Charges CloudTrail confirmed in this call: a sighting of the same request by the same principal. */
  readonly confirmed: number;
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
  conflicting: string[];
  sighted: number;
  confirmed: number;
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

/**
 * One write to a Usage row, with the row's state it expects (its condition): a charge of a row not there yet
 * (`absent`) or only sighted by CloudTrail (`sighted`, naming whom the sighting named), a sighting of a row not there
 * yet, the confirmation of a charged row by its sighting, or a second record of a charged row (`standing` as read
 * when an earlier write's condition failed). A failed condition returns the row, and the item is judged again
 * against it.
 */
type Item =
  | {
      readonly kind: 'charge';
      readonly charge: Charge;
      readonly expect: 'absent' | 'sighted';
      /** For a sighted row: the principal its CloudTrail sighting named. */
      readonly sightedBy?: string;
    }
  | { readonly kind: 'sighting'; readonly call: BedrockCall }
  | { readonly kind: 'confirmation'; readonly call: BedrockCall; readonly standing: StandingRecord }
  | {
      readonly kind: 'second-record';
      readonly charge: Charge;
      readonly standing: StandingRecord;
      readonly outcome: 'replaced' | 'kept';
      readonly conflict: boolean;
    };

interface Counter {
  readonly principal: string;
  readonly period: string;
  readonly principalArn?: string;
  readonly principalKind?: string;
  /** What this transaction adds; negative where a record that stood is credited back. */
  spend: Usd;
  /** Of the spend, what CloudTrail confirmed (a sighting of the same request by the same principal). */
  confirmed: Usd;
  requests: number;
  /** Spend per resolved model, so an alert can name the models that cost the most. */
  readonly models: Map<string, Usd>;
  /** A principal's counter: the groups its spend here was counted in. */
  readonly groups: Set<string>;
  /** A TOTAL counter: spend per UTC day of the calls, so a prepaid grant counts from its start (sinceGrantStart). */
  readonly days: Map<string, Usd>;
}

/** The groups each principal of a batch is in, by principal id (shared/groups): their counters move with its own. */
export type Memberships = ReadonlyMap<string, readonly string[]>;

/** Who is in which group (shared/groups/membership.ts): the principals it names no group for are in none. */
export interface MembershipSource {
  /**
   * @param principals principal ids, and `profile/<id>` for the application inference profiles calls went through
   * @param profileTags the tags of those profiles, by their `profile/<id>`, as ingest read them
   */
  membershipsOf(
    principals: Iterable<string>,
    profileTags?: ReadonlyMap<string, Readonly<Record<string, string>>>,
  ): Promise<Memberships>;
}

/** Memberships as a batch learns them: a credit can move a principal the batch's charges did not name. */
class BatchMemberships {
  readonly groups = new Map<string, readonly string[]>();
  private readonly asked = new Set<string>();

  constructor(private readonly source: MembershipSource | undefined) {}

  async learn(
    principals: Iterable<string>,
    profileTags?: ReadonlyMap<string, Readonly<Record<string, string>>>,
  ): Promise<void> {
    const unknown = [...new Set(principals)].filter((principal) => !this.asked.has(principal));
    if (!this.source || unknown.length === 0) return;
    for (const [principal, groups] of await this.source.membershipsOf(unknown, profileTags)) {
      this.groups.set(principal, groups);
    }
    for (const principal of unknown) this.asked.add(principal);
  }
}
const NO_GROUPS: readonly string[] = [];

/** What one record does to its principal's counters (and the account's): signed, as a credit is negative. */
interface Movement {
  readonly principal: string;
  /** Given where the record is counted: the counter keeps the identity of whom it counts. */
  readonly principalArn?: string;
  readonly principalKind?: string;
  /** The call's time: it decides the periods. */
  readonly time: string;
  readonly model: string;
  readonly spendUsd: Usd;
  readonly confirmedUsd: Usd;
  readonly requests: number;
  /** The application inference profile the call went through (its ARN): groups may count its calls. */
  readonly profile?: string;
  /**
   * The groups a record that stood was counted in (its Usage row says): a credit or a confirmation of it moves
   * exactly those, whoever is in which group now. Absent: looked up (a record charged before rows kept them).
   */
  readonly countedIn?: readonly string[];
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
  /**
   * What a charge's first write expects of its row, learned from the last transaction that charged rows (see
   * firstCharge): a failed condition cancels the whole transaction, so guessing the common state saves a request.
   */
  private rowsFound: RowsFound = 'absent';
  private readonly accountShards: number;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly options: LedgerOptions,
    /** The groups principals are in: each group's counter is added to in the same transaction as its members'. */
    private readonly memberships?: MembershipSource,
  ) {
    this.now = options.now ?? (() => new Date());
    this.random = options.random ?? Math.random;
    this.accountShards = Math.min(options.accountShards ?? ACCOUNT_SHARDS, ACCOUNT_SHARDS);
    this.accountShard = options.accountShard ?? Math.floor(this.random() * this.accountShards);
  }

  async record(charges: readonly Charge[], sightings: readonly BedrockCall[]): Promise<LedgerResult> {
    const { rounds, duplicates } = plan(charges, sightings, this.rowsFound);
    const result: Progress = {
      charged: [],
      duplicates,
      conflicting: [],
      sighted: 0,
      confirmed: 0,
      requests: 0,
      conflicts: { account: 0, counters: 0, rows: 0 },
    };
    // Records of one request that differ go in successive rounds: each is judged against the row the last left.
    // A group's spend is its members' exactly: the groups of whom each write moves are known before it is built.
    const memberships = new BatchMemberships(this.memberships);
    await memberships.learn(
      charges.flatMap((charge) =>
        charge.inferenceProfile
          ? [charge.call.principal.id, profileMemberOf(charge.inferenceProfile)]
          : [charge.call.principal.id],
      ),
      new Map(
        charges.flatMap((charge) =>
          charge.inferenceProfile && charge.inferenceProfileTags
            ? [[profileMemberOf(charge.inferenceProfile), charge.inferenceProfileTags] as const]
            : [],
        ),
      ),
    );
    for (const items of rounds) {
      for (const chunk of this.pack(items, memberships.groups)) await this.commit(chunk, result, memberships);
    }
    return result;
  }

  private periodOf(call: Pick<BedrockCall, 'time'>): string {
    return periodKey(this.options.periodKind, new Date(call.time));
  }

  /** The counter periods a call adds to: the deployment's, then any extra kinds'. */
  private periodsOf(call: Pick<BedrockCall, 'time'>): string[] {
    const at = new Date(call.time);
    return [this.options.periodKind, ...(this.options.extraPeriodKinds ?? [])].map((kind) => periodKey(kind, at));
  }

  /** Greedy packing: charges sorted by principal so consecutive rows share counter updates. */
  private pack(items: Item[], memberships: Memberships): Item[][] {
    const sorted = [...items].sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
    const chunks: Item[][] = [];
    let chunk: Item[] = [];
    let counters = new Set<string>();
    for (const item of sorted) {
      const keys = this.counterKeysOf(item, memberships);
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

  private counterKeysOf(item: Item, memberships: Memberships): string[] {
    const keys = movementsOf(item).flatMap((movement) => [
      ...this.periodsOf(movement).flatMap((period) => [
        `${movement.principal}\u0000${period}`,
        `account\u0000${period}`,
        ...groupsOfMovement(movement, memberships).map((group) => `${groupPrincipal(group)}\u0000${period}`),
      ]),
      ...(movesSpend(movement) ? [`${movement.principal}\u0000${bucketKey(new Date(movement.time))}`] : []),
    ]);
    if ('charge' in item && item.charge.unknownModel && movementsOf(item).length > 0) {
      keys.push(unknownModelKey(item.charge.model).principal);
    }
    if (item.kind === 'second-record' && markerOutcome(item)) keys.push(`conflict\u0000${item.charge.call.requestId}`);
    return keys;
  }

  private async commit(chunk: Item[], result: Progress, memberships: BatchMemberships) {
    let pending = chunk;
    for (let attempt = 0; pending.length > 0; attempt++) {
      // A rejudged item may credit a principal no charge of the batch named (the record it replaces).
      await memberships.learn(pending.flatMap(movementsOf).flatMap(membershipKeysOf));
      const actions = this.actionsFor(pending, memberships.groups);
      try {
        result.requests++;
        await this.client.send(new TransactWriteCommand({ TransactItems: actions }));
        for (const item of pending) {
          if (item.kind === 'sighting') result.sighted++;
          else if (item.kind === 'charge' || (item.kind === 'second-record' && item.outcome === 'replaced')) {
            result.charged.push(item.charge);
          }
          if (item.kind === 'second-record' && item.conflict) result.conflicting.push(item.charge.call.requestId);
          if (movementsOf(item).some((movement) => movement.confirmedUsd.gt(0))) result.confirmed++;
        }
        this.learn(pending);
        return;
      } catch (error) {
        if (!(error instanceof TransactionCanceledException) || attempt >= MAX_CONFLICT_RETRIES) throw error;
        const reasons = error.CancellationReasons ?? [];
        // Actions are rows first (one per pending item, same order), then counters.
        const failedRows = new Map<number, Record<string, unknown> | undefined>();
        let conflict = false;
        let accountBusy = false;
        reasons.forEach((reason, index) => {
          if (reason.Code === 'ConditionalCheckFailed' && index < pending.length) {
            failedRows.set(index, reason.Item && unmarshall(reason.Item as Record<string, AttributeValue>, WRAPPED));
          } else if (reason.Code && RETRYABLE.has(reason.Code)) {
            conflict = true;
            const kind = this.kindOfAction(actions[index], index < pending.length);
            if (reason.Code === 'TransactionConflict') result.conflicts[kind]++;
            // Another environment is on this shard now (or it is throttled): the retry goes to another.
            if (kind === 'account') accountBusy = true;
          } else if (reason.Code && reason.Code !== 'None') throw error;
        });
        if (failedRows.size === 0 && !conflict) throw error;
        if (accountBusy) this.moveAccountShard();
        pending = pending.flatMap((item, index) => {
          if (!failedRows.has(index)) return [item];
          const judged = rejudged(item, failedRows.get(index));
          if (!judged && (item.kind === 'charge' || item.kind === 'second-record')) {
            result.duplicates.push(item.charge.call.requestId);
          }
          return judged ? [judged] : [];
        });
        if (conflict) await sleep(Math.min(1000, 20 * 2 ** attempt) * (0.5 + Math.random()));
      }
    }
  }

  /**
   * What the rows of a committed transaction's invocation-log charges were: only sighted by CloudTrail for the same
   * principal, or not there. The next batch's charges expect what most of these found.
   */
  private learn(committed: readonly Item[]): void {
    let sighted = 0;
    let absent = 0;
    for (const item of committed) {
      if (item.kind !== 'charge' || item.charge.call.source === 'coverage-sweep') continue;
      if (item.expect === 'absent') absent++;
      else if (item.sightedBy === item.charge.call.principal.id) sighted++;
    }
    if (sighted !== absent) this.rowsFound = sighted > absent ? 'sighted' : 'absent';
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

  private actionsFor(items: Item[], memberships: Memberships) {
    const now = this.now();
    const nowIso = now.toISOString();
    const ttl = Math.floor(now.getTime() / 1000) + this.options.usageTtlDays * 86_400;
    const rows = items.map((item) => {
      if (item.kind === 'charge') return this.chargeRow(item, nowIso, ttl, memberships);
      if (item.kind === 'sighting') return this.sightingRow(item.call, nowIso, ttl);
      if (item.kind === 'confirmation') return this.confirmationRow(item, nowIso);
      return this.secondRecordRow(item, nowIso, ttl, memberships);
    });
    return [...rows, ...this.counterUpdates(items, nowIso, memberships), ...this.conflictMarkers(items, nowIso)];
  }

  /** What a row says of the charge that stands on it. */
  private chargeFields(charge: Charge, nowIso: string, ttl: number, memberships: Memberships) {
    const { call } = charge;
    return {
      set: `principal = :principal, principalArn = :arn, model = :model, modelId = :modelId, #op = :op, #region = :region, callTime = :time, tokens = :tokens, costUsd = :cost, unknownModel = :unknown, catalogVersion = :catalog, chargedAt = :now, chargedBy = :source, period = :period, #ttl = :ttl${
        charge.inferenceProfile ? ', inferenceProfile = :profile' : ''
      }, #countedIn = :countedIn`,
      names: { '#op': 'operation', '#region': 'region', '#ttl': 'ttl', '#countedIn': USAGE_GROUPS_ATTRIBUTE },
      values: {
        ':principal': call.principal.id,
        ':arn': call.principal.arn,
        ':model': charge.model,
        ':modelId': call.modelId,
        ':op': call.operation,
        ':region': call.region,
        ':time': call.time,
        ':tokens': call.tokens ?? { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
        ':cost': NumberValue.from(toDecimalString(charge.costUsd)),
        ':unknown': charge.unknownModel,
        ':catalog': charge.catalogVersion,
        ':now': nowIso,
        ':source': call.source,
        ':period': this.periodOf(call),
        ':ttl': ttl,
        ...(charge.inferenceProfile ? { ':profile': charge.inferenceProfile } : {}),
        // The groups this charge counts in: what a later credit or confirmation of it moves.
        ':countedIn': [...groupsOfMovement(movementOf(recordOf(charge)), memberships)],
      },
    };
  }

  /**
   * A charge of a row not there yet, or of a row only sighted: then the sighting's fields stay, the cost is added,
   * the unmetered marker cleared, and `sightedBy` keeps whom CloudTrail named (the charge may name another).
   */
  private chargeRow(item: Extract<Item, { kind: 'charge' }>, nowIso: string, ttl: number, memberships: Memberships) {
    const fields = this.chargeFields(item.charge, nowIso, ttl, memberships);
    const sighted = item.expect === 'sighted' ? ', sightedBy = :by' : '';
    return {
      Update: {
        TableName: this.options.usageTable,
        Key: { requestId: item.charge.call.requestId },
        UpdateExpression: `SET ${fields.set}${sighted} REMOVE unmeteredSince, unmeteredShard`,
        // The row as expected: a sighted row still names the principal its sighting did.
        ConditionExpression:
          item.expect === 'absent'
            ? 'attribute_not_exists(requestId)'
            : 'attribute_exists(requestId) AND attribute_not_exists(costUsd) AND #sighter = :by',
        ExpressionAttributeNames: {
          ...fields.names,
          ...(item.expect === 'sighted' ? { '#sighter': 'principal' } : {}),
        },
        ExpressionAttributeValues: {
          ...fields.values,
          ...(item.expect === 'sighted' ? { ':by': item.sightedBy } : {}),
        },
        // The row comes back: the charge is judged again against what is there (a sighting, or another record).
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
      },
    };
  }

  /** A sighting of a request already charged: CloudTrail confirms the charge, if it names the same principal. */
  private confirmationRow(item: Extract<Item, { kind: 'confirmation' }>, nowIso: string) {
    const standing = item.standing.record;
    return {
      Update: {
        TableName: this.options.usageTable,
        Key: { requestId: item.call.requestId },
        UpdateExpression: 'SET sightedAt = :now, sightedBy = :by',
        ConditionExpression:
          'attribute_not_exists(sightedAt) AND principal = :standingPrincipal AND costUsd = :standingCost',
        ExpressionAttributeValues: {
          ':now': nowIso,
          ':by': item.call.principal.id,
          ':standingPrincipal': standing.principal,
          ':standingCost': NumberValue.from(toDecimalString(standing.costUsd)),
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
      },
    };
  }

  /**
   * A second record of a charged request: the row keeps both records (`conflictingRecords`, and the keys of all it
   * has seen), and a dearer one takes the standing record's place. The condition is the row as it was judged: if
   * another record got there first, the item is judged again against that.
   */
  private secondRecordRow(
    item: Extract<Item, { kind: 'second-record' }>,
    nowIso: string,
    ttl: number,
    memberships: Memberships,
  ) {
    const standing = item.standing.record;
    const replaced = item.outcome === 'replaced' ? this.chargeFields(item.charge, nowIso, ttl, memberships) : undefined;
    return {
      Update: {
        TableName: this.options.usageTable,
        Key: { requestId: item.charge.call.requestId },
        UpdateExpression: `SET conflictingRecords = list_append(if_not_exists(conflictingRecords, :standing), :arriving), lastConflictAt = :seenAt${
          replaced ? `, ${replaced.set}` : ''
        } ADD recordKeys :keys`,
        ConditionExpression:
          '#standingPrincipal = :standingPrincipal AND costUsd = :standingCost AND NOT contains(recordKeys, :key)',
        ExpressionAttributeNames: { '#standingPrincipal': 'principal', ...replaced?.names },
        ExpressionAttributeValues: {
          ':standing': [storedRecord(standing)],
          ':arriving': [storedRecord(recordOf(item.charge))],
          ':seenAt': nowIso,
          ':keys': new Set([recordKey(standing), recordKey(recordOf(item.charge))]),
          ':key': recordKey(recordOf(item.charge)),
          ':standingPrincipal': standing.principal,
          ':standingCost': NumberValue.from(toDecimalString(standing.costUsd)),
          ...replaced?.values,
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
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
          sightedBy: call.principal.id,
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
        // A charged row comes back: the sighting confirms its charge.
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
      },
    };
  }

  private counterUpdates(items: Item[], nowIso: string, memberships: Memberships) {
    const counters = new Map<string, Counter>();
    const unknownModels = new Map<string, number>();
    const buckets = new Map<string, { principal: string; at: Date; spend: Usd; requests: number }>();
    const bump = (
      key: Omit<Counter, 'spend' | 'confirmed' | 'requests' | 'models' | 'groups' | 'days'>,
      movement: Movement,
      groups: readonly string[] = NO_GROUPS,
    ) => {
      const id = `${key.principal}\u0000${key.period}`;
      const counter = counters.get(id) ?? {
        ...key,
        spend: ZERO,
        confirmed: ZERO,
        requests: 0,
        models: new Map(),
        groups: new Set(),
        days: new Map(),
      };
      for (const group of groups) counter.groups.add(group);
      if (key.period === TOTAL_PERIOD) {
        const day = new Date(movement.time).toISOString().slice(0, 10);
        counter.days.set(day, (counter.days.get(day) ?? ZERO).plus(movement.spendUsd));
      }
      counter.spend = counter.spend.plus(movement.spendUsd);
      counter.confirmed = counter.confirmed.plus(movement.confirmedUsd);
      counter.requests += movement.requests;
      counter.models.set(movement.model, (counter.models.get(movement.model) ?? ZERO).plus(movement.spendUsd));
      counters.set(id, counter);
    };
    for (const item of items) {
      const movements = movementsOf(item);
      for (const movement of movements) {
        const identity = movement.principalArn
          ? { principalArn: movement.principalArn, principalKind: movement.principalKind }
          : {};
        const groups = groupsOfMovement(movement, memberships);
        for (const period of this.periodsOf(movement)) {
          bump({ principal: movement.principal, period, ...identity }, movement, groups);
          bump({ principal: accountShardPrincipal(this.accountShard), period }, movement);
          for (const group of groups) bump({ principal: groupPrincipal(group), period }, movement);
        }
        // The principal's 5-minute rate bucket (shared/rate/buckets.ts), exactly once with the charge.
        if (movesSpend(movement)) {
          const at = new Date(movement.time);
          const id = `${movement.principal}\u0000${bucketKey(at)}`;
          const bucket = buckets.get(id) ?? { principal: movement.principal, at, spend: ZERO, requests: 0 };
          bucket.spend = bucket.spend.plus(movement.spendUsd);
          bucket.requests += movement.requests;
          buckets.set(id, bucket);
        }
      }
      if ('charge' in item && item.charge.unknownModel && movements.some((m) => m.requests > 0)) {
        unknownModels.set(item.charge.model, (unknownModels.get(item.charge.model) ?? 0) + 1);
      }
    }
    const updates = [...counters.values()].map((counter) => {
      // A model whose spend nets to nothing here (charged and credited alike) is left as it is.
      const models = [...counter.models].filter(([, spend]) => !spend.eq(0));
      const days = [...counter.days].filter(([, spend]) => !spend.eq(0));
      const modelAdds = [...models.map((_, i) => `, #m${i} :m${i}`), ...days.map((_, i) => `, #d${i} :d${i}`)].join('');
      const identity = counter.principalArn ? ', principalArn = :arn, principalKind = :kind' : '';
      // A confirmation alone moves only the confirmed spend.
      const spends = [
        ...(counter.spend.eq(0) && counter.requests === 0 ? [] : ['spendUsd :spend', 'requests :n']),
        ...(counter.confirmed.eq(0) ? [] : ['confirmedSpendUsd :confirmed']),
        ...(counter.groups.size === 0 ? [] : ['#groups :groups']),
      ];
      return {
        Update: {
          TableName: this.options.budgetsTable,
          Key: { principal: counter.principal, period: counter.period },
          UpdateExpression: `ADD ${spends.join(', ')}${modelAdds} SET updatedAt = :now${identity}`,
          ...namesOf({
            ...Object.fromEntries(models.map(([model], i) => [`#m${i}`, `${MODEL_SPEND_PREFIX}${model}`])),
            ...Object.fromEntries(days.map(([day], i) => [`#d${i}`, `${ATTRIBUTE_PREFIXES.daySpend}${day}`])),
            ...(counter.groups.size === 0 ? {} : { '#groups': ATTRIBUTES.groups }),
          }),
          ExpressionAttributeValues: {
            ...(spends.includes('spendUsd :spend')
              ? { ':spend': NumberValue.from(toDecimalString(counter.spend)), ':n': counter.requests }
              : {}),
            ...(counter.confirmed.eq(0) ? {} : { ':confirmed': NumberValue.from(toDecimalString(counter.confirmed)) }),
            ':now': nowIso,
            ...(counter.groups.size === 0 ? {} : { ':groups': counter.groups }),
            ...(counter.principalArn ? { ':arn': counter.principalArn, ':kind': counter.principalKind } : {}),
            ...Object.fromEntries(models.map(([, spend], i) => [`:m${i}`, NumberValue.from(toDecimalString(spend))])),
            ...Object.fromEntries(days.map(([, spend], i) => [`:d${i}`, NumberValue.from(toDecimalString(spend))])),
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
    const rates = [...buckets.values()]
      .filter((bucket) => !bucket.spend.eq(0) || bucket.requests !== 0)
      .map((bucket) => ({
        Update: {
          TableName: this.options.budgetsTable,
          Key: { principal: bucket.principal, period: bucketKey(bucket.at) },
          UpdateExpression: 'ADD spendUsd :spend, requests :n SET updatedAt = :now, #ttl = :ttl',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':spend': NumberValue.from(toDecimalString(bucket.spend)),
            ':n': bucket.requests,
            ':now': nowIso,
            ':ttl': bucketExpiry(bucket.at),
          },
        },
      }));
    return [...updates, ...rates, ...markers];
  }

  /**
   * One marker item per conflict or corrected estimate, in the same transaction as the row and the counters it
   * moves: its INSERT is the stream record the evaluator turns into the `usage.conflict` alert and audit entry, or
   * the `usage.estimate-replaced` audit entry, once (its claim and outbox complete whatever a crash leaves).
   */
  private conflictMarkers(items: Item[], nowIso: string) {
    return items.flatMap((item) => {
      const outcome = markerOutcome(item);
      if (item.kind !== 'second-record' || !outcome) return [];
      const arriving = recordOf(item.charge);
      const standing = item.standing.record;
      const stands = item.outcome === 'replaced' ? arriving : standing;
      return [
        {
          Put: {
            TableName: this.options.budgetsTable,
            Item: {
              ...conflictKey(item.charge.call.requestId, recordKey(arriving)),
              requestId: item.charge.call.requestId,
              outcome,
              // The first record of the request, then the one that disagreed with it.
              records: [storedRecord(standing), storedRecord(arriving)],
              stands: stands.principal,
              addedUsd: NumberValue.from(
                toDecimalString(item.outcome === 'replaced' ? arriving.costUsd.minus(standing.costUsd) : ZERO),
              ),
              detectedAt: nowIso,
            },
          },
        },
      ];
    });
  }
}

const WRAPPED = { wrapNumbers: true } as const;

/**
 * `ExpressionAttributeNames` when there are any: DynamoDB refuses an empty map (a confirmation's counter update
 * moves no model's spend and may name none), where moto lets it pass.
 */
const namesOf = (names: Record<string, string>) =>
  Object.keys(names).length === 0 ? {} : { ExpressionAttributeNames: names };

/**
 * What a second record leaves a marker for: a conflict (`replaced` or `kept`), or the sweep's estimate corrected by
 * the call's invocation log record (`corrected`); nothing for anything else.
 */
function markerOutcome(item: Item): 'replaced' | 'kept' | 'corrected' | undefined {
  if (item.kind !== 'second-record') return undefined;
  if (item.conflict) return item.outcome;
  return item.outcome === 'replaced' && item.standing.record.source === 'coverage-sweep' ? 'corrected' : undefined;
}

/** A record as a Usage row or a conflict marker keeps it: money exact, as a DynamoDB number. */
function storedRecord(record: UsageRecord): Record<string, unknown> {
  return { ...record, costUsd: NumberValue.from(toDecimalString(record.costUsd)) };
}

/**
 * What an item does to counters. A charge adds its record (confirmed when CloudTrail named the same principal); a
 * confirmation adds the standing charge to the confirmed spend of its principal, if the sighting names it; a dearer
 * second record adds itself and credits the record it replaces, each confirmed as the row's sighting says.
 */
function movementsOf(item: Item): Movement[] {
  if (item.kind === 'sighting') return [];
  if (item.kind === 'confirmation') {
    const standing = item.standing.record;
    if (item.call.principal.id !== standing.principal) return [];
    return [
      {
        ...movementOf(standing),
        spendUsd: ZERO,
        confirmedUsd: standing.costUsd,
        requests: 0,
        ...countedIn(item.standing),
      },
    ];
  }
  const { call } = item.charge;
  const counted = (sightedBy: string | undefined): Movement => ({
    ...movementOf(recordOf(item.charge)),
    principalArn: call.principal.arn,
    principalKind: call.principal.kind,
    confirmedUsd: sightedBy === call.principal.id ? item.charge.costUsd : ZERO,
  });
  if (item.kind === 'charge') return [counted(item.sightedBy)];
  if (item.outcome === 'kept') return [];
  const { record: standing, sightedBy } = item.standing;
  const credited = movementOf(standing);
  return [
    counted(sightedBy),
    {
      ...credited,
      spendUsd: standing.costUsd.neg(),
      confirmedUsd: sightedBy === standing.principal ? standing.costUsd.neg() : ZERO,
      requests: -1,
      ...countedIn(item.standing),
    },
  ];
}

const countedIn = (standing: StandingRecord) => (standing.groups ? { countedIn: standing.groups } : {});

/** A movement of spend or requests (a confirmation alone moves neither): it adds to a rate bucket. */
const movesSpend = (movement: Movement) => !movement.spendUsd.eq(0) || movement.requests !== 0;

/** A record counted once, unconfirmed. */
const movementOf = (record: UsageRecord): Movement => ({
  principal: record.principal,
  time: record.time,
  model: record.model,
  spendUsd: record.costUsd,
  confirmedUsd: ZERO,
  requests: 1,
  ...(record.inferenceProfile ? { profile: record.inferenceProfile } : {}),
});

/** Who a movement's groups are looked up by: its principal, and the profile its call went through. */
const membershipKeysOf = (movement: Movement): string[] =>
  movement.profile ? [movement.principal, profileMemberOf(movement.profile)] : [movement.principal];

/** The groups a movement counts in: its principal's and its profile's, each once, sorted. */
function groupsOfMovement(movement: Movement, memberships: Memberships): readonly string[] {
  if (movement.countedIn) return movement.countedIn;
  const [principal, profile] = membershipKeysOf(movement).map((key) => memberships.get(key) ?? NO_GROUPS);
  if (!profile || profile.length === 0) return principal ?? NO_GROUPS;
  return [...new Set([...(principal ?? []), ...profile])].sort();
}

/**
 * An item whose row condition failed, judged again against the row as it is (`row`, from the failure; absent when
 * DynamoDB did not return it): the next write to try, or undefined when there is nothing (more) to write.
 */
function rejudged(item: Item, row: Record<string, unknown> | undefined): Item | undefined {
  const standing = row && standingOf(row);
  if (item.kind === 'sighting' || item.kind === 'confirmation') {
    // A sighting confirms a charge not sighted before; of a row sighted already it is nothing new.
    return standing && row.sightedAt === undefined ? { kind: 'confirmation', call: item.call, standing } : undefined;
  }
  if (!row) {
    // A sighted row that is gone (its TTL) leaves a charge of a row not there.
    return item.kind === 'charge' && item.expect === 'sighted'
      ? { kind: 'charge', charge: item.charge, expect: 'absent' }
      : undefined;
  }
  if (!standing) {
    // Sighted, not charged: charged now, confirmed if the sighting named the same principal.
    const sightedBy = typeof row.sightedBy === 'string' ? row.sightedBy : String(row.principal);
    return { kind: 'charge', charge: item.charge, expect: 'sighted', sightedBy };
  }
  const resolution = resolve(standing, recordOf(item.charge));
  if (resolution.kind === 'duplicate') return undefined;
  return {
    kind: 'second-record',
    charge: item.charge,
    standing,
    outcome: resolution.kind,
    conflict: resolution.conflict,
  };
}

const sortKey = (item: Item) =>
  'charge' in item ? `0${item.charge.call.principal.id}\u0000${item.charge.call.time}` : `1${item.call.requestId}`;

/**
 * The writes of a batch in rounds, one item per request id in each (DynamoDB refuses two actions on one item in a
 * transaction): the same record twice is a duplicate; a record of the same request that differs goes in the next
 * round, judged against what the first left on the row; a sighting of a request charged in the batch goes after
 * its charges, and confirms the one that stands.
 */
function plan(charges: readonly Charge[], sightings: readonly BedrockCall[], rowsFound: RowsFound) {
  const byId = new Map<string, Charge[]>();
  const duplicates: string[] = [];
  for (const charge of charges) {
    const { requestId } = charge.call;
    const same = byId.get(requestId) ?? [];
    const key = recordKey(recordOf(charge));
    if (same.some((earlier) => recordKey(recordOf(earlier)) === key)) duplicates.push(requestId);
    else byId.set(requestId, [...same, charge]);
  }
  const rounds: Item[][] = [];
  const add = (round: number, item: Item) => {
    const items = rounds[round] ?? [];
    items.push(item);
    rounds[round] = items;
  };
  const sightedHere = new Set(sightings.map((call) => call.requestId));
  for (const same of byId.values()) {
    same.forEach((charge, round) => {
      add(round, firstCharge(charge, sightedHere.has(charge.call.requestId) ? 'absent' : rowsFound));
    });
  }
  const sighted = new Set<string>();
  for (const call of sightings) {
    if (sighted.has(call.requestId)) continue;
    sighted.add(call.requestId);
    // After the request's charges in this batch: it confirms the one that stands by then.
    add(byId.get(call.requestId)?.length ?? 0, { kind: 'sighting', call });
  }
  return { rounds: rounds.filter((round) => round.length > 0), duplicates };
}

/** What the charges of the last transaction that charged rows found: most rows not there, or sighted. */
type RowsFound = 'absent' | 'sighted';

/**
 * A charge's first write: the coverage sweep charges only sighted rows (by the principal the row names); an
 * invocation log's record expects what the ledger's last charges found (`rowsFound`): no row yet, or a row
 * CloudTrail sighted for the same principal (the common case once CloudTrail's events come before the logs; each
 * failed first attempt cancelled a whole transaction of them). A charge whose sighting is in the same batch expects
 * no row (the sighting is written after it). A wrong guess is only a condition that fails: the row comes back and the
 * charge is judged again against it, as any other.
 */
function firstCharge(charge: Charge, rowsFound: RowsFound): Item {
  return charge.call.source === 'coverage-sweep' || rowsFound === 'sighted'
    ? { kind: 'charge', charge, expect: 'sighted', sightedBy: charge.call.principal.id }
    : { kind: 'charge', charge, expect: 'absent' };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
