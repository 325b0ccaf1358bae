import {
  type DynamoDBDocumentClient,
  GetCommand,
  NumberValue,
  PutCommand,
  type PutCommandInput,
  QueryCommand,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';
import {
  ACTIVE_STATE,
  ATTRIBUTE_PREFIXES,
  type BudgetItem,
  BudgetItemError,
  decimalOf,
  KEYS,
  kindOfKey,
  parseBudgetItem,
  sinceGrantStart,
  wholeOf,
} from './budgets/items';
import { accountShardKeys } from './budgets/keys';
import { ACCOUNT_PRINCIPAL } from './identity';
import { percentOf, toDecimalString, type Usd, ZERO } from './money';
import { type PeriodKind, TOTAL_PERIOD } from './period';
import type { RateRule } from './rate/rules';
import { BATCH_GET_KEYS, batchGetItems, scanItems } from './scan';

export { ACTIVE_STATE, decimalOf } from './budgets/items';
/** The principal key under which a deployment-wide default limit set at run time is stored. */
export const DEFAULT_PRINCIPAL = KEYS.defaultPrincipal;
/** Budgets items whose principal starts with this are unknown-model markers, not principals. */
export const MODEL_MARKER_PREFIX = KEYS.modelMarkerPrefix;
const LIMIT_PERIOD = KEYS.limitPeriod;
const MODEL_SPEND_PREFIX = ATTRIBUTE_PREFIXES.modelSpend;
/**
 * The Budgets table's index by period (partition key `period`, keys only): the items of one period without reading
 * every other period's. Only an item's creation writes to it (its keys never change), once per principal and period.
 */
export const PERIOD_INDEX = 'byPeriod';

/**
 * The percent of its limit a principal (or the account) has spent, exact to two places and rounded down; undefined
 * for a limit of zero. Zero is no budget to take a share of: it is a principal that may not spend at all, suspended
 * (the account stopped) at its first charged call, with no threshold alert before, and shown as blocked.
 */
export function usedPercent(spend: Usd, limit: Usd): Usd | undefined {
  return limit.eq(0) ? undefined : percentOf(spend, limit);
}

export interface Limits {
  /** From configuration, used when neither the principal nor DEFAULT has a limit item. */
  readonly configuredDefault: Usd;
  readonly configuredAccount: Usd;
}

/** A limit item (`period = LIMIT`) as stored. */
export interface LimitRecord {
  /** A principal id, DEFAULT or ACCOUNT. */
  readonly principal: string;
  readonly limitUsd: Usd;
  /** The kind of period the limit is for; absent: the deployment's own. */
  readonly periodKind?: PeriodKind;
  /** A prepaid (`total`) limit's first UTC day, YYYY-MM-DD: spend of calls before it does not count. */
  readonly startsAt?: string;
  /** The burn-rate guard's rule set with the limit, if any (shared/rate/rules.ts). */
  readonly rate?: RateRule;
  readonly setBy?: string;
  readonly setAt?: string;
  /** A group's limit item: who is in it (shared/groups). */
  readonly members?: readonly string[];
  readonly tag?: string;
}

/** The limit in force for a principal, the kind of period it is for, and a prepaid limit's first day. */
export interface Budget {
  readonly limitUsd: Usd;
  readonly periodKind?: PeriodKind;
  readonly startsAt?: string;
}

/** A principal's (or the account's) counter item for one period, with what the evaluator recorded on it. */
export interface CounterRecord {
  readonly principal: string;
  readonly period: string;
  readonly spendUsd: Usd;
  /** Of the spend, what CloudTrail confirmed; the rest is only logged (see Ledger). */
  readonly confirmedSpendUsd: Usd;
  readonly requests: number;
  readonly principalArn?: string;
  readonly principalKind?: string;
  /** The highest threshold alerted this period; undefined when none was. */
  readonly alertLevel?: number;
  /** Every threshold alerted this period. */
  readonly alerts: readonly number[];
  /** `active` (stored as no attribute), `suspended` (a principal) or `stopped` (the account). */
  readonly state: string;
  /** Denied by an emergency stop (while the account is stopped). */
  readonly stopDenied: boolean;
  /** The groups its spend was counted in this period (shared/groups). */
  readonly groups: readonly string[];
  /** The groups whose stop denied it this period (their stop may have ended since: see the group's counter). */
  readonly groupStops: readonly string[];
  /** The suspension (principal) or stop (account) in force: since when, why, and the decision that can end it. */
  readonly suspension?: { readonly since: string; readonly reason: string; readonly waitId?: string };
  /** The decisions' generation: a limit change or a lift starts a new one. */
  readonly generation: number;
}

/** The account's spend in a period: its shards added up, exactly. */
export interface AccountTotal {
  /** The ACCOUNT item (the account's decisions), if one was written. */
  readonly item?: Item;
  readonly spendUsd: Usd;
  readonly confirmedSpendUsd: Usd;
  readonly requests: number;
  /** Spend per model (the `modelSpend:` attributes), added up over the shards. */
  readonly modelSpend: ReadonlyMap<string, Usd>;
}

/** Everything needed to report a period, read in one pass. */
export interface PeriodBudgets {
  /** Counters of principals and of ACCOUNT (its shards added up); markers and shards left out. */
  readonly counters: readonly CounterRecord[];
  /** Counters of groups (`GROUP#<name>`): their members' summed spend, and their decisions. */
  readonly groups: readonly CounterRecord[];
  /** Limit items by principal key (including DEFAULT and ACCOUNT). */
  readonly limits: ReadonlyMap<string, LimitRecord>;
}

/** Limit items as read, by principal key (see `BudgetStore.budgetOf`). */
export type LimitItemMemo = Map<string, Promise<LimitRecord | undefined>>;

/** The limit item changed between reading it and replacing it: someone else set it meanwhile. */
export class LimitChangedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LimitChangedError';
  }
}

