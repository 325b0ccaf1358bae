import * as z from 'zod';

/**
 * Application inference profiles: a call through one names the profile (its ARN), never the model it routes to. The
 * profile is resolved to its model with Bedrock's `GetInferenceProfile`, and to its tags with `ListTagsForResource`,
 * so the call is priced as its model and the profile's tags are at hand for budgets that follow a profile.
 */

/** An application inference profile as a call names it. */
export interface ProfileRef {
  readonly arn: string;
  readonly id: string;
  readonly region: string;
  readonly accountId: string;
}

/** What a profile routes to, and its tags. */
export interface ResolvedProfile extends ProfileRef {
  readonly name: string;
  /** What the call is priced as: the model's id, `global.`-prefixed when the profile copies a global profile. */
  readonly pricedAs: string;
  /** The model ARNs `GetInferenceProfile` lists (one per Region the profile routes to). */
  readonly modelArns: readonly string[];
  /** The profile's tags; undefined when `ListTagsForResource` failed (the model is still known). */
  readonly tags?: Readonly<Record<string, string>>;
}

export type ProfileResolution =
  | { readonly resolved: true; readonly profile: ResolvedProfile }
  | { readonly resolved: false; readonly reason: string };

const APPLICATION_PROFILE_ARN =
  /^arn:(aws[a-z-]*):bedrock:([a-z0-9-]+):(\d{12}):application-inference-profile\/([a-zA-Z0-9]+)$/;
/** A profile's id alone, as Bedrock generates it (`hq2of259skzs`): no model id looks like this (they hold a dot). */
const APPLICATION_PROFILE_ID = /^[a-z0-9]{12}$/;

const partitionOf = (region: string) =>
  region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws';

/**
 * The application inference profile a call's model id names, or undefined for anything else. The invocation log
 * holds the profile's ARN; CloudTrail's `requestParameters.modelId` holds what the caller passed, which Bedrock
 * accepts as the ARN (URL-encoded when taken from the request path) or the profile's id alone: an id is completed
 * with the call's Region and account.
 */
