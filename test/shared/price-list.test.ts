import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { priceCall } from '../../shared/pricing';
import {
  BUILT_IN_MAPPING,
  mapPriceList,
  priceListChanges,
  productsOf,
  readMapping,
} from '../../shared/pricing/price-list';
import { PriceBook, type PriceVersion } from '../../shared/pricing/versions';

/** The local stack's Price List (local/price-list) and a later one (test/fixtures/price-list). */
const page = (name: string): unknown =>
  JSON.parse(
    readFileSync(
      name === 'get-products-changed'
        ? join(__dirname, '..', 'fixtures', 'price-list', `${name}.json`)
        : join(__dirname, '..', '..', 'local', 'price-list', `${name}.json`),
      'utf8',
    ),
  );
const products = [...productsOf(page('get-products-bedrock')), ...productsOf(page('get-products-foundation-models'))];
const mapped = mapPriceList(products, BUILT_IN_MAPPING);
const pricesOf = (model: string, scope: string) =>
  mapped.prices.find((p) => p.model === model && p.scope === scope)?.prices;

describe('the AWS Price List mapped to prices per 1M tokens', () => {
  it('AmazonBedrock: per 1K tokens, token kind from inferenceType, on-demand only (batch left out)', () => {
    expect(pricesOf('amazon.nova-lite-v1:0', 'us-east-1')).toEqual({
      input: '0.06',
      output: '0.24',
      cacheRead: '0.015',
    });
  });

  it('AmazonBedrockFoundationModels: per 1M tokens, token kind from usagetype; _Global prices global profile calls, below the regional', () => {
    expect(pricesOf('anthropic.claude-sonnet-4-5-20250929-v1:0', 'us-east-1')).toEqual({
      input: '3.3',
      output: '16.5',
      cacheRead: '0.33',
      cacheWrite: '4.125',
    });
    expect(pricesOf('anthropic.claude-sonnet-4-5-20250929-v1:0', 'global')).toEqual({ input: '3', output: '15' });
  });

  it('the mapped prices agree with the catalog (the test oracle) where both price a model', () => {
    const book = new PriceBook(
      mapped.prices.map(
        (p): PriceVersion => ({
          ...p,
          skus: [...p.skus],
          source: 'fetched',
          effectiveFrom: '2026-11-01T00:00:00.000Z',
          recordedBy: 'system:prices',
          recordedAt: '2026-11-01T00:00:00.000Z',
        }),
      ),
    );
    const tokens = { input: 1_234_567, output: 98_765, cacheRead: 4321, cacheWrite: 0 };
    for (const modelId of [
      'amazon.nova-lite-v1:0',
      'anthropic.claude-sonnet-4-5-20250929-v1:0',
      'global.anthropic.claude-sonnet-4-5-20250929-v1:0',
    ]) {
      const catalog = priceCall({ modelId, region: 'us-east-1', tokens });
      const fetched = priceCall({ modelId, region: 'us-east-1', tokens, book, time: '2026-11-02T00:00:00Z' });
      expect(fetched.costUsd.toFixed()).toBe(catalog.costUsd.toFixed());
      expect(fetched.catalogVersion).toContain('+fetched:');
    }
  });

  it('a model the mapping lists but the catalog lacks is priced from the Price List', () => {
    expect(pricesOf('amazon.nova-2-pro-v1:0', 'us-east-1')).toEqual({ input: '1.25', output: '10' });
  });

  it('an unlisted model is reported unmapped, never priced like its listed sibling', () => {
    expect(mapped.unmapped).toEqual([
      'AmazonBedrock: Nova 2.0 Pro Preview',
      'AmazonBedrockFoundationModels: Claude Sonnet 4.6 Preview (Amazon Bedrock Edition)',
    ]);
    expect(mapped.prices.map((p) => p.model)).not.toContain(expect.stringContaining('preview'));
    // Its sibling's prices are untouched by the preview's cheaper ones.
    expect(pricesOf('amazon.nova-2-pro-v1:0', 'us-east-1')?.input).toBe('1.25');
  });

  it('records neither of two products that price one model, scope and token kind differently, and reports them', () => {
    const lite = products.filter(
      (p) => p.product.attributes.model === 'Nova Lite' && p.product.attributes.inferenceType === 'Input tokens',
    );
    const twin = structuredClone(lite[0]) as (typeof products)[number];
    twin.product.sku = 'NLTWIN00IN000001';
    for (const term of Object.values(twin.terms?.OnDemand ?? {})) {
      for (const dimension of Object.values(term.priceDimensions)) dimension.pricePerUnit.USD = '0.0000500000';
    }

    for (const order of [
      [...products, twin],
      [twin, ...products],
    ]) {
      const both = mapPriceList(order, BUILT_IN_MAPPING);
      expect(both.prices.find((p) => p.model === 'amazon.nova-lite-v1:0' && p.scope === 'us-east-1')).toBeUndefined();
      expect(both.unmapped).toContainEqual(
        expect.stringMatching(/^AmazonBedrock: Nova Lite \(us-east-1 input: .*conflicting\)$/),
      );
      // The other models are priced as before.
      expect(both.prices.find((p) => p.model === 'amazon.nova-2-pro-v1:0')?.prices.input).toBe('1.25');
    }
  });

  it('names each price by the SKUs it came from', () => {
    expect(mapped.prices.find((p) => p.model === 'amazon.nova-lite-v1:0')?.skus).toEqual([
      'NL000000CR000001',
      'NL000000IN000001',
      'NL000000OUT00001',
    ]);
  });

  it('refuses a mapping that names one product for two models', () => {
    expect(() =>
      readMapping([{ model: 'amazon.other-v1:0', serviceCode: 'AmazonBedrock', product: 'Nova Lite' }]),
    ).toThrow(/Nova Lite names amazon.nova-lite-v1:0 and amazon.other-v1:0/);
  });
});