type Item = Record<string, unknown>;

/** Parses an item that must be of one of `kinds`. */
function itemOf<K extends BudgetItem['kind']>(raw: Item, ...kinds: K[]): Extract<BudgetItem, { kind: K }> {
  const item = parseBudgetItem(raw);
  if (!(kinds as string[]).includes(item.kind)) {
    throw new BudgetItemError(`expected a ${kinds.join(' or ')} item, read a ${item.kind}: ${item.principal}`);
  }
  return item as Extract<BudgetItem, { kind: K }>;
}

function limitRecordOf(raw: Item): LimitRecord {
  const item = itemOf(raw, 'limit', 'default-limit');
  return {
    principal: item.principal,
    limitUsd: decimalOf(item.limitUsd),
    ...(item.periodKind ? { periodKind: item.periodKind } : {}),
    ...(item.startsAt ? { startsAt: item.startsAt } : {}),
    ...(item.maxUsdPerHour === undefined
      ? {}
      : {
          rate: {
            maxUsdPerHour: decimalOf(item.maxUsdPerHour),
            onRate: item.onRate ?? 'alert',
            ...(item.onAnomaly ? { onAnomaly: item.onAnomaly } : {}),
          },
        }),
    ...(item.setBy === undefined ? {} : { setBy: item.setBy }),
    ...(item.setAt === undefined ? {} : { setAt: item.setAt }),
    ...(item.members === undefined ? {} : { members: item.members }),
    ...(item.tag === undefined ? {} : { tag: item.tag }),
  };
}

function counterRecordOf(raw: Item): CounterRecord {
  const item = itemOf(raw, 'counter', 'account', 'group');
  const alertLevel = wholeOf(item.alertLevel);
  const principalArn = item.kind === 'counter' ? item.principalArn : undefined;
  const principalKind = item.kind === 'counter' ? item.principalKind : undefined;
  return {
    principal: item.principal,
    period: item.period,
    spendUsd: decimalOf(item.spendUsd),
    confirmedSpendUsd: decimalOf(item.confirmedSpendUsd),
    requests: wholeOf(item.requests) ?? 0,
    ...(principalArn === undefined ? {} : { principalArn }),
    ...(principalKind === undefined ? {} : { principalKind }),
    ...(alertLevel === undefined ? {} : { alertLevel }),
    alerts: (item.alerts ?? []).map((alert) => wholeOf(alert) as number),
    state: item.state ?? ACTIVE_STATE,
    stopDenied: item.stopDenied !== undefined,
    groups: item.kind === 'counter' && item.groups ? [...item.groups].sort() : [],
    groupStops: Object.keys(item)
      .filter((name) => name.startsWith(ATTRIBUTE_PREFIXES.groupStop))
      .map((name) => name.slice(ATTRIBUTE_PREFIXES.groupStop.length))
      .sort(),
    generation: wholeOf(item.generation) ?? 0,
    ...(item.suspension
      ? {
          suspension: {
            since: item.suspension.since,
            reason: item.suspension.reason,
            ...(item.suspension.waitId ? { waitId: item.suspension.waitId } : {}),
          },
        }
      : {}),
  };
}

