import * as z from 'zod';
import type { AuditDetails } from '../audit/entry';
import type { AuditLog } from '../audit/log';
import { ratesAt, resolveModelId } from '.';
import type { PriceStore } from './store';
import {
  ANY_SCOPE,
  decimalPrice,
  PriceBook,
  type PriceSource,
  type PriceVersion,
  VERSION_PRICE_FIELDS,
  type VersionPrices,
} from './versions';

/** The subject of a model's audit chain. */
export const modelSubject = (model: string) => `MODEL#${model}`;

/** The most versions one request (one `prices set --from FILE`) may set. */
export const MAX_PRICES_PER_REQUEST = 50;

/**
 * One entry of a `prices set` file: a model and the prices (USD per 1M tokens, decimal strings) that take effect
 * at `effectiveFrom` (default: when the request is made). Fields left out keep the price they have.
 */
export const priceEntrySchema = z
  .strictObject({
    model: z.string().trim().min(1).max(256),
    input: decimalPrice.optional(),
    output: decimalPrice.optional(),
    cacheRead: decimalPrice.optional(),
    cacheWrite: decimalPrice.optional(),
    cacheWrite1h: decimalPrice.optional(),
    perImage: decimalPrice.optional(),
    effectiveFrom: z.iso.datetime({ offset: true }).optional(),
  })
  .refine((entry) => VERSION_PRICE_FIELDS.some((field) => entry[field] !== undefined), {
    message: 'an entry sets at least one price (input, output, cacheRead, cacheWrite, cacheWrite1h, perImage)',
  });
export type PriceEntry = z.infer<typeof priceEntrySchema>;
export const priceEntriesSchema = z.array(priceEntrySchema).min(1).max(MAX_PRICES_PER_REQUEST);

/** One version as `prices set`, `remove` and `refresh` report it. */
export interface RecordedPrice {
  readonly model: string;
  readonly source: PriceSource;
  readonly scope: string;
  readonly effectiveFrom: string;
  readonly removed: boolean;
  readonly old: Record<string, string>;
  readonly new: Record<string, string>;
  /** False when the very same version was recorded before (a retried request): nothing was written again. */
  readonly recorded: boolean;
}

export interface PriceChangeContext {
  readonly actor: string;
  /** Added to the audit entry's details (the caller's source IP and user agent, the Price List SKUs). */
  readonly details?: AuditDetails;
}

/**
 * Records price versions and audits each as `price.changed` on the model's chain, with the rates a call in the
 * version's scope is charged before and after it takes effect. Shared by the admin function (set prices) and the
 * Price List fetch (fetched prices).
 */
export class PriceRecorder {
  constructor(
    private readonly store: Pick<PriceStore, 'all' | 'add'>,
    private readonly audit: Pick<AuditLog, 'append'>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Admin prices from a `prices set` file, each a `set` version applying wherever the model is called. */
  async set(entries: readonly PriceEntry[], context: PriceChangeContext): Promise<RecordedPrice[]> {
    const at = this.now().toISOString();
    const versions = entries.map((entry) => {
      const prices: VersionPrices = {};
      for (const field of VERSION_PRICE_FIELDS) if (entry[field] !== undefined) prices[field] = entry[field];
      return this.version({
        model: resolveModelId(entry.model),
        source: 'set',
        scope: ANY_SCOPE,
        effectiveFrom: entry.effectiveFrom ?? at,
        prices,
        recordedBy: context.actor,
        recordedAt: at,
      });
    });
    return this.record(versions, context);
  }

  /** Withdraws a model's set price from `effectiveFrom` (default now): the fetched or catalog price applies again. */
  async remove(model: string, effectiveFrom: string | undefined, context: PriceChangeContext) {
    const at = this.now().toISOString();
    const version = this.version({
      model: resolveModelId(model),
      source: 'set',
      scope: ANY_SCOPE,
      effectiveFrom: effectiveFrom ?? at,
      prices: {},
      removed: true,
      recordedBy: context.actor,
      recordedAt: at,
    });
    return this.record([version], context);
  }

  /** Records versions made elsewhere (the Price List fetch), audited the same way. */
  async record(versions: readonly PriceVersion[], context: PriceChangeContext): Promise<RecordedPrice[]> {
    let book = new PriceBook(await this.store.all());
    const recorded: RecordedPrice[] = [];
    for (const version of versions) {
      const call = { modelId: version.model, time: version.effectiveFrom, ...this.scopeOf(version) };
      const before = ratesAt({ ...call, book });
      const added = await this.store.add(version);
      book = new PriceBook([...book.all, version]);
      const after = ratesAt({ ...call, book });
      const change = {
        model: version.model,
        source: version.source,
        scope: version.scope,
        effectiveFrom: version.effectiveFrom,
        removed: version.removed ?? false,
        old: before.rates,
        new: after.rates,
      };
      if (added) {
        const { model: _model, ...details } = change;
        await this.audit.append({
          subject: modelSubject(version.model),
          actor: context.actor,
          action: 'price.changed',
          details: { ...details, ...(version.skus ? { skus: version.skus } : {}), ...context.details },
        });
      }
      recorded.push({ ...change, recorded: added });
    }
    return recorded;
  }

  /** The call a version's scope stands for, for the rates before and after it. */
  private scopeOf(version: PriceVersion): { region?: string; modelId?: string } {
    if (version.scope === ANY_SCOPE) return {};
    if (version.scope === 'global') return { modelId: `global.${version.model}` };
    return { region: version.scope };
  }

  private version(fields: PriceVersion): PriceVersion {
    return { ...fields, effectiveFrom: new Date(fields.effectiveFrom).toISOString() };
  }
}
