import Big from 'big.js';
import * as z from 'zod';
import models from './price-list-models.json';
import {
  ANY_SCOPE,
  decimalPrice,
  GLOBAL_SCOPE,
  type PriceBook,
  type PriceVersion,
  VERSION_PRICE_FIELDS,
  type VersionPriceField,
  type VersionPrices,
} from './versions';

/**
 * The AWS Price List (Query API `pricing:GetProducts`, answered from us-east-1) mapped to price versions.
 *
 * Two service codes price Bedrock's on-demand tokens:
 * - `AmazonBedrock` (Amazon's and open models): attributes `model` (a display name such as "Nova Micro"),
 *   `inferenceType` (the token kind: "Input tokens", "Output tokens", "Cache read input tokens", ...), `feature`
 *   ("On-demand Inference"; batch, provisioned and latency-optimized products are left out), `regionCode`,
 *   `usagetype`; prices per 1K tokens.
 * - `AmazonBedrockFoundationModels` (Marketplace models such as Anthropic's): the model is the product's
 *   `servicename`; there is no `inferenceType`, the token kind is in `usagetype` (`...InputTokenCount...`,
 *   `...CacheReadInputTokenCount...`); prices per 1M tokens; a `_Global` usage type prices `global.` profile calls
 *   and costs less than the regional (and geo-profile) one.
 *
 * Products are matched to models only through the explicit list in price-list-models.json (service code and
 * product name, exactly): matching by name similarity would price a model AWS lists but this list does not like
 * its sibling (Claude 3.5 Haiku like Claude 3 Haiku). A product nobody listed is reported as unmapped, never priced.
 */

/** The most model-and-scope prices one `prices refresh --from FILE` request carries to the admin function. */
export const MAX_FETCHED_PER_REQUEST = 80;

export const SERVICE_CODES = ['AmazonBedrock', 'AmazonBedrockFoundationModels'] as const;
export type ServiceCode = (typeof SERVICE_CODES)[number];

const mappingSchema = z.array(
  z.strictObject({
    model: z.string().min(1),
    serviceCode: z.enum(SERVICE_CODES),
    /** `model` (AmazonBedrock) or `servicename` (AmazonBedrockFoundationModels), exactly as the Price List writes it. */
    product: z.string().min(1),
  }),
);
export type ModelMapping = z.infer<typeof mappingSchema>[number];

/** The mapping this release ships (price-list-models.json). */
export const BUILT_IN_MAPPING: readonly ModelMapping[] = mappingSchema.parse(models);

/** The built-in mapping with `extra` entries, checked: no product names two models. */
export function readMapping(extra: unknown = []): ModelMapping[] {
  const all = [...BUILT_IN_MAPPING, ...mappingSchema.parse(extra)];
  const byProduct = new Map<string, string>();
  for (const entry of all) {
    const key = `${entry.serviceCode}\u0000${entry.product}`;
    const other = byProduct.get(key);
    if (other !== undefined && other !== entry.model) {
      throw new Error(
        `price list mapping: ${entry.serviceCode} product ${entry.product} names ${other} and ${entry.model}`,
      );
    }
    byProduct.set(key, entry.model);
  }
  return all;
}

/** One product of a GetProducts answer (each `PriceList` element is this, as a JSON string). */
const productSchema = z.object({
  serviceCode: z.string().optional(),
  product: z.object({
    sku: z.string(),
    productFamily: z.string().optional(),
    attributes: z.record(z.string(), z.string()),
  }),
  terms: z
    .object({
      OnDemand: z
        .record(
          z.string(),
          z.object({
            effectiveDate: z.string().optional(),
            priceDimensions: z.record(
              z.string(),
              z.object({
                unit: z.string().optional(),
                description: z.string().optional(),
                pricePerUnit: z.record(z.string(), z.string()),
              }),
            ),
          }),
        )
        .optional(),
    })
    .optional(),
});
export type PriceListProduct = z.infer<typeof productSchema>;

/** A GetProducts answer page, as saved by `aws pricing get-products` (its `PriceList` holds JSON strings). */
const pageSchema = z.object({ PriceList: z.array(z.union([z.string(), z.record(z.string(), z.unknown())])) });

