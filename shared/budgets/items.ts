import { NumberValue } from '@aws-sdk/lib-dynamodb';
import Big from 'big.js';
import * as z from 'zod';
import { ACCOUNT_PRINCIPAL } from '../identity';
import { type Usd, usd, ZERO } from '../money';
import { PERIOD_KINDS, periodKindOfKey } from '../period';
import { isAccountShard } from './keys';

/**
 * Every kind of item in the Budgets table, in one place: its key, its attributes and the state names. Items are
 * read with `wrapNumbers` (a DynamoDB number is a NumberValue holding its exact digits); the schemas check them and
 * keep them so, and `decimalOf` is the one way to turn one into money. Readers parse through `parseBudgetItem`;
 * nothing else spells an attribute name.
 */

/** One set of state names: a principal is active or suspended, the account active or stopped. */
export const BUDGET_STATES = ['active', 'suspended', 'stopped'] as const;
export type BudgetState = (typeof BUDGET_STATES)[number];
export const PRINCIPAL_STATES = ['active', 'suspended'] as const satisfies readonly BudgetState[];
export const ACCOUNT_STATES = ['active', 'stopped'] as const satisfies readonly BudgetState[];
/** A counter without a `state` attribute belongs to a principal nobody has acted on this period. */
export const ACTIVE_STATE: BudgetState = 'active';

/** Keys that are not a principal's id or a period's key. */
export const KEYS = {
  /** The period of a limit item. */
  limitPeriod: 'LIMIT',
  /** The principal of the deployment-wide default limit set at run time. */
  defaultPrincipal: 'DEFAULT',
  modelMarkerPrefix: 'MODEL#',
  /** The period of an unknown-model marker. */
  unknownModelPeriod: 'UNKNOWN',
  /** The principal prefix of the sweep's once-a-day unmetered-calls marker (its period is the day). */
  coveragePrefix: 'COVERAGE#',
  /** The principal prefix and period of a deny record (who holds a deny on one IAM entity). */
  denyPrefix: 'DENY#',
  denyPeriod: 'DENY',
  /** The principal prefix of a conflict marker (`CONFLICT#<request id>`); its period is the arriving record's key. */
  conflictPrefix: 'CONFLICT#',
  /** The period prefix of a principal's 5-minute rate bucket (`RATE#2026-12-01T10:35`, see shared/rate/buckets.ts). */
  ratePrefix: 'RATE#',
  /** The principal of the daily digest's claim (its period is the day it reports): no principal's id is this. */
  digestPrincipal: 'DIGEST',
  /** The principal prefix of a group's limit item and counters (`GROUP#data-science`, see shared/groups). */
  groupPrefix: 'GROUP#',
  /**
   * The principal prefix of a day's reconciliation claims (`RECONCILE#2026-11-30`): its period is the principal a
   * drift was found for, or `reconcileCheckedPeriod` for a day without drift.
   */
  reconcilePrefix: 'RECONCILE#',
  reconcileCheckedPeriod: 'CHECKED',
} as const;

/** Attributes a principal's (or the account's) counter carries for enforcement. */
export const ENFORCEMENT_ATTRIBUTES = {
  state: 'state',
  /** The suspension in force (principal) or the stop in force (account): a `Suspension`. */
  suspension: 'suspension',
  /** The decisions' generation: a limit change or a lift starts a new one and re-arms the thresholds. */
  generation: 'generation',
  /** What started the current generation: `limit-changed`, `lift`, `resume`. */
  generationCause: 'generationCause',
  /** The limit the current generation is judged against. */
  generationLimitUsd: 'generationLimitUsd',
  /** Set by `lift`: allowed until the period ends, whatever the spend (a `Lift`). */
  lifted: 'lifted',
  /** The generation in which a lift or a raise asked the suspension (or stop) in force to end. */
  endWaitGeneration: 'endWaitGeneration',
  /** The holder of an emergency stop that denied this principal. */
  stopDenied: 'stopDenied',
  /** On the account's counter: the organization stop's service control policy and where it attached it. */
  organizationStop: 'organizationStop',
} as const;