/** The condition that a principal's own limit is still `expected` (null: still unset). */
function unchangedCondition(
  expected: Usd | null,
): Pick<PutCommandInput, 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'> {
  if (expected === null) {
    return {
      ConditionExpression: 'attribute_not_exists(#principal)',
      ExpressionAttributeNames: { '#principal': 'principal' },
    };
  }
  return {
    ConditionExpression: '#limit = :expected',
    ExpressionAttributeNames: { '#limit': 'limitUsd' },
    ExpressionAttributeValues: { ':expected': NumberValue.from(toDecimalString(expected)) },
  };
}

export const isModelMarker = (principal: string) => principal.startsWith(KEYS.modelMarkerPrefix);

export class BudgetStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly limits: Limits,
  ) {}

  /**
   * Sets a principal's limit (or DEFAULT's, or ACCOUNT's). Auditing the change is the caller's part.
   * @param expected when given, the limit is written only if the principal's own limit is still this amount
   *   (`null`: still unset), so that what the caller audited as the previous limit is what was replaced;
   *   otherwise LimitChangedError.
   */
  async setLimit(
    principal: string,
    limitUsd: Usd,
    setBy: string,
    now = new Date(),
    expected?: Usd | null,
    periodKind?: PeriodKind,
    rate?: RateRule,
    /** A prepaid (`total`) limit's first UTC day. */
    startsAt?: string,
  ): Promise<void> {
    if (limitUsd.lt(0)) throw new RangeError('a budget limit cannot be negative');
    const condition = expected === undefined ? {} : unchangedCondition(expected);
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            principal,
            period: LIMIT_PERIOD,
            limitUsd: NumberValue.from(toDecimalString(limitUsd)),
            ...(periodKind ? { periodKind } : {}),
            ...(startsAt ? { startsAt } : {}),
            ...(rate
              ? {
                  maxUsdPerHour: NumberValue.from(toDecimalString(rate.maxUsdPerHour)),
                  onRate: rate.onRate,
                  ...(rate.onAnomaly ? { onAnomaly: rate.onAnomaly } : {}),
                }
              : {}),
            setBy,
            setAt: now.toISOString(),
          },
          ...condition,
        }),
      );
    } catch (error) {
      if ((error as { name?: unknown } | undefined)?.name !== 'ConditionalCheckFailedException') throw error;
      throw new LimitChangedError(`the limit of ${principal} was changed by someone else meanwhile`, { cause: error });
    }
  }

  /**
   * The limit in force (the principal's own, else the run-time default, else the configured one) and, when the
   * principal's own limit names one, the kind of period it is for.
   * @param memo limit items read before, shared by the calls given the same memo: a stream batch judging many
   *   principals on the default (all of them, after the default changed) reads the DEFAULT item once, not once each.
   */
  async budgetOf(principal: string, memo?: LimitItemMemo): Promise<Budget> {
    const read = (key: string) => this.ownLimitIn(key, memo);
    const own = await read(principal);
    if (own) {
      return {
        limitUsd: own.limitUsd,
        ...(own.periodKind ? { periodKind: own.periodKind } : {}),
        ...(own.startsAt ? { startsAt: own.startsAt } : {}),
      };
    }
    return {
      limitUsd: await this.resolveLimit(principal, async (key) =>
        key === principal ? undefined : (await read(key))?.limitUsd,
      ),
    };
  }

  /**
   * The rate rule in force for a principal: its own limit item's, else the run-time default's (a principal with a
   * limit of its own but no rule of its own is still held to the default's rate). Undefined: no rule.
   */
  async rateRuleOf(principal: string, memo?: LimitItemMemo): Promise<RateRule | undefined> {
    return (await this.ownLimitIn(principal, memo))?.rate ?? (await this.ownLimitIn(DEFAULT_PRINCIPAL, memo))?.rate;
  }

  /** A principal's own limit item, read once per memo (each caller's batch): what a memo holds is not read again. */
  ownLimitIn(principal: string, memo?: LimitItemMemo): Promise<LimitRecord | undefined> {
    if (!memo) return this.ownLimit(principal);
    let item = memo.get(principal);
    if (!item) {
      item = this.ownLimit(principal);
      memo.set(principal, item);
    }
    return item;
  }

  async limitOf(principal: string): Promise<Usd> {
    return this.resolveLimit(principal, (key) => this.limitItem(key));
  }

  /** The same rule as limitOf, over limit items already read (as periodBudgets returns them). */
  async limitIn(principal: string, limits: ReadonlyMap<string, LimitRecord>): Promise<Usd> {
    return this.resolveLimit(principal, async (key) => limits.get(key)?.limitUsd);
  }

  /** A principal's own limit item (or DEFAULT's, or ACCOUNT's), if one was set. */
  async ownLimit(principal: string): Promise<LimitRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.table, Key: { principal, period: LIMIT_PERIOD }, ConsistentRead: true }),
    );
    return Item ? limitRecordOf(Item) : undefined;
  }

  /** Every limit item, by principal key. Configured defaults are not items: see `Limits`. */
  async listLimits(): Promise<LimitRecord[]> {
    const limits: LimitRecord[] = [];
    for await (const item of this.scan({
      FilterExpression: '#period = :limit',
      ExpressionAttributeNames: { '#period': 'period' },
      ExpressionAttributeValues: { ':limit': LIMIT_PERIOD },
    })) {
      limits.push(limitRecordOf(item));
    }
    return limits.sort((a, b) => compareText(a.principal, b.principal));
  }

  /**
   * The counters of one period (every principal that spent in it, and ACCOUNT) and every limit item, in one
   * consistent scan: a report over many principals costs one pass over the table, not two reads per principal.
   */
  async periodBudgets(period: string): Promise<PeriodBudgets> {
    const counterItems: Item[] = [];
    const groupItems: Item[] = [];
    const limits = new Map<string, LimitRecord>();
    const account = new AccountSum();
    for await (const item of this.scan({
      FilterExpression: '#period IN (:period, :limit)',
      ExpressionAttributeNames: { '#period': 'period' },
      ExpressionAttributeValues: { ':period': period, ':limit': LIMIT_PERIOD },
    })) {
      // Markers and deny records share the table (a coverage marker's period is a day): only these count,
      // each parsed as its kind.
      const kind = kindOfKey(item.principal, item.period);
      if (kind === 'limit' || kind === 'default-limit') limits.set(String(item.principal), limitRecordOf(item));
      else if (kind === 'account' || kind === 'account-shard') account.add(item);
      else if (kind === 'counter') counterItems.push(item);
      else if (kind === 'group') groupItems.push(item);
    }
    // A prepaid grant counts from its start: its TOTAL counter is read as its limit item's start sees it.
    const asGranted = (item: Item) => {
      const startsAt = period === TOTAL_PERIOD ? limits.get(String(item.principal))?.startsAt : undefined;
      return counterRecordOf(startsAt ? sinceGrantStart(item, startsAt) : item);
    };
    const counters = counterItems.map(asGranted);
    const groups = groupItems.map(asGranted);
    if (!account.empty) counters.push(account.counter(period));
    counters.sort((a, b) => compareText(a.principal, b.principal));
    return { counters, groups, limits };
  }

  /**
   * The account's spend in a period and its decisions' item, in one consistent BatchGetItem of the ACCOUNT item
   * and every shard.
   */
  async accountTotal(period: string): Promise<AccountTotal> {
    const sum = new AccountSum();
    for (const item of await this.batchGet([{ principal: ACCOUNT_PRINCIPAL, period }, ...accountShardKeys(period)])) {
      sum.add(item);
    }
    return sum.total();
  }

  /**
   * The principals whose limit is the default (no limit item of their own) that have a counter in `period`, a page
   * at a time: the period's keys come from the period index, and each page's own limits are looked up in one
   * consistent BatchGetItem, so thousands of principals cost a few requests per hundred and nothing is held whole.
   */
  async *principalsOnDefault(period: string): AsyncGenerator<string[]> {
    let ExclusiveStartKey: Item | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: PERIOD_INDEX,
          KeyConditionExpression: '#period = :period',
          ExpressionAttributeNames: { '#period': 'period' },
          ExpressionAttributeValues: { ':period': period },
          ExclusiveStartKey,
        }),
      );
      const spenders = (page.Items ?? [])
        .filter((item) => kindOfKey(item.principal, item.period) === 'counter')
        .map((item) => String(item.principal));
      for (let start = 0; start < spenders.length; start += BATCH_GET_KEYS) {
        const chunk = spenders.slice(start, start + BATCH_GET_KEYS);
        const own = new Set(
          (await this.batchGet(chunk.map((principal) => ({ principal, period: LIMIT_PERIOD })))).map((item) =>
            String(item.principal),
          ),
        );
        const onDefault = chunk.filter((principal) => !own.has(principal));
        if (onDefault.length > 0) yield onDefault;
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  }

  /** Spend so far of a principal (or, its shards added up, the account) in a period. */
  async spendOf(principal: string, period: string): Promise<Usd> {
    if (principal === ACCOUNT_PRINCIPAL) return (await this.accountTotal(period)).spendUsd;
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.table, Key: { principal, period }, ConsistentRead: true }),
    );
    return decimalOf(Item?.spendUsd);
  }

  private async resolveLimit(principal: string, own: (key: string) => Promise<Usd | undefined>): Promise<Usd> {
    const set = await own(principal);
    if (set) return set;
    if (principal === ACCOUNT_PRINCIPAL) return this.limits.configuredAccount;
    return (await own(DEFAULT_PRINCIPAL)) ?? this.limits.configuredDefault;
  }

  private async limitItem(principal: string): Promise<Usd | undefined> {
    return (await this.ownLimit(principal))?.limitUsd;
  }

  private batchGet(keys: Record<string, unknown>[]): Promise<Item[]> {
    return batchGetItems(this.client, this.table, keys);
  }

  private scan(input: Omit<ScanCommandInput, 'TableName'>): AsyncGenerator<Item> {
    return scanItems(this.client, { ...input, TableName: this.table, ConsistentRead: true });
  }
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const _sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Adds up the ACCOUNT item and its shards as they are read; the decisions come from the ACCOUNT item alone. */
class AccountSum {
  private item: Item | undefined;
  private spend = ZERO;
  private confirmed = ZERO;
  private requests = 0;
  private readonly models = new Map<string, Usd>();
  empty = true;

