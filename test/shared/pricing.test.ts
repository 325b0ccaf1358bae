import Big from 'big.js';
import { parseRecord } from '../../shared/events/parse';
import { chargeFor, hasTokens } from '../../shared/metering';
import {
  catalogVersion,
  knownModels,
  PricingError,
  priceCall,
  resolveModelId,
  type TokenCounts,
} from '../../shared/pricing';
import rawCatalog from '../../shared/pricing/catalog.json';
import { fixtureCases } from '../fixtures';

const NONE: TokenCounts = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
const tokens = (counts: Partial<TokenCounts>): TokenCounts => ({ ...NONE, ...counts });
const cost = (modelId: string, counts: Partial<TokenCounts>, extra: { region?: string; batch?: boolean } = {}) =>
  priceCall({ modelId, tokens: tokens(counts), ...extra }).costUsd.toFixed();

const HAIKU_3 = 'anthropic.claude-3-haiku-20240307-v1:0';
const SONNET_4 = 'anthropic.claude-sonnet-4-20250514-v1:0';
const SONNET_4_5 = 'anthropic.claude-sonnet-4-5-20250929-v1:0';

describe('fixture calls are priced exactly', () => {
  test('Claude 3 Haiku, 1200 input and 340 output tokens', () => {
    // 1200 * $0.25/M = $0.000300; 340 * $1.25/M = $0.000425; total $0.000725.
    const quote = priceCall({ modelId: HAIKU_3, tokens: tokens({ input: 1200, output: 340 }) });

    expect(quote.costUsd.toFixed()).toBe('0.000725');
    expect(quote).toMatchObject({ model: HAIKU_3, unknownModel: false, catalogVersion: '2026-11-30' });
  });

  test('Claude Sonnet 4 through a us. inference-profile ARN, with cache reads and writes', () => {
    // 350 * 3 + 900 * 15 + 8000 * 0.30 + 2000 * 3.75 per M = 0.00105 + 0.0135 + 0.0024 + 0.0075 = 0.02445.
    const quote = priceCall({
      modelId: 'arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0',
      region: 'us-east-1',
      tokens: { input: 350, output: 900, cacheRead: 8000, cacheWrite: 2000 },
    });

    expect(quote.costUsd.toFixed()).toBe('0.02445');
    expect(quote.model).toBe(SONNET_4);
    expect(quote.unknownModel).toBe(false);
  });

  test('one-hour cache writes are charged at twice the input price', () => {
    // 1000 * $6/M (2 x $3) = $0.006.
    expect(cost(SONNET_4, { cacheWrite1h: 1000 })).toBe('0.006');
  });

  test('images are charged per image, on top of tokens', () => {
    // Titan Multimodal Embeddings: 1000 * $0.80/M + 1 * $0.00006 = $0.00086.
    expect(cost('amazon.titan-embed-image-v1', { input: 1000, images: 1 })).toBe('0.00086');
    // Nova Canvas: 2 * $0.08 (highest published tier; events do not say which tier was used).
    expect(cost('amazon.nova-canvas-v1:0', { images: 2 })).toBe('0.16');
  });
});

describe('every invocation log fixture costs exactly what is written beside it', () => {
  const priced = fixtureCases('invocation-log-').filter((c) => c.expected.costUsd !== undefined);

  test.each(priced.map((c) => [c.name, c]))('%s', (_name, { record, expected }) => {
    const parsed = parseRecord(record, { perSessionRoles: ['AWSReservedSSO_*'] });
    if (parsed.status !== 'call' || !hasTokens(parsed.call)) throw new Error(`${_name} has no tokens`);

    const charge = chargeFor(parsed.call);

    expect({ model: charge.model, costUsd: charge.costUsd.toFixed(), unknownModel: charge.unknownModel }).toEqual({
      model: expected.model,
      costUsd: expected.costUsd,
      unknownModel: false,
    });
  });
});