/** Every fixed attribute name of every kind of item (keys included). */
export const ATTRIBUTES = {
  principal: 'principal',
  period: 'period',
  // limits
  limitUsd: 'limitUsd',
  periodKind: 'periodKind',
  /** A prepaid (`total`) limit's first UTC day. */
  startsAt: 'startsAt',
  /** A limit's rate rule (see shared/rate/rules.ts): the most a rolling hour may cost, and what above it does. */
  maxUsdPerHour: 'maxUsdPerHour',
  onRate: 'onRate',
  onAnomaly: 'onAnomaly',
  setBy: 'setBy',
  setAt: 'setAt',
  // a group's limit item: who is in it and whom its alerts name
  members: 'members',
  tag: 'tag',
  owners: 'owners',
  // counters and account shards
  spendUsd: 'spendUsd',
  /** Of the spend, what CloudTrail confirmed: a sighting of the same request by the same principal. */
  confirmedSpendUsd: 'confirmedSpendUsd',
  requests: 'requests',
  principalArn: 'principalArn',
  principalKind: 'principalKind',
  /** On a principal's counter: the groups its spend was counted in (a string set), so a group's stop finds them. */
  groups: 'groups',
  updatedAt: 'updatedAt',
  // decisions on counters and the account
  alertLevel: 'alertLevel',
  alerts: 'alerts',
  lastAlertAt: 'lastAlertAt',
  exhaustedGeneration: 'exhaustedGeneration',
  /** The generation in which spend past the limit began to wait for CloudTrail's confirmation, and since when. */
  awaitingConfirmationGeneration: 'awaitingConfirmationGeneration',
  awaitingConfirmationSince: 'awaitingConfirmationSince',
  /** The generation whose unconfirmed spend the sweep escalated after the wait. */
  confirmationOverdueGeneration: 'confirmationOverdueGeneration',
  stopRequestedBy: 'stopRequestedBy',
  outboxSince: 'outboxSince',
  /** The run-time default limit a counter on the default was last queued to be judged against (a DEFAULT change). */
  reviewedDefaultUsd: 'reviewedDefaultUsd',
  /** The end of the last rolling hour alerted (or suspended) over the rate: a window after it is a new episode. */
  rateAlertedUntil: 'rateAlertedUntil',
  /** The end of the last hour alerted as an anomaly. */
  anomalyAlertedUntil: 'anomalyAlertedUntil',
  /** The generation whose exhaustion forecast was alerted (once per generation). */
  forecastGeneration: 'forecastGeneration',
  ...ENFORCEMENT_ATTRIBUTES,
  // markers
  firstSeen: 'firstSeen',
  lastSeen: 'lastSeen',
  alertedAt: 'alertedAt',
  calls: 'calls',
  // deny records
  entityKind: 'entityKind',
  entityName: 'entityName',
  /** The member account the entity is in (absent: the deployment's own). */
  entityAccount: 'entityAccount',
  version: 'version',
  // conflict markers
  requestId: 'requestId',
  outcome: 'outcome',
  records: 'records',
  stands: 'stands',
  addedUsd: 'addedUsd',
  detectedAt: 'detectedAt',
  // rate buckets (they expire: the table's TTL attribute)
  ttl: 'ttl',
  // the daily digest's claim
  sentAt: 'sentAt',
  // a reconciliation's claim
  reconciledAt: 'reconciledAt',
} as const;

