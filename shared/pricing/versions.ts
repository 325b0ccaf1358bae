import * as z from 'zod';

/**
 * Price versions: prices that took effect at a time, laid over the repo's catalog. A version is never changed or
 * deleted; a newer one (or a `removed` one, for a set price) takes over from its `effectiveFrom`. A call is priced
 * by the versions in effect at the call's own time, so spend already counted is never repriced, and a late record
 * of an old call is priced as it was then.
 */

/** `set`: an admin's (negotiated) price, which wins; `fetched`: the AWS Price List's. */
export const PRICE_SOURCES = ['set', 'fetched'] as const;
export type PriceSource = (typeof PRICE_SOURCES)[number];

/** Every price a version may carry, USD per 1M tokens (perImage: per image). */
export const VERSION_PRICE_FIELDS = ['input', 'output', 'cacheRead', 'cacheWrite', 'cacheWrite1h', 'perImage'] as const;
export type VersionPriceField = (typeof VERSION_PRICE_FIELDS)[number];
export type VersionPrices = Partial<Record<VersionPriceField, string>>;

/** A set price applies wherever the model is called; a fetched one to its Region, or to `global.` profile calls. */
export const ANY_SCOPE = 'any';
export const GLOBAL_SCOPE = 'global';

export const decimalPrice = z
  .string()
  .regex(/^\d{1,9}(\.\d{1,12})?$/, 'must be a decimal string such as "0.25" (USD per 1M tokens)');

export const priceVersionSchema = z.strictObject({
  /** The catalog's base model id (prefixes and ARNs resolved), or the id a model not in the catalog goes by. */
  model: z.string().min(1).max(256),
  source: z.enum(PRICE_SOURCES),
  /** `any`, a Region code (`us-east-1`) or `global`. */
  scope: z.string().min(1).max(32),
  effectiveFrom: z.iso.datetime({ offset: true }),
  prices: z.partialRecord(z.enum(VERSION_PRICE_FIELDS), decimalPrice),
  /** A set price withdrawn from `effectiveFrom` on: the fetched or catalog price applies again. */
  removed: z.boolean().optional(),
  /** The Price List SKUs the prices came from (fetched versions). */
  skus: z.array(z.string()).optional(),
  /** Who recorded it: an admin's ARN or `system:prices`. */
  recordedBy: z.string().min(1),
  recordedAt: z.iso.datetime({ offset: true }),
});
export type PriceVersion = z.infer<typeof priceVersionSchema>;

/** The sort key of a version under its model: its layer, then time, so one Query reads a model's history in order. */
export const versionKey = (v: Pick<PriceVersion, 'source' | 'scope' | 'effectiveFrom' | 'recordedAt'>) =>
  `${v.source}#${v.scope}#${new Date(v.effectiveFrom).toISOString()}#${new Date(v.recordedAt).toISOString()}`;

/** How a version names itself where a charge records what priced it (the ledger's `catalogVersion`). */
export const versionLabel = (v: Pick<PriceVersion, 'source' | 'scope' | 'effectiveFrom'>) =>
  `${v.source}:${v.scope}@${new Date(v.effectiveFrom).toISOString()}`;

/** What applies to one call: the prices laid over the catalog's, and the versions they came from. */
export interface PricesInEffect {
  readonly prices: VersionPrices;
  readonly versions: readonly PriceVersion[];
}

const layerKey = (model: string, source: PriceSource, scope: string) => `${model}\u0000${source}\u0000${scope}`;
const instant = (iso: string) => Date.parse(iso);

/**
 * Every version, indexed for the question ingest asks per call: which prices are in effect for this model, Region
 * and kind of profile at this time. Built once per cache load (see PriceBookCache), then answered from memory.
 */
export class PriceBook {
  /** Versions of one layer (model, source, scope), oldest effective first. */
  private readonly layers = new Map<string, PriceVersion[]>();
  private readonly models = new Set<string>();

  constructor(readonly all: readonly PriceVersion[] = []) {
    for (const version of all) {
      const key = layerKey(version.model, version.source, version.scope);
      const list = this.layers.get(key) ?? [];
      list.push(version);
      this.layers.set(key, list);
      this.models.add(version.model);
    }
    for (const list of this.layers.values()) {
      list.sort(
        (a, b) => instant(a.effectiveFrom) - instant(b.effectiveFrom) || instant(a.recordedAt) - instant(b.recordedAt),
      );
    }
  }

  static readonly EMPTY = new PriceBook();

  get size(): number {
    return this.all.length;
  }

  has(model: string): boolean {
    return this.models.has(model);
  }

  /** The newest version of a layer in effect at `at` (the last recorded wins a tie), unless it is a removal. */
  latest(model: string, source: PriceSource, scope: string, at: number): PriceVersion | undefined {
    const list = this.layers.get(layerKey(model, source, scope));
    let found: PriceVersion | undefined;
    for (const version of list ?? []) {
      if (instant(version.effectiveFrom) > at) break;
      found = version;
    }
    return found?.removed ? undefined : found;
  }

  /**
   * The prices in effect for a call at `time`: the fetched price of its scope (its Region, or `global` for a
   * `global.` profile call; else one fetched for any scope), then the set price over it. Fields a version leaves
   * out keep the price beneath (the catalog's, in the end). Undefined when no version applies.
   */
  inEffect(model: string, call: { region?: string; globalProfile: boolean; time: string }): PricesInEffect | undefined {
    if (!this.models.has(model)) return undefined;
    const at = instant(call.time);
    if (Number.isNaN(at)) return undefined;
    const scope = call.globalProfile ? GLOBAL_SCOPE : call.region;
    const fetched =
      (scope === undefined ? undefined : this.latest(model, 'fetched', scope, at)) ??
      this.latest(model, 'fetched', ANY_SCOPE, at);
    const set = this.latest(model, 'set', ANY_SCOPE, at);
    const versions = [fetched, set].filter((v): v is PriceVersion => v !== undefined);
    if (versions.length === 0) return undefined;
    const prices: VersionPrices = {};
    for (const version of versions) Object.assign(prices, version.prices);
    return { prices, versions };
  }
}