describe('models the catalog fell back on before', () => {
  test.each([
    // 2000 x 0.15 + 900 x 0.60 per M = 300 + 540 = 840: $0.00084, not the fallback's $0.0975.
    ['openai.gpt-oss-120b-1:0', { input: 2000, output: 900 }, '0.00084'],
    // 2000 x 0.07 + 900 x 0.30 = 140 + 270 = 410.
    ['openai.gpt-oss-20b-1:0', { input: 2000, output: 900 }, '0.00041'],
    // 1000 x 1.35 + 1000 x 5.40 = 6750.
    ['deepseek.r1-v1:0', { input: 1000, output: 1000 }, '0.00675'],
    // 1000 x 0.50 + 1000 x 0.70 = 1200.
    ['ai21.jamba-instruct-v1:0', { input: 1000, output: 1000 }, '0.0012'],
    // 1000 x 8 + 1000 x 24 = 32000.
    ['anthropic.claude-v2:1', { input: 1000, output: 1000 }, '0.032'],
    // A context-window variant of Claude 2.1 is Claude 2.1.
    ['anthropic.claude-v2:1:200k', { input: 1000, output: 1000 }, '0.032'],
    // 1000 x 3 + 1000 x 15 = 18000.
    ['cohere.command-r-plus-v1:0', { input: 1000, output: 1000 }, '0.018'],
    // 1000 x 0.60 + 1000 x 6 = 6600.
    ['writer.palmyra-x5-v1:0', { input: 1000, output: 1000 }, '0.0066'],
    // 1000 x 0.15 + 1000 x 0.60 = 750.
    ['qwen.qwen3-32b-v1:0', { input: 1000, output: 1000 }, '0.00075'],
    // Embeddings bill input only: 1000 x 0.12 = 120.
    ['cohere.embed-v4:0', { input: 1000 }, '0.00012'],
  ])('%s', (modelId, counts, expected) => {
    const quote = priceCall({ modelId, tokens: tokens(counts) });

    expect({ cost: quote.costUsd.toFixed(), unknownModel: quote.unknownModel }).toEqual({
      cost: expected,
      unknownModel: false,
    });
  });

  test('names the model bedrock-mantle uses resolve through catalog aliases', () => {
    expect(resolveModelId('openai.gpt-oss-120b')).toBe('openai.gpt-oss-120b-1:0');
    expect(resolveModelId('anthropic.claude-opus-4-7')).toBe('anthropic.claude-opus-4-7-v1');
  });
});

describe('model ids as events report them resolve to the catalog entry', () => {
  test.each(['us.', 'eu.', 'apac.', 'global.', 'us-gov.', 'jp.', 'au.', 'ca.'])(
    '%s profile prefix is stripped',
    (p) => {
      expect(resolveModelId(`${p}${SONNET_4_5}`)).toBe(SONNET_4_5);
    },
  );

  test.each([
    [`arn:aws:bedrock:us-west-2::foundation-model/${HAIKU_3}`, HAIKU_3],
    [`arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/${HAIKU_3}`, HAIKU_3],
    [`arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu.${SONNET_4}`, SONNET_4],
    [`arn:aws:bedrock:us-east-1:111122223333:inference-profile/global.${SONNET_4_5}`, SONNET_4_5],
  ])('ARN %s resolves', (arn, expected) => {
    expect(resolveModelId(arn)).toBe(expected);
  });

  test('application inference profile ARNs cannot be resolved and are returned as is', () => {
    const arn = 'arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6';

    expect(resolveModelId(arn)).toBe(arn);
  });

  test('ids without a version suffix or with a context-window suffix resolve', () => {
    expect(resolveModelId('anthropic.claude-3-haiku-20240307-v1')).toBe(HAIKU_3);
    expect(resolveModelId('anthropic.claude-3-haiku-20240307-v1:0:200k')).toBe(HAIKU_3);
    expect(resolveModelId('us.anthropic.claude-3-haiku-20240307-v1:0:48k')).toBe(HAIKU_3);
    expect(resolveModelId('amazon.titan-text-express-v1:0:8k')).toBe('amazon.titan-text-express-v1');
    expect(resolveModelId('amazon.titan-embed-text-v2')).toBe('amazon.titan-embed-text-v2:0');
  });

  test('a resolved id is priced like the catalog id', () => {
    expect(cost('anthropic.claude-3-haiku-20240307-v1:0:200k', { input: 1200, output: 340 })).toBe('0.000725');
  });
});

describe('unknown models', () => {
  test('are charged at the conservative fallback and flagged, under their resolved id', () => {
    // Fallback is Opus 4 level: 1000 * $15/M + 1000 * $75/M = $0.09.
    const quote = priceCall({ modelId: 'us.acme.mystery-model-v1:0', tokens: tokens({ input: 1000, output: 1000 }) });

    expect(quote).toMatchObject({ model: 'acme.mystery-model-v1:0', unknownModel: true });
    expect(quote.costUsd.toFixed()).toBe('0.09');
  });

  test.each<[keyof TokenCounts]>([['input'], ['output'], ['cacheRead'], ['cacheWrite'], ['cacheWrite1h'], ['images']])(
    'are never $0 when %s is used',
    (field) => {
      const quote = priceCall({ modelId: 'acme.mystery-model-v1:0', tokens: tokens({ [field]: 1 }) });

      expect(quote.costUsd.gt(0)).toBe(true);
    },
  );

  test('behind an application inference profile are charged at the fallback', () => {
    const arn = 'arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/a1b2c3d4e5f6';
    const quote = priceCall({ modelId: arn, tokens: tokens({ input: 1000 }) });

    expect(quote).toMatchObject({ model: arn, unknownModel: true });
    expect(quote.costUsd.toFixed()).toBe('0.015');
  });

  test('get no batch discount', () => {
    expect(cost('acme.mystery-model-v1:0', { input: 1000, output: 1000 }, { batch: true })).toBe('0.09');
  });
});