/** Attributes named with a prefix and a variable part. */
export const ATTRIBUTE_PREFIXES = {
  /** `modelSpend:<model>`: a counter's spend on one model. */
  modelSpend: 'modelSpend:',
  /** `daySpend:<YYYY-MM-DD>`: on a TOTAL counter, the spend of calls made that UTC day (see sinceGrantStart). */
  daySpend: 'daySpend:',
  /** `outbox:<decision id>`: the effects a claimed decision still owes. */
  outbox: 'outbox:',
  /** `hold:<holder>`: one holder of a deny. */
  hold: 'hold:',
  /** `groupStop:<group>`: on a member's counter, the holder of the group's stop that denied it (once per stop). */
  groupStop: 'groupStop:',
} as const;

const FIXED_NAMES: ReadonlySet<string> = new Set(Object.values(ATTRIBUTES));

/** Whether `name` is an attribute some kind of Budgets item has. */
export function isBudgetAttribute(name: string): boolean {
  return FIXED_NAMES.has(name) || Object.values(ATTRIBUTE_PREFIXES).some((prefix) => name.startsWith(prefix));
}

const EXPONENT = /^-?\d+(\.\d+)?[eE][+-]?\d+$/;
/** A stored number may come back in exponent notation (moto writes 0.00000025 as `2.5E-7`): read it exactly. */
const stored = (digits: string): Usd => usd(EXPONENT.test(digits) ? new Big(digits) : digits);

/** A DynamoDB number as read with `wrapNumbers` (NumberValue, or a plain object with its digits), or a string. */
export function decimalOf(value: unknown): Usd {
  if (value === undefined || value === null) return ZERO;
  if (value instanceof NumberValue) return stored(value.value);
  if (typeof value === 'string') return stored(value);
  // Another copy of the SDK's NumberValue class, or one that went through JSON.
  if (typeof value === 'object' && 'value' in value) return stored(String((value as { value: unknown }).value));
  throw new TypeError(`not a DynamoDB decimal: ${JSON.stringify(value)}`);
}

/**
 * A TOTAL counter as a prepaid grant starting on `startsAt` (a UTC day) sees it: the spend of calls made on days
 * before it (its `daySpend:` attributes, written by the ledger by each call's own time, so a late record lands on
 * its day) taken off. Confirmed spend is not kept per day: what was confirmed is counted as confirmed since the
 * start only beyond the spend before it, which may under-count confirmed spend, never over-count it.
 */
export function sinceGrantStart<T extends Record<string, unknown>>(counter: T, startsAt: string): T {
  let before = ZERO;
  for (const [name, value] of Object.entries(counter)) {
    if (name.startsWith(ATTRIBUTE_PREFIXES.daySpend) && name.slice(ATTRIBUTE_PREFIXES.daySpend.length) < startsAt) {
      before = before.plus(decimalOf(value));
    }
  }
  if (before.eq(0)) return counter;
  const confirmed = decimalOf(counter.confirmedSpendUsd).minus(before);
  return {
    ...counter,
    spendUsd: NumberValue.from(decimalOf(counter.spendUsd).minus(before).toFixed()),
    ...(counter.confirmedSpendUsd === undefined
      ? {}
      : { confirmedSpendUsd: NumberValue.from((confirmed.lt(0) ? ZERO : confirmed).toFixed()) }),
  };
}

/** A whole DynamoDB number (a count, a threshold, a generation); undefined when absent. */
export function wholeOf(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const number = typeof value === 'number' ? value : Number(decimalOf(value).toFixed());
  if (!Number.isSafeInteger(number)) throw new TypeError(`not a whole number: ${JSON.stringify(value)}`);
  return number;
}

const succeeds = (read: () => unknown) => {
  try {
    read();
    return true;
  } catch {
    return false;
  }
};

/** Exact decimal, kept as read: turn it into money with `decimalOf`. */
export type StoredDecimal = NumberValue | string | { readonly value: string };
const decimal = z.custom<StoredDecimal>(
  (value) => value !== undefined && value !== null && typeof value !== 'number' && succeeds(() => decimalOf(value)),
  'an exact decimal (a DynamoDB number read with wrapNumbers)',
);
const whole = z.custom<StoredDecimal | number>(
  (value) => value !== undefined && value !== null && succeeds(() => wholeOf(value)),
  'a whole number',
);

