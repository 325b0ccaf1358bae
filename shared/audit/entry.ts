import { createHash, randomUUID } from 'node:crypto';

/**
 * The closed vocabulary of audited decisions and changes of state. An entry with any other action is refused:
 * auditors filter by these names months later, so they must not drift.
 */
export const AUDIT_ACTIONS = {
  'budget.limit-set': 'a budget limit was set or changed (details: limitUsd, previousUsd)',
  'threshold.alerted':
    'spend crossed an alert threshold and the alert was sent (details: threshold, spendUsd, limitUsd)',
  'suspension.requested': 'spend reached the limit and a suspension was started (details: spendUsd, limitUsd)',
  'deny.applied': 'the explicit Deny policy was attached to the principal (details: target, policyName)',
  'deny.lifted':
    'the Deny policy was removed (details: reason = period-end | limit-raised | admin | approval | emergency-stop-resumed)',
  'suspension.skipped':
    'a suspension was asked for a principal that is never denied (root, the system’s roles, break glass): alerted only (details: reason)',
  'override.requested': 'an exception was asked of the admins (details: amountUsd)',
  'override.approved': 'an admin approved an exception (details: approver, reason, amountUsd)',
  'override.denied': 'an admin refused an exception (details: approver, reason)',
  'emergency-stop.started': 'all Bedrock use in the account was stopped (details: reason)',
  'emergency-stop.resumed': 'the emergency stop was lifted (details: reason)',
  'scp.attached':
    "the organization stop's service control policy was attached to a root, OU or account (details: target, policyId, policyName)",
  'scp.detached':
    "the organization stop's service control policy was detached from a target the stop had attached it to (details: target, policyId, policyName)",
  'group.set':
    "a group's limit or membership was set (details: limitUsd, previousUsd, members, tag, owners, periodKind)",
  'group.deleted': 'a group was deleted (details: the definition it had)',
  'group.stopped':
    "a group's budget was exhausted: every member is denied by one stop of the group (details: spendUsd, limitUsd, reason = group:<name>)",
  'group.resumed': "a group's stop ended and its members' denies were lifted (details: reason, lifted)",
  'config.changed': 'a deployment setting changed (details: key, from, to)',
  'model.unknown-seen': 'a model missing from the price catalog was used and charged at the fallback price',
  'price.changed':
    'a price version took effect for a model: set or removed by an admin, or fetched from the AWS Price List (details: source, scope, effectiveFrom, old, new, skus)',
  'coverage.unmetered': 'calls were seen in CloudTrail whose tokens never arrived in the invocation log',
  'usage.conflict':
    'two records of one request disagreed (cost or principal); the dearer stands (details: outcome = replaced | kept, addedUsd, records)',
  'usage.estimate-replaced':
    'the coverage sweep had charged a call at its estimate; the call’s invocation log record replaced it with the exact cost (details: estimateUsd, exactUsd, addedUsd, records)',
  'suspension.awaiting-confirmation':
    'spend past the limit is only logged where only CloudTrail-confirmed spend may suspend or stop: waiting for the sightings (details: spendUsd, confirmedSpendUsd, limitUsd, waitMinutes)',
  'suspension.unconfirmed':
    'spend past the limit was still unconfirmed by CloudTrail after the wait: not suspended, escalated (details: generation, awaitingSince, waitMinutes)',
  'enforcement.failed': 'an enforcement step failed (details: step, error)',
  'rate.exceeded':
    "a principal's rolling hour went above its rate rule, alert only (details: maxUsdPerHour, hourUsd, from, to, onRate, generation)",
  'rate.forecast':
    "at the rate of its last hours a principal's budget runs out before the period ends (details: spendUsd, limitUsd, usdPerHour, exhaustedAt, measuredFrom, measuredTo, generation)",
  'rate.anomaly':
    "a principal's last hour cost at least k times its usual (median) hour and at least the floor (details: hourUsd, usualHourUsd, factor, floorUsd, from, to)",
  'digest.sent':
    'the daily digest of a day was sent to the alerts and critical topics (details: day, period, principals, crossings, suspensions, pending, unknownModels, rejectedRecords)',
  'reconcile.drift':
    "a principal's metered spend for a day differed from AWS's bill by more than the tolerance (details: day, principalArn, meteredUsd, billedUsd, differenceUsd, toleranceUsd, models)",
  'reconcile.checked':
    'a day was reconciled with AWS’s bill and no principal drifted beyond the tolerance (details: day, principals, meteredUsd, billedUsd, differenceUsd, toleranceUsd)',
  'admin.refused':
    'an admin request was refused: the caller is no admin, or acted on themselves (details: request, why, sourceIp, userAgent)',
} as const satisfies Record<string, string>;

