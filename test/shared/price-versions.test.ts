import { priceCall, ratesAt } from '../../shared/pricing';
import { PriceBookCache } from '../../shared/pricing/store';
import { PriceBook, type PriceVersion } from '../../shared/pricing/versions';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const tokens = { input: 1_000_000, output: 1_000_000, cacheRead: 0, cacheWrite: 0 };

const version = (fields: Partial<PriceVersion> & Pick<PriceVersion, 'effectiveFrom' | 'prices'>): PriceVersion => ({
  model: HAIKU,
  source: 'set',
  scope: 'any',
  recordedBy: 'arn:aws:iam::111122223333:user/dana',
  recordedAt: '2026-11-01T00:00:00.000Z',
  ...fields,
});

const cost = (book: PriceBook, time: string, modelId = HAIKU, region = 'us-east-1') =>
  priceCall({ modelId, region, tokens, time, book }).costUsd.toFixed();

describe('price versions: the version in effect at the call’s time prices it', () => {
  it('a call before a set price pays the catalog’s, at and after it the set price; fields left out keep theirs', () => {
    const book = new PriceBook([version({ effectiveFrom: '2026-12-01T00:00:00Z', prices: { input: '0.2' } })]);

    // catalog: 0.25 + 1.25 per million each
    expect(cost(book, '2026-11-30T23:59:59.999Z')).toBe('1.5');
    expect(cost(book, '2026-12-01T00:00:00.000Z')).toBe('1.45');
    expect(cost(book, '2027-01-01T00:00:00.000Z')).toBe('1.45');
  });

  it('a later version takes over from its time; a removal brings back what lies beneath', () => {
    const book = new PriceBook([
      version({ effectiveFrom: '2026-12-10T00:00:00Z', removed: true, prices: {} }),
      version({ effectiveFrom: '2026-12-01T00:00:00Z', prices: { input: '0.2', output: '1' } }),
      version({ effectiveFrom: '2026-12-05T00:00:00Z', prices: { output: '0.9' } }),
    ]);

    expect(cost(book, '2026-12-02T00:00:00Z')).toBe('1.2');
    // The newer set version replaces the older one whole: its input is the catalog's again.
    expect(cost(book, '2026-12-06T00:00:00Z')).toBe('1.15');
    expect(cost(book, '2026-12-11T00:00:00Z')).toBe('1.5');
  });

  it('a set price wins over a fetched one, both over the catalog; a fetched price applies to its own Region', () => {
    const book = new PriceBook([
      version({
        source: 'fetched',
        scope: 'eu-west-3',
        effectiveFrom: '2026-12-01T00:00:00Z',
        prices: { input: '0.3', output: '1.5' },
      }),
      version({
        source: 'fetched',
        scope: 'global',
        effectiveFrom: '2026-12-01T00:00:00Z',
        prices: { input: '0.22', output: '1.1' },
      }),
      version({ effectiveFrom: '2026-12-03T00:00:00Z', prices: { output: '1' } }),
    ]);

    expect(cost(book, '2026-12-02T00:00:00Z', HAIKU, 'eu-west-3')).toBe('1.8');
    expect(cost(book, '2026-12-02T00:00:00Z', HAIKU, 'us-east-1')).toBe('1.5');
    expect(cost(book, '2026-12-02T00:00:00Z', `global.${HAIKU}`, 'us-east-1')).toBe('1.32');
    // The set output lies over the fetched input of the call's Region.
    expect(cost(book, '2026-12-04T00:00:00Z', HAIKU, 'eu-west-3')).toBe('1.3');
  });

  it('a model missing from the catalog is charged the fallback until versions price its input and output', () => {
    const model = 'acme.brand-new-v1:0';
    const book = new PriceBook([
      version({ model, effectiveFrom: '2026-12-01T00:00:00Z', prices: { input: '1', output: '2' } }),
    ]);

    const before = priceCall({ modelId: model, tokens, time: '2026-11-30T00:00:00Z', book });
    const after = priceCall({ modelId: `us.${model}`, tokens, time: '2026-12-01T00:00:00Z', book });

    expect(before).toMatchObject({ unknownModel: true });
    expect(before.costUsd.toFixed()).toBe('90');
    expect(after).toMatchObject({
      unknownModel: false,
      model,
      catalogVersion: expect.stringMatching(/\+set:any@2026-12-01T00:00:00\.000Z$/),
    });
    expect(after.costUsd.toFixed()).toBe('3');
    // Its cache rates are its input rate, as for a catalog model without cache prices.
    expect(ratesAt({ modelId: model, time: '2026-12-02T00:00:00Z', book }).rates).toMatchObject({
      cacheRead: '1',
      cacheWrite: '1',
    });
  });

  it('without a book or a time the catalog alone prices, as before versions existed', () => {
    const book = new PriceBook([version({ effectiveFrom: '2000-01-01T00:00:00Z', prices: { input: '9' } })]);
    expect(priceCall({ modelId: HAIKU, tokens, book }).costUsd.toFixed()).toBe('1.5');
    expect(priceCall({ modelId: HAIKU, tokens }).catalogVersion).not.toContain('+');
  });
});

describe('PriceBookCache: versions are read once per TTL, not per call', () => {
  it('reads again only after the TTL, and keeps the last versions when a re-read fails', async () => {
    let clock = 0;
    const all = jest.fn(async () => [version({ effectiveFrom: '2026-12-01T00:00:00Z', prices: { input: '0.2' } })]);
    const cache = new PriceBookCache({ all }, 60_000, () => clock);

    expect((await cache.current()).requests).toBe(1);
    clock = 59_999;
    expect((await cache.current()).requests).toBe(0);
    clock = 60_000;
    all.mockRejectedValueOnce(new Error('throttled'));
    const kept = await cache.current();

    expect(all).toHaveBeenCalledTimes(2);
    expect(kept.book.size).toBe(1);
  });

  it('a function that never read the versions fails (its batch is retried), rather than price without them', async () => {
    const cache = new PriceBookCache({ all: async () => Promise.reject(new Error('no table')) });
    await expect(cache.current()).rejects.toThrow('no table');
  });
});