export const SuspensionSchema = z.looseObject({
  /** Names the deny's hold: `suspend:<execution name>` or `stop:<execution name>`. */
  holder: z.string(),
  executionArn: z.string(),
  since: z.string(),
  /** `budget`, `emergency-stop`, or the account's stop reason. */
  reason: z.string(),
  generation: whole,
  decisionId: z.string(),
  /** The pending decision that can end it (`budgeteer override <id>`), once the workflow waits. */
  waitId: z.string().optional(),
  /** A group's stop of application inference profiles: the profile ARNs its denies are scoped to. */
  resources: z.array(z.string()).optional(),
});

/**
 * An organization stop's service control policy (shared/enforcement/scp.ts): where this stop attaches it, so that its
 * resume detaches exactly that, and which accounts it covers (their principals need no deny of their own).
 */
export const OrganizationStopSchema = z.looseObject({
  /** The stop's holder (`stop:<execution name>`). */
  holder: z.string(),
  policyId: z.string(),
  /** The configured targets the policy was not attached to when the stop began: this stop's to attach and detach. */
  targets: z.array(z.string()),
  /** Of those, the ones attached. */
  attached: z.array(z.string()).optional(),
  /** The accounts under the targets the policy is attached to, the management account left out. */
  accounts: z.array(z.string()).optional(),
});

export const LiftSchema = z.looseObject({
  by: z.string(),
  at: z.string(),
  reason: z.string(),
  /** The approval that lifted (an override's link), so its repeat changes nothing. */
  approvalId: z.string().optional(),
});

const limitShape = {
  principal: z.string(),
  period: z.literal(KEYS.limitPeriod),
  limitUsd: decimal,
  /** The kind of period the limit is for; absent: the deployment's own. */
  periodKind: z.enum(PERIOD_KINDS).optional(),
  /** A prepaid (`total`) limit's first UTC day (YYYY-MM-DD): spend of calls before it does not count. */
  startsAt: z.iso.date().optional(),
  maxUsdPerHour: decimal.optional(),
  onRate: z.enum(['alert', 'suspend']).optional(),
  onAnomaly: z.enum(['alert', 'suspend']).optional(),
  setBy: z.string().optional(),
  setAt: z.string().optional(),
  /** A group's limit item only (shared/groups/store.ts). */
  members: z.array(z.string()).optional(),
  tag: z.string().optional(),
  owners: z.array(z.string()).optional(),
};

const spendShape = {
  principal: z.string(),
  period: z.string(),
  spendUsd: decimal.optional(),
  confirmedSpendUsd: decimal.optional(),
  requests: whole.optional(),
  updatedAt: z.string().optional(),
};

const decisionShape = {
  alertLevel: whole.optional(),
  alerts: z.array(whole).optional(),
  lastAlertAt: z.string().optional(),
  exhaustedGeneration: whole.optional(),
  awaitingConfirmationGeneration: whole.optional(),
  awaitingConfirmationSince: z.string().optional(),
  confirmationOverdueGeneration: whole.optional(),
  outboxSince: z.string().optional(),
  reviewedDefaultUsd: decimal.optional(),
  rateAlertedUntil: z.string().optional(),
  anomalyAlertedUntil: z.string().optional(),
  forecastGeneration: whole.optional(),
  [ENFORCEMENT_ATTRIBUTES.state]: z.enum(BUDGET_STATES).optional(),
  [ENFORCEMENT_ATTRIBUTES.suspension]: SuspensionSchema.optional(),
  [ENFORCEMENT_ATTRIBUTES.generation]: whole.optional(),
  [ENFORCEMENT_ATTRIBUTES.generationCause]: z.string().optional(),
  [ENFORCEMENT_ATTRIBUTES.generationLimitUsd]: decimal.optional(),
  [ENFORCEMENT_ATTRIBUTES.lifted]: LiftSchema.optional(),
  [ENFORCEMENT_ATTRIBUTES.endWaitGeneration]: whole.optional(),
  [ENFORCEMENT_ATTRIBUTES.stopDenied]: z.string().optional(),
  [ENFORCEMENT_ATTRIBUTES.organizationStop]: OrganizationStopSchema.optional(),
};