export type AuditAction = keyof typeof AUDIT_ACTIONS;
export const AUDIT_ACTION_NAMES = Object.keys(AUDIT_ACTIONS) as AuditAction[];

export function isAuditAction(value: unknown): value is AuditAction {
  return typeof value === 'string' && Object.hasOwn(AUDIT_ACTIONS, value);
}

/** Index names, shared by the table definition (infra) and the readers. */
export const AUDIT_INDEXES = {
  /** LSI: subject + at. */
  byTime: 'byTime',
  /** GSI: action + at. */
  byAction: 'byAction',
  /** GSI: day (YYYY-MM-DD, UTC) + at. */
  byDay: 'byDay',
} as const;

/** The previous hash of the first entry of every chain. */
export const GENESIS_HASH = '0'.repeat(64);
export const SEQ_DIGITS = 12;

/**
 * Structured details. Money is a decimal string ("12.50"), never a JS number; whole numbers (a threshold, a count)
 * may be numbers, as DynamoDB gives them back digit for digit. Fractions as numbers are refused.
 */
export type DetailValue = string | number | boolean | null | readonly DetailValue[] | AuditDetails;
export interface AuditDetails {
  readonly [key: string]: DetailValue;
}

/** What a caller states; the log adds id, time, sequence number and hashes. */
export interface AuditInput {
  /** Whose state changed: a principal id (`user/alice`), `ACCOUNT`, `SYSTEM` or `MODEL#<id>`. */
  readonly subject: string;
  /**
   * Who decided: a principal ARN, `system:<function>` for the system itself, or `link:<decision id>` for whoever
   * held a signed approval link (the link is their only credential; the name they typed is in `details.approver`).
   */
  readonly actor: string;
  readonly action: AuditAction;
  /** The budget period the decision is about, e.g. `2026-11`. */
  readonly period?: string;
  /** @default {} */
  readonly details?: AuditDetails;
  readonly executionArn?: string;
  readonly requestId?: string;
  readonly approvalId?: string;
  /** @default now */
  readonly at?: Date;
}

/** Every stored attribute except `hash`: exactly what the hash covers. */
export interface AuditEntry {
  readonly subject: string;
  /** Position in the subject's chain, zero-padded to 12 digits so it sorts as text. */
  readonly seq: string;
  readonly id: string;
  /** ISO 8601 UTC with milliseconds. */
  readonly at: string;
  /** `at`'s UTC day, the byDay index key. */
  readonly day: string;
  readonly actor: string;
  readonly action: AuditAction;
  readonly period?: string;
  readonly details: AuditDetails;
  readonly executionArn?: string;
  readonly requestId?: string;
  readonly approvalId?: string;
  /** Hash of the previous entry of the same subject, or GENESIS_HASH. */
  readonly prevHash: string;
}

export interface StoredEntry extends AuditEntry {
  /** sha256 (hex) of the canonical JSON of every other attribute. */
  readonly hash: string;
}

export class AuditEntryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditEntryError';
  }
}

const ACTOR = /^(arn:aws[a-z-]*:(iam|sts)::\d{12}:.+|system:[A-Za-z0-9][\w.-]*|link:[A-Za-z0-9_-]{8,64})$/;
const MAX_KEY_BYTES = 1024;

