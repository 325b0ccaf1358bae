import {
  type BedrockCall,
  parseRecord,
  type RawRecord,
  type RejectionKind,
  type TrustedSources,
} from '../../shared/events/parse';
import type { GroupResolver } from '../../shared/groups/membership';
import type { IdentityRules } from '../../shared/identity';
import type { Charge, Ledger } from '../../shared/ledger';
import { chargeFor, hasTokens } from '../../shared/metering';
import type { PriceBook } from '../../shared/pricing/versions';

export interface Rejection {
  /** The record's id in its batch (SQS message id, log event id). */
  readonly id: string;
  readonly error: string;
  /** What the rejections metric counts it under. */
  readonly kind: RejectionKind;
  readonly body: unknown;
}

export interface IngestOutcome {
  readonly charged: Charge[];
  readonly duplicates: string[];
  /** Request ids whose arriving record disagreed with the one counted (see Ledger): alerted as a conflict. */
  readonly conflicting: string[];
  readonly sighted: number;
  readonly ignored: number;
  readonly rejected: Rejection[];
  readonly dynamoRequests: number;
}

/**
 * Parses, prices and records a batch. A bad record is rejected with its reason and never stops the good records
 * beside it; the good ones are written exactly once (see Ledger). With `trusted`, a record is believed only on its
 * route and from the deployment's own account (see TrustedSources).
 */
export async function ingest(
  records: readonly RawRecord[],
  ledger: Ledger,
  rules: IdentityRules,
  trusted?: TrustedSources,
  /** Price versions (set and fetched) laid over the catalog, each call priced by those in effect at its time. */
  prices?: PriceBook,
  /** The groups of the principals charged: their counters move with the principals' (shared/groups). */
  groups?: Pick<GroupResolver, 'membershipsOf'>,
): Promise<IngestOutcome> {
  const charges: Charge[] = [];
  const sightings: BedrockCall[] = [];
  const rejected: Rejection[] = [];
  let ignored = 0;
  for (const record of records) {
    const parsed = parseRecord(
      record.body,
      rules,
      trusted && record.route ? { route: record.route, trusted } : undefined,
    );
    if (parsed.status === 'invalid') {
      rejected.push({ id: record.id, error: parsed.error, kind: parsed.kind, body: record.body });
    } else if (parsed.status === 'ignored') ignored++;
    else if (!hasTokens(parsed.call)) sightings.push(parsed.call);
    else {
      try {
        charges.push(chargeFor(parsed.call, prices));
      } catch (error) {
        rejected.push({ id: record.id, error: (error as Error).message, kind: 'unpriceable', body: record.body });
      }
    }
  }
  const memberships = groups && (await groups.membershipsOf(charges.map((charge) => charge.call.principal.id)));
  const written = await ledger.record(charges, sightings, memberships);
  return {
    charged: written.charged,
    duplicates: written.duplicates,
    conflicting: written.conflicting,
    sighted: written.sighted,
    ignored,
    rejected,
    dynamoRequests: written.requests,
  };
}

/** Rejections counted by kind, for the per-reason rejections metric. */
export function rejectionsByKind(rejected: readonly Rejection[]): Map<RejectionKind, number> {
  const counts = new Map<RejectionKind, number>();
  for (const { kind } of rejected) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}
