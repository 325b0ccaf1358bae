import {
  type BedrockCall,
  parseRecord,
  type RawRecord,
  type RejectionKind,
  type TrustedSources,
} from '../../shared/events/parse';
import type { IdentityRules } from '../../shared/identity';
import type { Charge, Ledger } from '../../shared/ledger';
import { chargeFor, hasTokens } from '../../shared/metering';
import {
  applicationProfileOf,
  type ProfileRef,
  type ProfileResolution,
  type ResolvedProfile,
} from '../../shared/pricing/profiles';
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

/** Resolves an application inference profile to its model (InferenceProfileCache.resolve). */
export type ProfileResolver = (ref: ProfileRef) => Promise<ProfileResolution>;

/** What ingest prices and counts by, besides the identity rules. */
export interface IngestOptions {
  /** Only records on their route and from the deployment's own account are believed (see TrustedSources). */
  readonly trusted?: TrustedSources;
  /** Price versions (set and fetched) laid over the catalog, each call priced by those in effect at its time. */
  readonly prices?: PriceBook;
  /** Resolves the application inference profiles calls name; without it, such calls are priced at the fallback. */
  readonly profiles?: ProfileResolver;
}

/**
 * Parses, prices and records a batch. A bad record is rejected with its reason and never stops the good records
 * beside it; the good ones are written exactly once (see Ledger).
 */
export async function ingest(
  records: readonly RawRecord[],
  ledger: Ledger,
  rules: IdentityRules,
  { trusted, prices, profiles }: IngestOptions = {},
): Promise<IngestOutcome> {
  const charges: Charge[] = [];
  const sightings: BedrockCall[] = [];
  const rejected: Rejection[] = [];
  const metered: { id: string; body: unknown; call: Parameters<typeof chargeFor>[0] }[] = [];
  let ignored = 0;
  for (const record of records) {
    const parsed = parseRecord(
      record.body,
      rules,
      trusted && record.route
        ? { route: record.route, trusted, ...(record.account ? { account: record.account } : {}) }
        : undefined,
    );
    if (parsed.status === 'invalid') {
      rejected.push({ id: record.id, error: parsed.error, kind: parsed.kind, body: record.body });
    } else if (parsed.status === 'ignored') ignored++;
    else if (!hasTokens(parsed.call)) sightings.push(parsed.call);
    else metered.push({ id: record.id, body: record.body, call: parsed.call });
  }
  // A call through an application inference profile is priced as the profile's model: each profile asked once.
  const profileRefs = metered.map(({ call }) =>
    applicationProfileOf(call.modelId, { region: call.region, accountId: call.principal.accountId }),
  );
  const resolved = await resolveProfiles(profileRefs, profiles);
  metered.forEach(({ id, body, call }, index) => {
    const ref = profileRefs[index];
    try {
      charges.push(chargeFor(call, prices, ref && resolved.get(ref.arn)));
    } catch (error) {
      rejected.push({ id, error: (error as Error).message, kind: 'unpriceable', body });
    }
  });
  const written = await ledger.record(charges, sightings);
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

/**
 * Each profile of `refs` that resolves, by ARN, each asked once. A profile not resolved is left out: its calls are
 * priced on the id they name, at the fallback, as before.
 */
async function resolveProfiles(refs: readonly (ProfileRef | undefined)[], profiles: ProfileResolver | undefined) {
  const resolved = new Map<string, ResolvedProfile>();
  if (!profiles) return resolved;
  const distinct = new Map(refs.flatMap((ref) => (ref ? [[ref.arn, ref] as const] : [])));
  await Promise.all(
    [...distinct.values()].map(async (ref) => {
      // A resolver that fails is a profile not resolved: its calls are still charged, the others untouched.
      const resolution = await profiles(ref).catch((error: unknown) => ({
        resolved: false as const,
        reason: String(error),
      }));
      if (resolution.resolved) resolved.set(ref.arn, resolution.profile);
    }),
  );
  return resolved;
}

/** Rejections counted by kind, for the per-reason rejections metric. */
export function rejectionsByKind(rejected: readonly Rejection[]): Map<RejectionKind, number> {
  const counts = new Map<RejectionKind, number>();
  for (const { kind } of rejected) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}
