import { catalogDiff, parsePricesFile } from '../../cli/prices';
import { PriceBook, type PriceVersion } from '../../shared/pricing/versions';

describe('a prices file (prices set --from, local --prices)', () => {
  it('reads a list of models with prices as decimal strings and an optional effectiveFrom', () => {
    const text = JSON.stringify([
      {
        model: 'anthropic.claude-3-haiku-20240307-v1:0',
        input: '0.2',
        output: '1',
        effectiveFrom: '2026-12-01T00:00:00Z',
      },
      { model: 'amazon.nova-pro-v1:0', cacheRead: '0.1' },
    ]);
    expect(parsePricesFile(text, 'p.json')).toEqual([
      {
        model: 'anthropic.claude-3-haiku-20240307-v1:0',
        input: '0.2',
        output: '1',
        effectiveFrom: '2026-12-01T00:00:00Z',
      },
      { model: 'amazon.nova-pro-v1:0', cacheRead: '0.1' },
    ]);
  });

  it.each([
    [[{ model: 'm', input: 0.2 }], /p\.json: 0\.input: /],
    [[{ model: 'm' }], /sets at least one price/],
    [[{ model: 'm', input: '1', effectiveFrom: 'tomorrow' }], /effectiveFrom/],
    [[{ model: 'm', input: '1', discount: '5' }], /discount|unrecognized/i],
    [{ model: 'm', input: '1' }, /expected array/],
    [[], /p\.json/],
  ])('refuses %j, naming the file and the field', (content, why) => {
    expect(() => parsePricesFile(JSON.stringify(content), 'p.json')).toThrow(why);
  });
});

describe('prices diff: the catalog against the fetched prices in effect', () => {
  const fetched = (model: string, scope: string, prices: Record<string, string>, removed = false): PriceVersion => ({
    model,
    scope,
    prices,
    source: 'fetched',
    effectiveFrom: '2026-12-01T00:00:00.000Z',
    recordedBy: 'system:prices',
    recordedAt: '2026-12-01T00:00:00.000Z',
    ...(removed ? { removed } : {}),
  });

  it('lists only the prices that differ, and every price of a model the catalog lacks', () => {
    const book = new PriceBook([
      fetched('amazon.nova-lite-v1:0', 'us-east-1', { input: '0.060', output: '0.25' }),
      fetched('anthropic.claude-sonnet-4-5-20250929-v1:0', 'global', { input: '3', output: '15' }),
      fetched('amazon.nova-2-pro-v1:0', 'us-east-1', { input: '1.25' }),
    ]);
    expect(catalogDiff(book, new Date('2026-12-02T00:00:00Z'))).toEqual([
      { model: 'amazon.nova-2-pro-v1:0', scope: 'us-east-1', field: 'input', catalog: null, fetched: '1.25' },
      { model: 'amazon.nova-lite-v1:0', scope: 'us-east-1', field: 'output', catalog: '0.24', fetched: '0.25' },
    ]);
  });

  it('shows nothing for a price fetched later than asked about', () => {
    const book = new PriceBook([fetched('amazon.nova-lite-v1:0', 'us-east-1', { input: '1' })]);
    expect(catalogDiff(book, new Date('2026-11-30T00:00:00Z'))).toEqual([]);
  });
});