  add(raw: Item): void {
    const item = itemOf(raw, 'account', 'account-shard');
    this.empty = false;
    // Spend the ACCOUNT item itself holds was written before the shards existed: it still counts.
    if (item.kind === 'account') this.item = raw;
    this.spend = this.spend.plus(decimalOf(item.spendUsd));
    this.confirmed = this.confirmed.plus(decimalOf(item.confirmedSpendUsd));
    this.requests += wholeOf(item.requests) ?? 0;
    for (const [name, value] of Object.entries(item)) {
      if (!name.startsWith(MODEL_SPEND_PREFIX)) continue;
      const model = name.slice(MODEL_SPEND_PREFIX.length);
      this.models.set(model, (this.models.get(model) ?? ZERO).plus(decimalOf(value)));
    }
  }

  total(): AccountTotal {
    return {
      ...(this.item ? { item: this.item } : {}),
      spendUsd: this.spend,
      confirmedSpendUsd: this.confirmed,
      requests: this.requests,
      modelSpend: this.models,
    };
  }

  /** The account as a counter record: the ACCOUNT item's decisions with the shards' spend. */
  counter(period: string): CounterRecord {
    return {
      ...counterRecordOf(this.item ?? { principal: ACCOUNT_PRINCIPAL, period }),
      spendUsd: this.spend,
      confirmedSpendUsd: this.confirmed,
      requests: this.requests,
    };
  }
}

/** The models a counter item spent most on this period, highest first. */
export function topModels(item: Readonly<Record<string, unknown>>, count = 3): { model: string; spend: Usd }[] {
  return Object.entries(item)
    .filter(([key]) => key.startsWith(MODEL_SPEND_PREFIX))
    .map(([key, value]) => ({ model: key.slice(MODEL_SPEND_PREFIX.length), spend: decimalOf(value) }))
    .sort((a, b) => b.spend.cmp(a.spend))
    .slice(0, count);
}