/** The products of saved pages: a page, a list of pages, or a list of products (a bulk offer file's are read too). */
export function productsOf(saved: unknown): PriceListProduct[] {
  const pages = Array.isArray(saved) ? saved : [saved];
  const products: PriceListProduct[] = [];
  for (const page of pages) {
    const raw = pageSchema.safeParse(page).success
      ? (page as { PriceList: unknown[] }).PriceList
      : isOfferFile(page)
        ? offerProducts(page)
        : [page];
    for (const item of raw) products.push(productSchema.parse(typeof item === 'string' ? JSON.parse(item) : item));
  }
  return products;
}

/** A bulk offer file (`offers/v1.0/aws/<code>/current/index.json`): products by SKU, terms by SKU apart. */
function isOfferFile(page: unknown): page is { offerCode: string; products: Record<string, unknown>; terms: unknown } {
  return typeof page === 'object' && page !== null && 'products' in page && 'offerCode' in page;
}

function offerProducts(offer: { offerCode: string; products: Record<string, unknown>; terms: unknown }): unknown[] {
  const onDemand = ((offer.terms ?? {}) as { OnDemand?: Record<string, unknown> }).OnDemand ?? {};
  return Object.entries(offer.products).map(([sku, product]) => ({
    serviceCode: offer.offerCode,
    product,
    terms: { OnDemand: onDemand[sku] ?? {} },
  }));
}

/** The token kind an `AmazonBedrock` product's `inferenceType` names, or undefined for anything else. */
function kindOfInferenceType(inferenceType: string | undefined): VersionPriceField | undefined {
  const text = (inferenceType ?? '').toLowerCase();
  if (/cache\s*read/.test(text)) return 'cacheRead';
  if (/cache\s*write/.test(text)) return /1\s*h/.test(text) ? 'cacheWrite1h' : 'cacheWrite';
  if (/^input tokens?$/.test(text)) return 'input';
  if (/^output tokens?$/.test(text)) return 'output';
  return undefined;
}

/** The token kind in an `AmazonBedrockFoundationModels` usage type (`USE1-MP:USE1_InputTokenCount-Units`). */
function kindOfUsageType(usagetype: string): VersionPriceField | undefined {
  if (/batch|provisioned|latency/i.test(usagetype)) return undefined;
  if (/CacheReadInputTokenCount/i.test(usagetype)) return 'cacheRead';
  if (/CacheWrite1hInputTokenCount/i.test(usagetype)) return 'cacheWrite1h';
  if (/CacheWriteInputTokenCount/i.test(usagetype)) return 'cacheWrite';
  if (/(^|[_:-])InputTokenCount/i.test(usagetype)) return 'input';
  if (/(^|[_:-])OutputTokenCount/i.test(usagetype)) return 'output';
  return undefined;
}

/** Prices of one model in one scope, as a request carries them (`prices refresh --from FILE`). */
export const fetchedPricesSchema = z
  .array(
    z.strictObject({
      model: z.string().min(1).max(256),
      scope: z.string().min(1).max(32),
      prices: z.partialRecord(z.enum(VERSION_PRICE_FIELDS), decimalPrice),
      skus: z.array(z.string().max(64)).max(16),
    }),
  )
  .max(MAX_FETCHED_PER_REQUEST);

/** Prices of one model in one scope, as the Price List gives them now. */
export interface FetchedPrices {
  readonly model: string;
  readonly scope: string;
  readonly prices: VersionPrices;
  readonly skus: readonly string[];
}

export interface MappedPriceList {
  readonly prices: FetchedPrices[];
  /** Service code and product name of on-demand token products no mapping entry names. */
  readonly unmapped: string[];
}

const THOUSAND = new Big(1000);