const outboxShape = { outboxSince: z.string().optional(), alertedAt: z.string().optional() };

/** Each kind's schema; `kind` is not stored: `parseBudgetItem` derives it from the key. */
export const LimitItemSchema = z.looseObject({ kind: z.literal('limit'), ...limitShape });
export const DefaultLimitItemSchema = z.looseObject({
  kind: z.literal('default-limit'),
  ...limitShape,
  principal: z.literal(KEYS.defaultPrincipal),
});
export const CounterItemSchema = z.looseObject({
  kind: z.literal('counter'),
  ...spendShape,
  principalArn: z.string().optional(),
  principalKind: z.string().optional(),
  groups: z.set(z.string()).optional(),
  ...decisionShape,
});
/** A group's counter: the sum of its members' spend in the period, with its decisions (shared/groups). */
export const GroupCounterItemSchema = z.looseObject({
  kind: z.literal('group'),
  ...spendShape,
  principal: z.string().startsWith(KEYS.groupPrefix),
  ...decisionShape,
});
/** The account's decisions; its spend is in the shards (or, written before them, here too). */
export const AccountItemSchema = z.looseObject({
  kind: z.literal('account'),
  ...spendShape,
  principal: z.literal(ACCOUNT_PRINCIPAL),
  ...decisionShape,
  stopRequestedBy: z.string().optional(),
});
export const AccountShardItemSchema = z.looseObject({ kind: z.literal('account-shard'), ...spendShape });
export const UnknownModelItemSchema = z.looseObject({
  kind: z.literal('unknown-model'),
  principal: z.string().startsWith(KEYS.modelMarkerPrefix),
  period: z.literal(KEYS.unknownModelPeriod),
  firstSeen: z.string().optional(),
  lastSeen: z.string().optional(),
  requests: whole.optional(),
  ...outboxShape,
});
export const CoverageItemSchema = z.looseObject({
  kind: z.literal('coverage'),
  principal: z.string().startsWith(KEYS.coveragePrefix),
  period: z.string(),
  calls: whole.optional(),
  ...outboxShape,
});
export const DenyItemSchema = z.looseObject({
  kind: z.literal('deny'),
  principal: z.string().startsWith(KEYS.denyPrefix),
  period: z.literal(KEYS.denyPeriod),
  entityKind: z.string().optional(),
  entityName: z.string().optional(),
  entityAccount: z
    .string()
    .regex(/^\d{12}$/)
    .optional(),
  version: whole.optional(),
});

/** The daily digest of one day (its period), claimed once with the messages and audit entry it owes. */
export const DigestItemSchema = z.looseObject({
  kind: z.literal('digest'),
  principal: z.literal(KEYS.digestPrincipal),
  period: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  sentAt: z.string().optional(),
  ...outboxShape,
});

/**
 * One decision of a day's reconciliation with the bill: a principal's drift (its period is the principal) or the
 * day found without drift (`CHECKED`), claimed once with the alert and audit entry it owes.
 */
