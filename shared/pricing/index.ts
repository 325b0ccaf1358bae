import Big from 'big.js';
import * as z from 'zod';
import catalog from './catalog.json';
import { type PriceBook, versionLabel } from './versions';

export interface TokenCounts {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  cacheWrite1h?: number;
  images?: number;
}

export interface PriceQuote {
  model: string;
  costUsd: Big;
  unknownModel: boolean;
  /** The catalog's version, followed by the price versions laid over it (`+set:any@<time>`), if any. */
  catalogVersion: string;
}

export class PricingError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PricingError';
  }
}

// Prices are decimal strings so that no binary float ever holds money, not even while the JSON is parsed.
const price = z.string().regex(/^\d+(\.\d+)?$/, 'must be a decimal string such as "0.25"');
const fraction = price.refine((value) => new Big(value).lt(1), 'must be a fraction below 1');

const priceFields = {
  input: price.optional(),
  output: price.optional(),
  cacheRead: price.optional(),
  cacheWrite: price.optional(),
  cacheWrite1h: price.optional(),
  perImage: price.optional(),
};
const priceOverride = z.strictObject({ ...priceFields, note: z.string().optional() });

const modelSchema = z.strictObject({
  id: z.string().min(1),
  provider: z.string().min(1),
  name: z.string().min(1),
  ...priceFields,
  input: price,
  output: price,
  batchDiscount: fraction.optional(),
  /** Prompts (input + cache tokens) above the threshold are billed at multiplied rates (1M-context models). */
  longContext: z
    .strictObject({ thresholdTokens: z.number().int().positive(), inputMultiplier: price, outputMultiplier: price })
    .optional(),
  /** Overrides by source Region, where the published price differs from the base price. */
  regions: z.record(z.string().min(1), priceOverride).optional(),
  /** Overrides for calls through a `global.` cross-Region inference profile, priced below in-Region and geo calls. */
  globalProfile: priceOverride.optional(),
  /** Other ids the model goes by in events (bedrock-mantle names models without the runtime's version suffix). */
  aliases: z.array(z.string().min(1)).optional(),
  source: z.url(),
  asOf: z.iso.date(),
  verified: z.boolean(),
  note: z.string().optional(),
});

const catalogSchema = z.strictObject({
  version: z.string().min(1),
  currency: z.literal('USD'),
  unit: z.string(),
  verification: z.string().optional(),
  fallback: z.strictObject({
    reason: z.string().min(1),
    input: price,
    output: price,
    cacheRead: price,
    cacheWrite: price,
    cacheWrite1h: price,
    perImage: price,
  }),
  models: z.array(modelSchema).min(1),
});

type CatalogModel = z.infer<typeof modelSchema>;
type PriceField = keyof typeof priceFields;
type Prices = Partial<Record<PriceField, string>>;

const PRICE_FIELDS = Object.keys(priceFields) as PriceField[];

/** Lays the price fields of each source over the previous ones; other fields (notes, ids) are ignored. */
function mergePrices(...sources: (Prices | undefined)[]): Prices {
  const merged: Prices = {};
  for (const source of sources) {
    for (const field of PRICE_FIELDS) {
      const value = source?.[field];
      if (value !== undefined) merged[field] = value;
    }
  }
  return merged;
}