/** Maps products to USD per 1M tokens per model and scope; what is not an on-demand token price is left out. */
export function mapPriceList(products: readonly PriceListProduct[], mapping: readonly ModelMapping[]): MappedPriceList {
  const modelOf = new Map(mapping.map((m) => [`${m.serviceCode}\u0000${m.product}`, m.model]));
  const grouped = new Map<string, { model: string; scope: string; prices: VersionPrices; skus: Set<string> }>();
  const unmapped = new Set<string>();
  const conflicts = new Set<string>();
  for (const item of products) {
    const { attributes, sku } = item.product;
    const serviceCode = item.serviceCode ?? attributes.servicecode ?? '';
    let product: string | undefined;
    let kind: VersionPriceField | undefined;
    let perThousand = false;
    let scope = attributes.regionCode ?? '';
    if (serviceCode === 'AmazonBedrock') {
      if (attributes.feature !== undefined && !/on-?demand/i.test(attributes.feature)) continue;
      product = attributes.model;
      kind = kindOfInferenceType(attributes.inferenceType);
      perThousand = true;
    } else if (serviceCode === 'AmazonBedrockFoundationModels') {
      product = attributes.servicename;
      kind = kindOfUsageType(attributes.usagetype ?? '');
      if (/_Global/i.test(attributes.usagetype ?? '')) scope = GLOBAL_SCOPE;
    } else continue;
    if (product === undefined || kind === undefined || scope === '') continue;
    const model = modelOf.get(`${serviceCode}\u0000${product}`);
    if (model === undefined) {
      unmapped.add(`${serviceCode}: ${product}`);
      continue;
    }
    const usd = Object.values(item.terms?.OnDemand ?? {})
      .flatMap((term) => Object.values(term.priceDimensions))
      .map((dimension) => dimension.pricePerUnit.USD)
      .find((value): value is string => value !== undefined && /^\d+(\.\d+)?$/.test(value));
    if (usd === undefined) continue;
    const perMillion = perThousand ? new Big(usd).times(THOUSAND) : new Big(usd);
    const key = `${model}\u0000${scope}`;
    const group = grouped.get(key) ?? { model, scope, prices: {}, skus: new Set<string>() };
    const held = group.prices[kind];
    if (held !== undefined && !new Big(held).eq(perMillion)) {
      // Two products price one model, scope and token kind differently: which is right is not for the order of the
      // answer to decide. Neither is recorded; the model keeps the price it had.
      conflicts.add(key);
      unmapped.add(
        `${serviceCode}: ${product} (${scope} ${kind}: ${held} and ${perMillion.toFixed()} per 1M, conflicting)`,
      );
    }
    group.prices[kind] = perMillion.toFixed();
    group.skus.add(sku);
    grouped.set(key, group);
  }
  return {
    prices: [...grouped.entries()]
      .filter(([key]) => !conflicts.has(key))
      .map(([, g]) => g)
      .filter((g) => g.prices.input !== undefined || g.prices.output !== undefined)
      .map((g) => ({ model: g.model, scope: g.scope, prices: g.prices, skus: [...g.skus].sort() })),
    unmapped: [...unmapped].sort(),
  };
}

export type PriceListChange = 'new' | 'changed' | 'vanished';

/**
 * The versions a fetch adds: a fetched price of a model and scope that is new or differs from the fetched version
 * in effect at `now`, and a removal for each fetched price in effect that the Price List no longer has. Every
 * version takes effect at `now`: what was counted before is never repriced. Unchanged prices add nothing, so a
 * retried fetch records nothing twice.
 */
export function priceListChanges(
  fetched: readonly FetchedPrices[],
  book: PriceBook,
  now: Date,
): { version: PriceVersion; change: PriceListChange }[] {
  const at = now.toISOString();
  const base = { source: 'fetched' as const, effectiveFrom: at, recordedBy: 'system:prices', recordedAt: at };
  const changes: { version: PriceVersion; change: PriceListChange }[] = [];
  const seen = new Set<string>();
  for (const price of fetched) {
    seen.add(`${price.model}\u0000${price.scope}`);
    const current = book.latest(price.model, 'fetched', price.scope, now.getTime());
    if (current && samePrices(current.prices, price.prices)) continue;
    changes.push({
      version: { ...base, model: price.model, scope: price.scope, prices: price.prices, skus: [...price.skus] },
      change: current ? 'changed' : 'new',
    });
  }
  for (const version of book.all) {
    if (version.source !== 'fetched' || version.scope === ANY_SCOPE) continue;
    const key = `${version.model}\u0000${version.scope}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const current = book.latest(version.model, 'fetched', version.scope, now.getTime());
    if (!current) continue;
    changes.push({
      version: { ...base, model: version.model, scope: version.scope, prices: {}, removed: true },
      change: 'vanished',
    });
  }
  return changes;
}

function samePrices(a: VersionPrices, b: VersionPrices): boolean {
  return VERSION_PRICE_FIELDS.every((field) => {
    const x = a[field];
    const y = b[field];
    return x === undefined || y === undefined ? x === y : new Big(x).eq(new Big(y));
  });
}