export const formatSeq = (seq: number): string => String(seq).padStart(SEQ_DIGITS, '0');

/** The number in a stored `seq`, or undefined if it is not a well-formed sequence number. */
export function parseSeq(seq: unknown): number | undefined {
  if (typeof seq !== 'string' || !/^\d{12}$/.test(seq)) return undefined;
  return Number(seq);
}

/** A DynamoDB number read with `wrapNumbers`; duck-typed, as two copies of the SDK may be loaded. */
function isNumberValue(value: unknown): value is { value: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    value.constructor?.name === 'NumberValue' &&
    typeof (value as { value?: unknown }).value === 'string'
  );
}

/**
 * Canonical JSON: object keys sorted, no whitespace, undefined members left out, numbers as their digits. The same
 * entry gives the same text whether it was just built or read back from DynamoDB (where numbers are NumberValue).
 * Anything else that can only come from an edited item is still rendered, so that verify reports it as a
 * mismatch instead of failing.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  if (isNumberValue(value)) return value.value;
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
    case 'bigint':
      return String(value);
    case 'object':
      break;
    default:
      return JSON.stringify({ $unsupported: typeof value });
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (value instanceof Set) return `{"$set":${canonicalJson([...value].map(canonicalJson).sort())}}`;
  if (value instanceof Uint8Array) return `{"$binary":${JSON.stringify(Buffer.from(value).toString('base64'))}}`;
  const members = Object.entries(value as Record<string, unknown>)
    .filter(([, member]) => member !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`);
  return `{${members.join(',')}}`;
}

/** sha256 (hex) over the canonical JSON of every attribute of the entry except `hash`. */
export function hashOf(entry: AuditEntry | Readonly<Record<string, unknown>>): string {
  const { hash: _ignored, ...covered } = entry as Record<string, unknown>;
  return createHash('sha256').update(canonicalJson(covered), 'utf8').digest('hex');
}

/** Checks details are plain JSON with no fractional numbers, and drops undefined members (as the SDK would). */
function checkedDetails(value: unknown, path: string): DetailValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  // Effects owed are read back from DynamoDB (wrapNumbers) before a retry delivers them: a count is still a count.
  if (isNumberValue(value)) return checkedDetails(Number(value.value), path);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new AuditEntryError(`${path} is ${value}: write amounts as decimal strings, numbers must be whole`);
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((item, index) => checkedDetails(item, `${path}[${index}]`));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, DetailValue> = {};
    for (const [key, member] of Object.entries(value)) {
      if (member !== undefined) out[key] = checkedDetails(member, `${path}.${key}`);
    }
    return out;
  }
  throw new AuditEntryError(`${path} must be a string, whole number, boolean, null, array or plain object`);
}

/** The caller's part of an entry, checked; the log completes it with its place in the chain. */
export type PreparedEntry = Omit<AuditEntry, 'seq' | 'prevHash'>;

export function prepareEntry(input: AuditInput, now: () => Date = () => new Date()): PreparedEntry {
  if (!isAuditAction(input.action)) {
    throw new AuditEntryError(`unknown audit action ${JSON.stringify(input.action)}`);
  }
  if (typeof input.subject !== 'string' || input.subject === '' || Buffer.byteLength(input.subject) > MAX_KEY_BYTES) {
    throw new AuditEntryError(`subject must be a non-empty principal id of at most ${MAX_KEY_BYTES} bytes`);
  }
  if (typeof input.actor !== 'string' || !ACTOR.test(input.actor)) {
    throw new AuditEntryError(
      `actor must be a principal ARN, system:<function> or link:<decision id>, not ${JSON.stringify(input.actor)}`,
    );
  }
  for (const key of ['period', 'executionArn', 'requestId', 'approvalId'] as const) {
    const value = input[key];
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw new AuditEntryError(`${key} must be a non-empty string when given`);
    }
  }
  const when = input.at ?? now();
  if (!(when instanceof Date) || Number.isNaN(when.getTime())) throw new AuditEntryError('at must be a valid Date');
  const at = when.toISOString();
  return {
    subject: input.subject,
    id: randomUUID(),
    at,
    day: at.slice(0, 10),
    actor: input.actor,
    action: input.action,
    ...(input.period === undefined ? {} : { period: input.period }),
    details: checkedDetails(input.details ?? {}, 'details') as AuditDetails,
    ...(input.executionArn === undefined ? {} : { executionArn: input.executionArn }),
    ...(input.requestId === undefined ? {} : { requestId: input.requestId }),
    ...(input.approvalId === undefined ? {} : { approvalId: input.approvalId }),
  };
}

