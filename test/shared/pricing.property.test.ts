import Big from 'big.js';
import fc from 'fast-check';
import { knownModels, PricingError, priceCall, type TokenCounts } from '../../shared/pricing';
import catalog from '../../shared/pricing/catalog.json';

/**
 * Pricing against the catalog itself as the oracle: for every model, the cost of a call is the catalog's price per
 * token times the count, exactly, summed over the kinds of token; so it is linear in tokens and never negative.
 */
interface Entry {
  readonly id: string;
  readonly input: string;
  readonly output: string;
  readonly cacheRead?: string;
  readonly cacheWrite?: string;
  readonly cacheWrite1h?: string;
  readonly perImage?: string;
  readonly longContext?: { readonly thresholdTokens: number };
}
const MODELS = catalog.models as readonly Entry[];
const MILLION = new Big(1_000_000);

/** The catalog's price of one token of each kind, as its notes define a missing cache price. */
function perToken(model: Entry) {
  const input = new Big(model.input);
  const cacheWrite = new Big(model.cacheWrite ?? model.input);
  return {
    input: input.div(MILLION),
    output: new Big(model.output).div(MILLION),
    cacheRead: new Big(model.cacheRead ?? model.input).div(MILLION),
    cacheWrite: cacheWrite.div(MILLION),
    cacheWrite1h: new Big(model.cacheWrite1h ?? cacheWrite).div(MILLION),
    images: new Big(model.perImage ?? 0),
  };
}

const FIELDS = ['input', 'output', 'cacheRead', 'cacheWrite', 'cacheWrite1h', 'images'] as const;
const priced = (model: string, tokens: TokenCounts) => priceCall({ modelId: model, tokens }).costUsd;

/** Counts whose prompt stays at or below the model's long-context threshold (above it, other rates apply). */
const countsFor = (model: Entry) => {
  const cap = model.longContext ? Math.floor(model.longContext.thresholdTokens / 4) : 50_000_000;
  const count = fc.nat({ max: cap });
  return fc.record({
    input: count,
    output: count,
    cacheRead: count,
    cacheWrite: count,
    cacheWrite1h: count,
    images: fc.nat({ max: 1000 }),
  });
};
const anyModel = fc.constantFrom(...MODELS);

describe('prices, for every catalog model and any counts', () => {
  it('prices every model the catalog lists', () => {
    expect(knownModels().sort()).toEqual(MODELS.map((m) => m.id).sort());
  });

  it('charges exactly the per-token price times the count, for each kind of token', () => {
    fc.assert(
      fc.property(
        anyModel.chain((model) => fc.tuple(fc.constant(model), countsFor(model))),
        ([model, counts]) => {
          const rates = perToken(model);
          const expected = FIELDS.reduce((total, field) => total.plus(rates[field].times(counts[field])), new Big(0));
          expect(priced(model.id, counts).eq(expected)).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('is linear: two calls cost what one call of their tokens together costs', () => {
    const plus = (a: TokenCounts, b: TokenCounts) =>
      Object.fromEntries(FIELDS.map((f) => [f, (a[f] ?? 0) + (b[f] ?? 0)])) as unknown as TokenCounts;
    // Halves of two calls that fit a long-context model's standard tier still fit it together.
    const half = (counts: TokenCounts) =>
      Object.fromEntries(FIELDS.map((f) => [f, Math.floor((counts[f] ?? 0) / 2)])) as unknown as TokenCounts;
    fc.assert(
      fc.property(
        anyModel.chain((model) => fc.tuple(fc.constant(model), countsFor(model), countsFor(model))),
        ([model, a, b]) => {
          const [x, y] = model.longContext ? [half(a), half(b)] : [a, b];
          expect(priced(model.id, plus(x, y)).eq(priced(model.id, x).plus(priced(model.id, y)))).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('is never negative, and never free for a call with tokens of a kind the model charges for', () => {
    fc.assert(
      fc.property(
        anyModel.chain((model) => fc.tuple(fc.constant(model), countsFor(model))),
        ([model, counts]) => {
          const cost = priced(model.id, counts);
          expect(cost.gte(0)).toBe(true);
          const rates = perToken(model);
          // Image models bill per image and their tokens at $0: only a kind with a price must cost something.
          if (FIELDS.some((f) => counts[f] > 0 && rates[f].gt(0))) expect(cost.gt(0)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('charges an unknown model the fallback rates, never $0', () => {
    const unknown = fc.stringMatching(/^[a-z]{3,10}\.[a-z0-9-]{3,20}$/).filter((id) => !knownModels().includes(id));
    fc.assert(
      fc.property(unknown, fc.integer({ min: 1, max: 10_000_000 }), (id, input) => {
        const quote = priceCall({ modelId: id, tokens: { input, output: 0, cacheRead: 0, cacheWrite: 0 } });
        fc.pre(quote.unknownModel); // not an id that resolves to a catalog model by its base
        expect(quote.costUsd.eq(new Big(catalog.fallback.input).times(input).div(MILLION))).toBe(true);
      }),
    );
  });

  it('refuses a count that is negative, fractional, unsafe or not a number, naming it', () => {
    const bad = fc.oneof(
      fc.integer({ max: -1 }),
      fc.double({ noInteger: true }),
      fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '100', null),
    );
    fc.assert(
      fc.property(fc.constantFrom(...FIELDS), bad, (field, value) => {
        const tokens = { input: 1, output: 1, cacheRead: 0, cacheWrite: 0, [field]: value } as unknown as TokenCounts;
        expect(() => priceCall({ modelId: MODELS[0]?.id ?? '', tokens })).toThrow(PricingError);
        expect(() => priceCall({ modelId: MODELS[0]?.id ?? '', tokens })).toThrow(`token count ${field}`);
      }),
    );
  });
});
