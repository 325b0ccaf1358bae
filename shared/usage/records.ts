import { decimalOf } from '../budgets/items';
import type { CallSource } from '../events/parse';
import type { Charge } from '../ledger';
import { toDecimalString, type Usd } from '../money';
import type { TokenCounts } from '../pricing';

/**
 * What one record says a request cost, and whom: an invocation log record priced, or the coverage sweep's estimate.
 * Two records of one request id that say different things are a conflict (see `resolve`).
 */
export interface UsageRecord {
  /** The principal's id (`user/alice`). */
  readonly principal: string;
  readonly principalArn: string;
  readonly costUsd: Usd;
  readonly model: string;
  readonly modelId: string;
  readonly source: CallSource;
  /** ISO-8601 time of the call, as the record says: it decides the periods the cost counts in. */
  readonly time: string;
  readonly catalogVersion: string;
  readonly tokens?: TokenCounts;
  /**
   * The application inference profile's ARN (attribute `inferenceProfile`), when the call went through one that was
   * resolved: `model` is then the model it routes to, so reports can say which profile was used and what it ran.
   */
  readonly inferenceProfile?: string;
}

/** A request's Usage row as ingest found it charged: the record that stands, and the keys of every record seen. */
export interface StandingRecord {
  readonly record: UsageRecord;
  /** `recordKey` of every record of the request seen so far, the standing one included. */
  readonly seen: ReadonlySet<string>;
  /** The principal CloudTrail named for the request, once its sighting was recorded. */
  readonly sightedBy?: string;
  /** The groups the standing record was counted in (absent on rows charged before rows kept them). */
  readonly groups?: readonly string[];
}

/** The Usage row attribute that keeps the groups its charge was counted in (a list of group names). */
export const USAGE_GROUPS_ATTRIBUTE = 'countedInGroups';

/** One record's identity: the same principal and cost is the same record delivered again. */
export const recordKey = (record: Pick<UsageRecord, 'principal' | 'costUsd'>) =>
  `${record.principal}|${toDecimalString(record.costUsd)}`;

export function recordOf(charge: Charge): UsageRecord {
  const { call } = charge;
  return {
    principal: call.principal.id,
    principalArn: call.principal.arn,
    costUsd: charge.costUsd,
    model: charge.model,
    modelId: call.modelId,
    source: call.source,
    time: call.time,
    catalogVersion: charge.catalogVersion,
    ...(call.tokens ? { tokens: call.tokens } : {}),
    ...(charge.inferenceProfile ? { inferenceProfile: charge.inferenceProfile } : {}),
  };
}

const text = (value: unknown) => (typeof value === 'string' ? value : '');

/**
 * The charged Usage row of a request (as DynamoDB returns it on a failed condition, unmarshalled with
 * wrapNumbers), or undefined for a row not charged yet (a CloudTrail sighting).
 */
export function standingOf(row: Record<string, unknown>): StandingRecord | undefined {
  if (row.costUsd === undefined) return undefined;
  const tokens = row.tokens as Record<string, unknown> | undefined;
  const record: UsageRecord = {
    principal: text(row.principal),
    principalArn: text(row.principalArn),
    costUsd: decimalOf(row.costUsd),
    model: text(row.model),
    modelId: text(row.modelId),
    source: (text(row.chargedBy) || 'invocation-log') as CallSource,
    time: text(row.callTime),
    catalogVersion: text(row.catalogVersion),
    ...(tokens
      ? {
          tokens: Object.fromEntries(
            Object.entries(tokens).map(([name, count]) => [name, Number(decimalOf(count))]),
          ) as unknown as TokenCounts,
        }
      : {}),
    ...(typeof row.inferenceProfile === 'string' ? { inferenceProfile: row.inferenceProfile } : {}),
  };
  const seen = row.recordKeys instanceof Set ? [...row.recordKeys].map(String) : [];
  return {
    record,
    seen: new Set([recordKey(record), ...seen]),
    ...(typeof row.sightedBy === 'string' ? { sightedBy: row.sightedBy } : {}),
    ...(Array.isArray(row[USAGE_GROUPS_ATTRIBUTE])
      ? { groups: (row[USAGE_GROUPS_ATTRIBUTE] as unknown[]).map(String) }
      : {}),
  };
}

/**
 * Whether two records are one call priced twice, one of them through its resolved application inference profile and
 * the other not: the same principal, model id (the profile's ARN) and token counts.
 */
function repriced(standing: UsageRecord, arriving: UsageRecord): boolean {
  if ((standing.inferenceProfile === undefined) === (arriving.inferenceProfile === undefined)) return false;
  const sameTokens =
    standing.tokens !== undefined &&
    arriving.tokens !== undefined &&
    (Object.keys(arriving.tokens) as (keyof TokenCounts)[]).every(
      (name) => Number(standing.tokens?.[name] ?? 0) === Number(arriving.tokens?.[name] ?? 0),
    );
  return standing.principal === arriving.principal && standing.modelId === arriving.modelId && sameTokens;
}

/**
 * What a second record of a request does to the first.
 * - `duplicate`: nothing. The same record again (same principal, same cost), or the sweep's estimate of a call a
 *   record has charged, or a record of another principal than the estimate's that is no dearer than it.
 * - `replaced`: the arriving record stands: its principal is charged its cost, the standing record's principal is
 *   credited what it was charged, the account moves by the difference. An invocation log record always replaces
 *   the sweep's estimate of its own principal's call (the exact cost corrects the stand-in, dearer or cheaper);
 *   between two records, the dearer stands.
 * - `kept`: the arriving record is no dearer (or as dear, but names another principal): the standing record stays
 *   and nothing is counted.
 * `conflict` is whether two records disagree (both from invocation logs): a security matter, alerted and audited.
 * A record that differs from an estimate is no conflict: the estimate was a stand-in for it. Only a record of
 * another principal than CloudTrail named (the estimate's) does not lower it: it replaces the estimate only if
 * dearer, as a conflicting record would.
 */
export type Resolution =
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'replaced' | 'kept'; readonly conflict: boolean };

export function resolve(standing: StandingRecord, arriving: UsageRecord): Resolution {
  if (standing.seen.has(recordKey(arriving)) || arriving.source === 'coverage-sweep') return { kind: 'duplicate' };
  if (repriced(standing.record, arriving)) {
    // The same record priced twice: once through its application inference profile, once at the fallback (the
    // profile could not be resolved that time). The profile's price is the exact one: it stands, and no one forged
    // anything.
    return arriving.inferenceProfile ? { kind: 'replaced', conflict: false } : { kind: 'duplicate' };
  }
  const dearer = arriving.costUsd.gt(standing.record.costUsd);
  if (standing.record.source === 'coverage-sweep') {
    const corrects = dearer || arriving.principal === standing.record.principal;
    return corrects ? { kind: 'replaced', conflict: false } : { kind: 'duplicate' };
  }
  return { kind: dearer ? 'replaced' : 'kept', conflict: true };
}