describe('what a fetch records: new, changed and vanished prices, each from the fetch on', () => {
  const first = new Date('2026-12-01T06:00:00.000Z');
  const second = new Date('2026-12-02T06:00:00.000Z');

  it('the first fetch adds every price as new; the same fetch again adds nothing', () => {
    const changes = priceListChanges(mapped.prices, PriceBook.EMPTY, first);
    expect(changes.map((c) => c.change)).toEqual(mapped.prices.map(() => 'new'));
    expect(changes[0]?.version).toMatchObject({
      source: 'fetched',
      effectiveFrom: first.toISOString(),
      recordedBy: 'system:prices',
    });

    const book = new PriceBook(changes.map((c) => c.version));
    expect(priceListChanges(mapped.prices, book, second)).toEqual([]);
  });

  it('a changed price is a new version from the fetch; a vanished one is withdrawn; spend before is priced as it was', () => {
    const book = new PriceBook(priceListChanges(mapped.prices, PriceBook.EMPTY, first).map((c) => c.version));
    const changed = mapPriceList(productsOf(page('get-products-changed')), BUILT_IN_MAPPING).prices;

    const changes = priceListChanges(changed, book, second);

    expect(changes.map((c) => [c.change, c.version.model, c.version.scope])).toEqual([
      ['changed', 'amazon.nova-lite-v1:0', 'us-east-1'],
      ['vanished', 'amazon.nova-2-pro-v1:0', 'us-east-1'],
    ]);
    const after = new PriceBook([...book.all, ...changes.map((c) => c.version)]);
    const tokens = { input: 1_000_000, output: 0, cacheRead: 0, cacheWrite: 0 };
    const cost = (modelId: string, time: string) =>
      priceCall({ modelId, region: 'us-east-1', tokens, book: after, time }).costUsd.toFixed();
    expect(cost('amazon.nova-lite-v1:0', '2026-12-01T12:00:00Z')).toBe('0.06');
    expect(cost('amazon.nova-lite-v1:0', '2026-12-02T12:00:00Z')).toBe('0.05');
    expect(cost('amazon.nova-2-pro-v1:0', '2026-12-01T12:00:00Z')).toBe('1.25');
    // Withdrawn and missing from the catalog: the conservative fallback again.
    expect(cost('amazon.nova-2-pro-v1:0', '2026-12-02T12:00:00Z')).toBe('15');
  });
});