describe('where the published price differs', () => {
  test('a regional override is applied for its Region only', () => {
    // GovCloud Claude 3 Haiku: 1200 * 0.30 + 340 * 1.50 = 360 + 510 = $0.00087 per M.
    expect(cost(HAIKU_3, { input: 1200, output: 340 }, { region: 'us-gov-west-1' })).toBe('0.00087');
    expect(cost(HAIKU_3, { input: 1200, output: 340 }, { region: 'us-east-1' })).toBe('0.000725');
  });

  test('a global profile is charged the global rate, in-Region and geo profiles 10% more', () => {
    // Global: 1000 * 3 + 1000 * 15 = $0.018; geo and in-Region: 1000 * 3.30 + 1000 * 16.50 = $0.0198.
    expect(cost(`global.${SONNET_4_5}`, { input: 1000, output: 1000 })).toBe('0.018');
    expect(cost(`us.${SONNET_4_5}`, { input: 1000, output: 1000 })).toBe('0.0198');
    expect(cost(SONNET_4_5, { input: 1000, output: 1000 })).toBe('0.0198');
  });

  test('prompts over 200K tokens on a 1M-context model are charged at long-context rates', () => {
    // At the threshold: 200000 * 3 + 1000 * 15 = $0.615. Above: 200001 * 6 + 1000 * 22.50 = $1.222506.
    expect(cost(SONNET_4, { input: 200_000, output: 1000 })).toBe('0.615');
    expect(cost(SONNET_4, { input: 200_001, output: 1000 })).toBe('1.222506');
    // Cache tokens count toward the prompt: 1 * 6 + 200000 * 0.60 = $0.120006.
    expect(cost(SONNET_4, { input: 1, cacheRead: 200_000 })).toBe('0.120006');
  });
});

describe('batch', () => {
  test('applies the model batch discount', () => {
    // 1000 * 3 + 1000 * 15 = $0.018 on demand; half in batch.
    expect(cost(SONNET_4, { input: 1000, output: 1000 }, { batch: true })).toBe('0.009');
  });

  test('is charged on demand for a model without a published batch discount', () => {
    // Mistral Small: 1000 * 1 + 1000 * 3 = $0.004.
    expect(cost('mistral.mistral-small-2402-v1:0', { input: 1000, output: 1000 }, { batch: true })).toBe('0.004');
  });
});

test('a missing cache price falls back to the input price, and a missing 1h price to the 5m price', () => {
  // Llama 3.3 70B has no cache prices: 1000 cache reads at $0.72/M input = $0.00072.
  expect(cost('meta.llama3-3-70b-instruct-v1:0', { cacheRead: 1000 })).toBe('0.00072');
  // Nova Pro has no 1h write price: 1000 at its $0.80/M write price = $0.0008.
  expect(cost('amazon.nova-pro-v1:0', { cacheWrite1h: 1000 })).toBe('0.0008');
});

describe('money stays exact decimal', () => {
  test('0.0001 + 0.0002 is exactly 0.0003, unlike binary floats', () => {
    const a = priceCall({ modelId: HAIKU_3, tokens: tokens({ input: 400 }) }).costUsd;
    const b = priceCall({ modelId: HAIKU_3, tokens: tokens({ input: 800 }) }).costUsd;

    expect(0.0001 + 0.0002).not.toBe(0.0003);
    expect(a.plus(b).toFixed()).toBe('0.0003');
  });

  test('a million sub-cent costs add up to the exact total', () => {
    // Each single Titan G1 embedding token costs $0.0000001; a million of them cost $0.10.
    const one = priceCall({ modelId: 'amazon.titan-embed-text-v1', tokens: tokens({ input: 1 }) }).costUsd;
    let total = new Big(0);
    for (let i = 0; i < 1_000_000; i++) total = total.plus(one);

    expect(one.toFixed()).toBe('0.0000001');
    expect(total.toFixed()).toBe('0.1');
  });

  test('the largest safe token count is priced without losing digits', () => {
    // 9007199254740991 * $75/M = $675539944105.574325.
    expect(cost('anthropic.claude-opus-4-20250514-v1:0', { output: Number.MAX_SAFE_INTEGER })).toBe(
      '675539944105.574325',
    );
  });
});