export const ReconcileItemSchema = z.looseObject({
  kind: z.literal('reconcile'),
  principal: z.string().regex(/^RECONCILE#\d{4}-\d{2}-\d{2}$/),
  period: z.string().min(1),
  reconciledAt: z.string().optional(),
  ...outboxShape,
});

/** The key of a day's reconciliation decision about `principal` (undefined: the day found without drift). */
export const reconcileKey = (day: string, principal?: string) => ({
  principal: `${KEYS.reconcilePrefix}${day}`,
  period: principal ?? KEYS.reconcileCheckedPeriod,
});

/** A principal's spend in one 5-minute bucket, added to by ingest with the period counters; it expires (`ttl`). */
export const RateItemSchema = z.looseObject({
  kind: z.literal('rate'),
  principal: z.string(),
  period: z.string().regex(/^RATE#\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/),
  spendUsd: decimal.optional(),
  requests: whole.optional(),
  updatedAt: z.string().optional(),
  ttl: whole.optional(),
});

/** A record as a conflict marker keeps it (see shared/usage/records.ts). */
export const ConflictRecordSchema = z.looseObject({
  principal: z.string(),
  principalArn: z.string(),
  costUsd: decimal,
  model: z.string(),
  modelId: z.string(),
  source: z.string(),
  time: z.string(),
  catalogVersion: z.string(),
  tokens: z.record(z.string(), whole).optional(),
});

/**
 * Two records of one request that disagree (another cost or principal), as ingest found them: the first, then the
 * arriving one. Written in the transaction that settled which stands; the evaluator alerts and audits it once. The
 * same marker, with the outcome `corrected`, records the coverage sweep's estimate replaced by the call's exact
 * cost from its invocation log: audited once, not alerted (it is no disagreement).
 */
export const ConflictItemSchema = z.looseObject({
  kind: z.literal('conflict'),
  principal: z.string().startsWith(KEYS.conflictPrefix),
  period: z.string(),
  requestId: z.string(),
  /**
   * `replaced`: the arriving record was dearer and stands; `kept`: the first stands; `corrected`: the first was the
   * sweep's estimate, and the arriving exact record replaced it.
   */
  outcome: z.enum(['replaced', 'kept', 'corrected']),
  records: z.tuple([ConflictRecordSchema, ConflictRecordSchema]),
  /** The principal whose record stands (whose audit chain holds the entry). */
  stands: z.string(),
  /**
   * What the account's spend moved by: the arriving cost less the first's when the arriving record stands (negative
   * where the estimate it corrected was dearer), or 0 when the first stood.
   */
  addedUsd: decimal,
  detectedAt: z.string(),
  ...outboxShape,
});

/** A conflict marker's key: one per request and arriving record, so each disagreement is alerted once. */
export const conflictKey = (requestId: string, recordKey: string) => ({
  principal: `${KEYS.conflictPrefix}${requestId}`,
  period: recordKey,
});

/** Attributes with a variable part: each must hold what its prefix says. */
function checkPrefixed(item: Record<string, unknown>, ctx: z.RefinementCtx): void {
  for (const [name, value] of Object.entries(item)) {
    const fail = (message: string) => ctx.addIssue({ code: 'custom', path: [name], message });
    if (name.startsWith(ATTRIBUTE_PREFIXES.modelSpend) && !decimal.safeParse(value).success) {
      fail('a per-model spend is an exact decimal');
    } else if (name.startsWith(ATTRIBUTE_PREFIXES.daySpend) && !decimal.safeParse(value).success) {
      fail("a day's spend is an exact decimal");
    } else if (
      name.startsWith(ATTRIBUTE_PREFIXES.outbox) &&
      !z.looseObject({ decisionId: z.string() }).safeParse(value).success
    ) {
      fail('effects owed carry their decision id');
    } else if (name.startsWith(ATTRIBUTE_PREFIXES.hold) && (typeof value !== 'object' || value === null)) {
      fail('a deny hold is a map');
    }
  }
}

export const BudgetItemSchema = z
  .discriminatedUnion('kind', [
    LimitItemSchema,
    DefaultLimitItemSchema,
    CounterItemSchema,
    GroupCounterItemSchema,
    AccountItemSchema,
    AccountShardItemSchema,
    UnknownModelItemSchema,
    CoverageItemSchema,
    DenyItemSchema,
    ConflictItemSchema,
    RateItemSchema,
    DigestItemSchema,
    ReconcileItemSchema,
  ])
  .superRefine(checkPrefixed);

export type BudgetItem = z.infer<typeof BudgetItemSchema>;
export type BudgetItemKind = BudgetItem['kind'];
export type LimitItem = z.infer<typeof LimitItemSchema> | z.infer<typeof DefaultLimitItemSchema>;
export type CounterItem = z.infer<typeof CounterItemSchema>;
export type GroupCounterItem = z.infer<typeof GroupCounterItemSchema>;
export type AccountItem = z.infer<typeof AccountItemSchema>;
export type ConflictItem = z.infer<typeof ConflictItemSchema>;
export type RateItem = z.infer<typeof RateItemSchema>;
export type Suspension = z.infer<typeof SuspensionSchema>;
export type OrganizationStopRecord = z.infer<typeof OrganizationStopSchema>;
export type Lift = z.infer<typeof LiftSchema>;

/** The kind of item a key names; undefined for a key no kind has. */
export function kindOfKey(principal: unknown, period: unknown): BudgetItemKind | undefined {
  if (typeof principal !== 'string' || typeof period !== 'string') return undefined;
  if (period === KEYS.limitPeriod) return principal === KEYS.defaultPrincipal ? 'default-limit' : 'limit';
  if (principal.startsWith(KEYS.modelMarkerPrefix)) return 'unknown-model';
  if (principal.startsWith(KEYS.coveragePrefix)) return 'coverage';
  if (principal.startsWith(KEYS.denyPrefix)) return 'deny';
  if (principal.startsWith(KEYS.conflictPrefix)) return 'conflict';
  if (principal.startsWith(KEYS.reconcilePrefix)) return 'reconcile';
  // Never a budget period: the key of a principal's rate bucket.
  if (period.startsWith(KEYS.ratePrefix)) return principal.includes('#') ? undefined : 'rate';
  // Before the period kinds: a digest's period is a day, which a daily counter's key also is.
  if (principal === KEYS.digestPrincipal) return 'digest';
  if (!periodKindOfKey(period)) return undefined;
  if (isAccountShard(principal)) return 'account-shard';
  if (principal === ACCOUNT_PRINCIPAL) return 'account';
  if (principal.startsWith(KEYS.groupPrefix)) return principal.length > KEYS.groupPrefix.length ? 'group' : undefined;
  return principal.includes('#') ? undefined : 'counter';
}

export class BudgetItemError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BudgetItemError';
  }
}

