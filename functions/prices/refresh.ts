import type { AlertMessage } from '../../shared/notify';
import type { PriceRecorder, RecordedPrice } from '../../shared/pricing/admin';
import {
  type FetchedPrices,
  type MappedPriceList,
  type ModelMapping,
  mapPriceList,
  type PriceListChange,
  type PriceListProduct,
  priceListChanges,
} from '../../shared/pricing/price-list';
import type { PriceStore } from '../../shared/pricing/store';
import { PriceBook } from '../../shared/pricing/versions';

export const PRICES_ACTOR = 'system:prices';

export interface RefreshReport {
  readonly fetchedAt: string;
  readonly products: number;
  /** Models and scopes the Price List priced. */
  readonly priced: number;
  readonly changes: readonly (RecordedPrice & { change: PriceListChange; skus: readonly string[] })[];
  /** On-demand token products no mapping entry names: not priced (see price-list-models.json). */
  readonly unmapped: readonly string[];
}

export interface RefreshDeps {
  readonly store: Pick<PriceStore, 'all'>;
  readonly recorder: Pick<PriceRecorder, 'record'>;
  readonly mapping: readonly ModelMapping[];
  readonly alert: (message: AlertMessage) => Promise<void>;
  readonly now?: () => Date;
}

/**
 * One fetch: maps the products, records each new, changed or vanished price as a version from now on (audited
 * `price.changed` with its SKUs, by PriceRecorder), and alerts once when anything changed. A retry finds the
 * versions it recorded and records and alerts nothing more.
 */
export async function refreshPrices(
  source: { readonly products: readonly PriceListProduct[] } | { readonly fetched: readonly FetchedPrices[] },
  deps: RefreshDeps,
  actor: string = PRICES_ACTOR,
): Promise<RefreshReport> {
  const now = deps.now?.() ?? new Date();
  const mapped: MappedPriceList =
    'products' in source ? mapPriceList(source.products, deps.mapping) : { prices: [...source.fetched], unmapped: [] };
  const book = new PriceBook(await deps.store.all());
  const changes = priceListChanges(mapped.prices, book, now);
  const recorded = await deps.recorder.record(
    changes.map((c) => c.version),
    { actor },
  );
  const report: RefreshReport = {
    fetchedAt: now.toISOString(),
    products: 'products' in source ? source.products.length : source.fetched.length,
    priced: mapped.prices.length,
    changes: recorded.map((r, i) => ({
      ...r,
      change: changes[i]?.change ?? 'new',
      skus: changes[i]?.version.skus ?? [],
    })),
    unmapped: mapped.unmapped,
  };
  const written = report.changes.filter((c) => c.recorded);
  if (written.length > 0) await deps.alert(alertOf(written, report.fetchedAt));
  return report;
}

function alertOf(changes: RefreshReport['changes'], at: string): AlertMessage {
  const count = (kind: PriceListChange) => changes.filter((c) => c.change === kind).length;
  const line = (c: RefreshReport['changes'][number]) =>
    c.change === 'vanished'
      ? `- ${c.model} (${c.scope}): no longer in the Price List; the catalog's price applies again`
      : `- ${c.model} (${c.scope}): ${c.change}, input ${c.old.input} -> ${c.new.input}, output ${c.old.output} -> ` +
        `${c.new.output} USD per 1M tokens (SKUs ${c.skus.join(', ')})`;
  return {
    subject: `Bedrock prices: ${count('new')} new, ${count('changed')} changed, ${count('vanished')} vanished`,
    body:
      `The AWS Price List fetch at ${at} recorded these prices, each charged from ${at} on (spend counted before ` +
      `is not repriced):\n${changes.map(line).join('\n')}\n\nSee them with: budgeteer prices list; the catalog ` +
      'against them with: budgeteer prices diff.',
    attributes: { kind: 'price-changed', severity: 'info' },
  };
}