/** Places a prepared entry after `previous` in its chain (or first) and seals it with its hash. */
export function chainEntry(prepared: PreparedEntry, previous: { seq: string; hash: string } | undefined): StoredEntry {
  const previousSeq = previous ? parseSeq(previous.seq) : 0;
  if (previousSeq === undefined) {
    throw new AuditEntryError(`the newest entry of ${prepared.subject} has a malformed seq ${previous?.seq}`);
  }
  const entry: AuditEntry = {
    ...prepared,
    seq: formatSeq(previousSeq + 1),
    prevHash: previous ? previous.hash : GENESIS_HASH,
  };
  return { ...entry, hash: hashOf(entry) };
}

/** What a broken link looks like; `expected` and `stored` are hashes, or sequence numbers for a gap. */
export interface BrokenLink {
  readonly subject: string;
  readonly seq: string;
  readonly problem: 'altered' | 'missing' | 'unlinked';
  readonly expected: string;
  readonly stored: string;
  readonly message: string;
}

/**
 * Walks one subject's entries in seq order and returns the first broken link: an entry whose content no longer
 * matches its hash (altered), a sequence number skipped (an entry missing), or an entry whose prevHash is not the
 * hash of the entry before it (reordered, replaced or inserted).
 */
export class ChainChecker {
  private expectedSeq = 1;
  private previousHash = GENESIS_HASH;
  private lastSeq: string | undefined;
  private broken: BrokenLink | undefined;
  private count = 0;

  constructor(readonly subject: string) {}

  /** Feeds the next item in seq order; returns the first broken link once there is one (later ones are counted). */
  check(item: Readonly<Record<string, unknown>>): BrokenLink | undefined {
    this.count++;
    if (this.broken) return this.broken;
    const seq = typeof item.seq === 'string' ? item.seq : String(item.seq);
    const stored = typeof item.hash === 'string' ? item.hash : '';
    const recomputed = hashOf(item);
    const expectedSeq = formatSeq(this.expectedSeq);
    if (recomputed !== stored) {
      this.broken = this.link(seq, 'altered', recomputed, stored, 'content does not match its hash (entry altered)');
    } else if (seq !== expectedSeq) {
      this.broken = this.link(seq, 'missing', expectedSeq, seq, `entry ${expectedSeq} is missing before it`);
    } else if (item.prevHash !== this.previousHash) {
      const message = 'prevHash is not the hash of the entry before it (entries reordered, replaced or inserted)';
      this.broken = this.link(seq, 'unlinked', this.previousHash, String(item.prevHash ?? ''), message);
    }
    this.expectedSeq++;
    this.previousHash = stored;
    this.lastSeq = seq;
    return this.broken;
  }

  /** Entries seen, including those after a break. */
  get entries(): number {
    return this.count;
  }

  get firstBroken(): BrokenLink | undefined {
    return this.broken;
  }

  /** The newest entry seen: record it outside the table to detect later truncation of the chain. */
  get head(): { seq: string; hash: string } | undefined {
    return this.lastSeq === undefined ? undefined : { seq: this.lastSeq, hash: this.previousHash };
  }

  private link(seq: string, problem: BrokenLink['problem'], expected: string, stored: string, message: string) {
    return { subject: this.subject, seq, problem, expected, stored, message };
  }
}