/** An item as read (wrapNumbers), checked against its kind's schema. */
export function safeParseBudgetItem(
  raw: unknown,
): { success: true; data: BudgetItem } | { success: false; error: BudgetItemError } {
  const key = (raw ?? {}) as { principal?: unknown; period?: unknown };
  const kind = kindOfKey(key.principal, key.period);
  if (!kind) {
    return {
      success: false,
      error: new BudgetItemError(
        `no kind of Budgets item has the key ${JSON.stringify({ principal: key.principal, period: key.period })}`,
      ),
    };
  }
  const parsed = BudgetItemSchema.safeParse({ ...(raw as object), kind });
  if (parsed.success) return { success: true, data: parsed.data };
  return {
    success: false,
    error: new BudgetItemError(
      `Budgets item ${String(key.principal)} / ${String(key.period)} is not a valid ${kind}: ${z.prettifyError(parsed.error)}`,
      { cause: parsed.error },
    ),
  };
}

export function parseBudgetItem(raw: unknown): BudgetItem {
  const parsed = safeParseBudgetItem(raw);
  if (!parsed.success) throw parsed.error;
  return parsed.data;
}

/** A zod schema of a Budgets item read from a stream image or a table, for a parser pipeline. */
export const StoredBudgetItemSchema = z.record(z.string(), z.unknown()).transform((raw, ctx) => {
  const parsed = safeParseBudgetItem(raw);
  if (parsed.success) return parsed.data;
  ctx.addIssue({ code: 'custom', message: parsed.error.message });
  return z.NEVER;
});