export function applicationProfileOf(
  modelId: string,
  call: { readonly region: string; readonly accountId: string },
): ProfileRef | undefined {
  let raw = modelId.trim();
  if (/%3a|%2f/i.test(raw)) {
    try {
      raw = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
  }
  const arn = APPLICATION_PROFILE_ARN.exec(raw);
  if (arn) {
    const [, , region = '', accountId = '', id = ''] = arn;
    return { arn: raw, id, region, accountId };
  }
  if (!APPLICATION_PROFILE_ID.test(raw) || !/^\d{12}$/.test(call.accountId)) return undefined;
  const arnOf = `arn:${partitionOf(call.region)}:bedrock:${call.region}:${call.accountId}:application-inference-profile/${raw}`;
  return { arn: arnOf, id: raw, region: call.region, accountId: call.accountId };
}

const FOUNDATION_MODEL_ARN = /^arn:aws[a-z-]*:bedrock:([a-z0-9-]*)::foundation-model\/(.+)$/;

/**
 * What calls through a profile routing to `modelArns` are priced as. A profile made from a foundation model lists
 * its ARN; one copied from a system-defined cross-Region profile lists the model's ARN in each Region it routes to.
 * A global profile lists a Region-less ARN (`arn:aws:bedrock:::foundation-model/...`) among them: its calls are
 * priced as `global.` calls; a geographic one (`us.`) is priced as its model in the call's Region, as the catalog
 * prices `us.` ids. Throws when the ARNs are not foundation models of one model.
 */
export function pricedAsOf(modelArns: readonly string[]): string {
  const models = new Set<string>();
  let global = false;
  for (const arn of modelArns) {
    const match = FOUNDATION_MODEL_ARN.exec(arn);
    if (!match) throw new Error(`the profile routes to ${arn}, not a foundation model`);
    if (match[1] === '') global = true;
    models.add(match[2] ?? '');
  }
  const [model, ...others] = [...models];
  if (model === undefined) throw new Error('the profile lists no model');
  if (others.length > 0) throw new Error(`the profile routes to several models: ${[...models].join(', ')}`);
  return global ? `global.${model}` : model;
}

/** `GetInferenceProfile`'s answer, as far as it is read. */
export const inferenceProfileAnswer = z.object({
  inferenceProfileArn: z.string(),
  inferenceProfileId: z.string(),
  inferenceProfileName: z.string(),
  type: z.string(),
  models: z.array(z.object({ modelArn: z.string() })).min(1),
});
export type InferenceProfileAnswer = z.infer<typeof inferenceProfileAnswer>;

/** `ListTagsForResource`'s answer. */
export const tagsAnswer = z.object({ tags: z.array(z.object({ key: z.string(), value: z.string() })).default([]) });

/** Where profiles are read from: Bedrock's control plane (./profile-client), or a stand-in in tests. */
export interface ProfileSource {
  getInferenceProfile(ref: ProfileRef): Promise<InferenceProfileAnswer>;
  listTags(ref: ProfileRef): Promise<Record<string, string>>;
}

export interface ProfileCacheOptions {
  /** How long a resolved profile is kept. @default 10 minutes */
  readonly ttlMs?: number;
  /** How long a failure (or a profile whose tags could not be read) is kept before it is tried again. @default 60 s */
  readonly failureTtlMs?: number;
  readonly now?: () => number;
  /** Told why a profile could not be resolved, or its tags read. */
  readonly onFailure?: (arn: string, reason: string) => void;
}

interface Entry {
  readonly resolution: Promise<ProfileResolution>;
  expiresAt: number;
}

/**
 * Resolves application inference profiles, each at most once per TTL in a warm environment. A profile's model
 * never changes (a profile is immutable, and a recreated one gets a new id, so a new ARN), but its tags may, and
 * an ARN's profile may be deleted: a resolved profile is kept `ttlMs`, so a tag change or a deletion shows within
 * that. A failure (deleted, no permission, throttled) is kept `failureTtlMs`, so a batch of calls through it asks
 * once, and the next batches after that ask again. Calls in flight for one ARN share one request.
 */
export class InferenceProfileCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly failureTtlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly source: ProfileSource,
    private readonly options: ProfileCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 10 * 60_000;
    this.failureTtlMs = options.failureTtlMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  resolve(ref: ProfileRef): Promise<ProfileResolution> {
    const cached = this.entries.get(ref.arn);
    if (cached && cached.expiresAt > this.now()) return cached.resolution;
    const entry: Entry = { resolution: this.fetch(ref), expiresAt: Number.POSITIVE_INFINITY };
    this.entries.set(ref.arn, entry);
    void entry.resolution.then((resolution) => {
      const keep = resolution.resolved && resolution.profile.tags !== undefined ? this.ttlMs : this.failureTtlMs;
      entry.expiresAt = this.now() + keep;
    });
    return entry.resolution;
  }

  private async fetch(ref: ProfileRef): Promise<ProfileResolution> {
    let answer: InferenceProfileAnswer;
    let pricedAs: string;
    try {
      answer = await this.source.getInferenceProfile(ref);
      if (answer.type !== 'APPLICATION') throw new Error(`${ref.arn} is a ${answer.type} profile`);
      pricedAs = pricedAsOf(answer.models.map((model) => model.modelArn));
    } catch (error) {
      const reason = `GetInferenceProfile: ${(error as Error).message}`;
      this.options.onFailure?.(ref.arn, reason);
      return { resolved: false, reason };
    }
    let tags: Record<string, string> | undefined;
    try {
      tags = await this.source.listTags(ref);
    } catch (error) {
      this.options.onFailure?.(ref.arn, `ListTagsForResource: ${(error as Error).message}`);
    }
    const profile: ResolvedProfile = {
      ...ref,
      name: answer.inferenceProfileName,
      pricedAs,
      modelArns: answer.models.map((model) => model.modelArn),
      ...(tags ? { tags } : {}),
    };
    return { resolved: true, profile };
  }
}