describe('invalid token counts are rejected', () => {
  test.each<[string, Partial<Record<keyof TokenCounts, unknown>>]>([
    ['negative input', { input: -1 }],
    ['fractional output', { output: 1.5 }],
    ['NaN cache read', { cacheRead: Number.NaN }],
    ['infinite cache write', { cacheWrite: Number.POSITIVE_INFINITY }],
    ['unsafe 1h cache write', { cacheWrite1h: Number.MAX_SAFE_INTEGER + 1 }],
    ['string images', { images: '2' }],
    ['missing output', { output: undefined }],
  ])('%s', (_name, counts) => {
    const call = () => priceCall({ modelId: HAIKU_3, tokens: { ...NONE, ...counts } as TokenCounts });

    expect(call).toThrow(PricingError);
    expect(call).toThrow(expect.objectContaining({ name: 'PricingError' }));
  });
});

describe('the catalog', () => {
  type RawModel = (typeof rawCatalog.models)[number];
  const DECIMAL = /^\d+(\.\d+)?$/;
  const PRICE_KEYS = new Set([
    'input',
    'output',
    'cacheRead',
    'cacheWrite',
    'cacheWrite1h',
    'perImage',
    'batchDiscount',
  ]);

  /** Every price-named value anywhere in the entry, with its path. */
  function prices(value: unknown, path: string): [string, unknown][] {
    if (typeof value !== 'object' || value === null) return [];
    return Object.entries(value).flatMap(([key, v]) =>
      PRICE_KEYS.has(key) ? [[`${path}.${key}`, v] as [string, unknown]] : prices(v, `${path}.${key}`),
    );
  }

  test('every entry has an https source, an ISO asOf date and a verified flag', () => {
    for (const model of rawCatalog.models) {
      expect(model.source).toMatch(/^https:\/\/\S+$/);
      expect(model.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(typeof model.verified).toBe('boolean');
    }
  });

  test('an unverified price says why in its note', () => {
    for (const model of rawCatalog.models.filter((m) => !m.verified)) {
      expect({ model: model.id, note: typeof model.note === 'string' && model.note.length > 20 }).toEqual({
        model: model.id,
        note: true,
      });
    }
  });

  test('every price is a decimal string, never a JSON number', () => {
    const all = rawCatalog.models
      .flatMap((model) => prices(model, model.id))
      .concat(prices(rawCatalog.fallback, 'fallback'));

    expect(all.length).toBeGreaterThan(100);
    for (const [path, value] of all)
      expect({ path, ok: typeof value === 'string' && DECIMAL.test(value) }).toEqual({ path, ok: true });
  });

  test('covers the required models, each id once', () => {
    const required = [
      HAIKU_3,
      'anthropic.claude-3-sonnet-20240229-v1:0',
      'anthropic.claude-3-opus-20240229-v1:0',
      'anthropic.claude-3-5-haiku-20241022-v1:0',
      'anthropic.claude-3-5-sonnet-20240620-v1:0',
      'anthropic.claude-3-5-sonnet-20241022-v2:0',
      'anthropic.claude-3-7-sonnet-20250219-v1:0',
      SONNET_4,
      SONNET_4_5,
      'anthropic.claude-haiku-4-5-20251001-v1:0',
      'anthropic.claude-opus-4-20250514-v1:0',
      'anthropic.claude-opus-4-1-20250805-v1:0',
      'anthropic.claude-opus-4-5-20251101-v1:0',
      'amazon.nova-micro-v1:0',
      'amazon.nova-lite-v1:0',
      'amazon.nova-pro-v1:0',
      'amazon.nova-premier-v1:0',
      'amazon.nova-canvas-v1:0',
      'amazon.titan-text-express-v1',
      'amazon.titan-text-lite-v1',
      'amazon.titan-text-premier-v1:0',
      'amazon.titan-embed-text-v1',
      'amazon.titan-embed-text-v2:0',
      'amazon.titan-embed-image-v1',
      'amazon.titan-image-generator-v1',
      'amazon.titan-image-generator-v2:0',
      'meta.llama3-8b-instruct-v1:0',
      'meta.llama3-70b-instruct-v1:0',
      'meta.llama3-1-8b-instruct-v1:0',
      'meta.llama3-1-70b-instruct-v1:0',
      'meta.llama3-1-405b-instruct-v1:0',
      'meta.llama3-2-1b-instruct-v1:0',
      'meta.llama3-2-3b-instruct-v1:0',
      'meta.llama3-2-11b-instruct-v1:0',
      'meta.llama3-2-90b-instruct-v1:0',
      'meta.llama3-3-70b-instruct-v1:0',
      'meta.llama4-scout-17b-instruct-v1:0',
      'meta.llama4-maverick-17b-instruct-v1:0',
      'mistral.mistral-7b-instruct-v0:2',
      'mistral.mixtral-8x7b-instruct-v0:1',
      'mistral.mistral-large-2402-v1:0',
      'mistral.mistral-large-2407-v1:0',
      'mistral.mistral-small-2402-v1:0',
      'mistral.pixtral-large-2502-v1:0',
      'cohere.embed-english-v3',
      'cohere.embed-multilingual-v3',
      'cohere.embed-v4:0',
      'cohere.command-r-v1:0',
      'cohere.command-r-plus-v1:0',
      'openai.gpt-oss-120b-1:0',
      'openai.gpt-oss-20b-1:0',
      'deepseek.r1-v1:0',
      'deepseek.v3-v1:0',
      'qwen.qwen3-32b-v1:0',
      'qwen.qwen3-coder-30b-a3b-v1:0',
      'qwen.qwen3-coder-480b-a35b-v1:0',
      'qwen.qwen3-235b-a22b-2507-v1:0',
      'ai21.jamba-1-5-large-v1:0',
      'ai21.jamba-1-5-mini-v1:0',
      'ai21.jamba-instruct-v1:0',
      'writer.palmyra-x4-v1:0',
      'writer.palmyra-x5-v1:0',
      'anthropic.claude-v2',
      'anthropic.claude-v2:1',
      'anthropic.claude-instant-v1',
      'amazon.nova-2-lite-v1:0',
      'mistral.mistral-large-3-675b-instruct',
      'mistral.magistral-small-2509',
      'meta.llama2-13b-chat-v1',
      'meta.llama2-70b-chat-v1',
    ];

    expect(knownModels()).toEqual(expect.arrayContaining(required));
    expect(new Set(knownModels()).size).toBe(rawCatalog.models.length);
    expect(catalogVersion()).toBe(rawCatalog.version);
  });

  test('the fallback is at least the dearest listed price of every kind in the catalog', () => {
    // Listed prices only, including regional, global-profile and long-context variants. A cache price a model
    // does not list (it has no prompt caching) is not a price of that kind, so it does not raise the bar.
    const { fallback } = rawCatalog;
    const kinds = ['input', 'output', 'cacheRead', 'cacheWrite', 'cacheWrite1h', 'perImage'] as const;
    const worst = (model: RawModel, kind: (typeof kinds)[number]): Big => {
      const m = model as Record<string, unknown>;
      const variants = [m, ...Object.values((m.regions ?? {}) as object), m.globalProfile ?? {}] as Record<
        string,
        string | undefined
      >[];
      const lc = m.longContext as { inputMultiplier: string; outputMultiplier: string } | undefined;
      const multiplier =
        kind === 'perImage' ? 1 : kind === 'output' ? (lc?.outputMultiplier ?? 1) : (lc?.inputMultiplier ?? 1);
      return variants.map((v) => new Big(v[kind] ?? 0).times(multiplier)).reduce((x, y) => (x.gt(y) ? x : y));
    };

    for (const kind of kinds) {
      for (const model of rawCatalog.models) {
        expect({ model: model.id, kind, ok: new Big(fallback[kind]).gte(worst(model, kind)) }).toEqual({
          model: model.id,
          kind,
          ok: true,
        });
      }
    }
  });
});

test('a catalog with a price as a JSON number fails at load, naming the field', () => {
  const broken = structuredClone(rawCatalog) as { models: Record<string, unknown>[] };
  const first = broken.models[0] as Record<string, unknown>;
  first.input = 0.25;

  jest.isolateModules(() => {
    jest.doMock('../../shared/pricing/catalog.json', () => broken);

    expect(() => require('../../shared/pricing')).toThrow(/invalid price catalog[\s\S]*models\[0\]\.input/);
  });
});

test('a catalog alias that names another model fails at load, naming both', () => {
  const broken = structuredClone(rawCatalog) as { models: { id: string; aliases?: string[] }[] };
  const first = broken.models[0] as { id: string; aliases?: string[] };
  first.aliases = [(broken.models[1] as { id: string }).id];

  jest.isolateModules(() => {
    jest.doMock('../../shared/pricing/catalog.json', () => broken);

    expect(() => require('../../shared/pricing')).toThrow(
      new RegExp(`alias ${broken.models[1]?.id} of ${first.id} names another model`),
    );
  });
});