function loadCatalog() {
  const parsed = catalogSchema.safeParse(catalog);
  if (!parsed.success) {
    throw new PricingError(`invalid price catalog shared/pricing/catalog.json:\n${z.prettifyError(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  const byId = new Map<string, CatalogModel>();
  for (const model of parsed.data.models) {
    if (byId.has(model.id)) throw new PricingError(`invalid price catalog: model ${model.id} is listed twice`);
    byId.set(model.id, model);
  }
  // Events may name a model without its `:N` version suffix or with a context-window suffix (`:0:200k`); both
  // share the part before the first colon. A base that two entries share is left out: guessing could undercharge,
  // while an unresolved id is charged at the conservative fallback.
  const byBase = new Map<string, string | null>();
  for (const id of byId.keys()) {
    const base = baseOf(id);
    byBase.set(base, byBase.has(base) ? null : id);
  }
  const byAlias = new Map<string, string>();
  for (const model of parsed.data.models) {
    for (const alias of model.aliases ?? []) {
      if (byId.has(alias) || byAlias.has(alias)) {
        throw new PricingError(`invalid price catalog: alias ${alias} of ${model.id} names another model too`);
      }
      byAlias.set(alias, model.id);
    }
  }
  return { data: parsed.data, byId, byBase, byAlias };
}

const baseOf = (id: string): string => id.split(':', 1)[0] ?? id;

const { data: CATALOG, byId: MODELS, byBase: MODELS_BY_BASE, byAlias: MODELS_BY_ALIAS } = loadCatalog();

/** A context-window variant (`:200k`, `:48k`) is billed as its model. */
const CONTEXT_WINDOW_SUFFIX = /:\d+k$/i;

/** The catalog id an event's model id names: exactly, without its context-window suffix, by alias, or by base. */
function knownIdOf(id: string): string | undefined {
  const bare = id.replace(CONTEXT_WINDOW_SUFFIX, '');
  for (const candidate of [id, bare]) {
    if (MODELS.has(candidate)) return candidate;
    const aliased = MODELS_BY_ALIAS.get(candidate);
    if (aliased) return aliased;
  }
  return MODELS_BY_BASE.get(baseOf(id)) ?? undefined;
}

const PROFILE_PREFIX = /^(us-gov|us|eu|apac|global|jp|au|ca)\./;
const PER_MILLION = new Big('0.000001');

interface ModelRef {
  /** Catalog id when known, otherwise the id as best understood. */
  readonly id: string;
  /** Whether the call went through a `global.` cross-Region inference profile. */
  readonly globalProfile: boolean;
}

function parseModelRef(modelIdOrArn: string): ModelRef {
  const raw = modelIdOrArn.trim();
  let id = raw;
  if (raw.startsWith('arn:')) {
    // arn:PARTITION:bedrock:REGION:ACCOUNT:TYPE/ID; the id itself may contain colons (`...-v1:0`).
    const parts = raw.split(':');
    const resource = parts.slice(5).join(':');
    const slash = resource.indexOf('/');
    const type = resource.slice(0, slash);
    if (parts[2] !== 'bedrock' || slash < 0 || (type !== 'foundation-model' && type !== 'inference-profile')) {
      // Application inference profiles, provisioned and custom models hide the base model: not resolvable here
      // (ingest resolves an application profile first, through Bedrock: ./profiles.ts, and prices its model).
      return { id: raw, globalProfile: false };
    }
    id = resource.slice(slash + 1);
  }
  const prefix = PROFILE_PREFIX.exec(id)?.[1];
  if (prefix !== undefined) id = id.slice(prefix.length + 1);
  return { id: knownIdOf(id) ?? id, globalProfile: prefix === 'global' };
}

/**
 * Resolves a model id as it appears in events to the catalog's base model id: strips inference-profile prefixes
 * (us., eu., apac., global., us-gov., jp., au., ca.), accepts foundation-model ARNs and inference-profile ARNs;
 * application-inference-profile ARNs cannot be resolved here (see ./profiles.ts) and are returned as is. Ids without a version suffix, with
 * context-window suffixes, and the names bedrock-mantle uses (catalog `aliases`) resolve to the catalog entry.
 */
export function resolveModelId(modelIdOrArn: string): string {
  return parseModelRef(modelIdOrArn).id;
}

function checkedCount(tokens: TokenCounts, field: keyof TokenCounts, required: boolean): number {
  const value: unknown = tokens[field];
  if (value === undefined && !required) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new PricingError(`token count ${field} must be a non-negative safe integer, got ${String(value)}`);
  }
  return value;
}

interface RateArgs {
  modelId: string;
  region?: string;
  time?: string;
  book?: PriceBook;
}

/** The catalog's prices for a call, with the price versions in effect at its time laid over them. */
function layeredPrices(args: RateArgs) {
  const ref = parseModelRef(args.modelId);
  const model = MODELS.get(ref.id);
  // A set price wins over a fetched one, and both over the catalog: each layer keeps the fields it leaves out.
  const versions =
    args.book && args.time !== undefined
      ? args.book.inEffect(ref.id, { region: args.region, globalProfile: ref.globalProfile, time: args.time })
      : undefined;
  // A model the catalog lacks is known once versions price both its input and its output; otherwise the
  // fallback fills what they leave out, so an unpriced model never passes as cheap.
  const known = model !== undefined || (versions?.prices.input !== undefined && versions.prices.output !== undefined);
  // Global profile rates do not depend on the source Region, so they are laid over a regional override.
  // A model known by its versions alone bills what they leave out as the catalog's rules say (cache as input).
  const base: (Prices | undefined)[] = model
    ? [model, args.region === undefined ? undefined : model.regions?.[args.region]]
    : known
      ? []
      : [CATALOG.fallback];
  const prices = mergePrices(...base, model && ref.globalProfile ? model.globalProfile : undefined, versions?.prices);

  return { ref, model, versions, known, prices };
}

/**
 * The rates (USD per 1M tokens; perImage per image) a call of `modelId` at `time` is charged: what `prices diff`
 * compares and what an audited price change records as old and new. Cache rates a model lacks are its input rate.
 */
export function ratesAt(args: RateArgs): { model: string; known: boolean; rates: Record<string, string> } {
  const { ref, known, prices } = layeredPrices(args);
  const input = prices.input ?? CATALOG.fallback.input;
  const cacheWrite = prices.cacheWrite ?? input;
  const rates: Record<string, string> = {
    input,
    output: prices.output ?? CATALOG.fallback.output,
    cacheRead: prices.cacheRead ?? input,
    cacheWrite,
    cacheWrite1h: prices.cacheWrite1h ?? cacheWrite,
  };
  if (prices.perImage !== undefined) rates.perImage = prices.perImage;
  return { model: ref.id, known, rates };
}

/**
 * Prices one call exactly (big.js, no JS float ever touches money). region selects regional overrides; batch
 * applies the batch discount. Unknown model => fallback prices, unknownModel: true, model = resolved id.
 */
export function priceCall(args: {
  modelId: string;
  region?: string;
  tokens: TokenCounts;
  batch?: boolean;
  /** The call's time (ISO 8601): with `book`, the price versions in effect then apply. */
  time?: string;
  /** Price versions (fetched and set) to lay over the catalog; without it, the catalog alone prices. */
  book?: PriceBook;
}): PriceQuote {
  const { tokens } = args;
  if (typeof tokens !== 'object' || tokens === null) throw new PricingError('token counts are missing');
  const counts = {
    input: checkedCount(tokens, 'input', true),
    output: checkedCount(tokens, 'output', true),
    cacheRead: checkedCount(tokens, 'cacheRead', true),
    cacheWrite: checkedCount(tokens, 'cacheWrite', true),
    cacheWrite1h: checkedCount(tokens, 'cacheWrite1h', false),
    images: checkedCount(tokens, 'images', false),
  };

  const { ref, model, versions, known, prices } = layeredPrices(args);
  const input = new Big(prices.input ?? CATALOG.fallback.input);
  const output = new Big(prices.output ?? CATALOG.fallback.output);
  // A model without a published cache price bills cache tokens as ordinary input tokens, so input is the honest
  // rate and never $0. A missing 1h write price takes the 5-minute write price first: 1h writes never cost less.
  const cacheRead = prices.cacheRead !== undefined ? new Big(prices.cacheRead) : input;
  const cacheWrite = prices.cacheWrite !== undefined ? new Big(prices.cacheWrite) : input;
  const cacheWrite1h = prices.cacheWrite1h !== undefined ? new Big(prices.cacheWrite1h) : cacheWrite;
  // Models without a per-image price bill images as input tokens, which the input count already holds.
  const perImage = new Big(prices.perImage ?? 0);

  let promptRate = new Big(1);
  let outputRate = new Big(1);
  const longContext = model?.longContext;
  const promptTokens = counts.input + counts.cacheRead + counts.cacheWrite + counts.cacheWrite1h;
  if (longContext && promptTokens > longContext.thresholdTokens) {
    promptRate = new Big(longContext.inputMultiplier);
    outputRate = new Big(longContext.outputMultiplier);
  }

  const promptCost = input
    .times(counts.input)
    .plus(cacheRead.times(counts.cacheRead))
    .plus(cacheWrite.times(counts.cacheWrite))
    .plus(cacheWrite1h.times(counts.cacheWrite1h))
    .times(promptRate);
  let cost = promptCost
    .plus(output.times(counts.output).times(outputRate))
    .times(PER_MILLION)
    .plus(perImage.times(counts.images));
  // A batch request for a model without a published batch price is charged on-demand: batch is never dearer.
  if (args.batch && model?.batchDiscount !== undefined) cost = cost.times(new Big(1).minus(model.batchDiscount));

  const label = [CATALOG.version, ...(versions?.versions ?? []).map(versionLabel)].join('+');
  return { model: ref.id, costUsd: cost, unknownModel: !known, catalogVersion: label };
}

export function catalogVersion(): string {
  return CATALOG.version;
}

export function knownModels(): string[] {
  return [...MODELS.keys()];
}
