import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { refreshPrices } from '../../functions/prices/refresh';
import { PriceRecorder } from '../../shared/pricing/admin';
import { BUILT_IN_MAPPING, productsOf } from '../../shared/pricing/price-list';
import { fetchPriceList, savedPriceList } from '../../shared/pricing/price-list-client';
import type { PriceVersion } from '../../shared/pricing/versions';

const pages = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as unknown;
const CHANGED = join(__dirname, '..', 'fixtures', 'price-list', 'get-products-changed.json');

function deps(now: Date) {
  const versions: PriceVersion[] = [];
  const store = {
    all: async () => [...versions],
    add: async (v: PriceVersion) => {
      versions.push(v);
      return true;
    },
  };
  const audit = { append: jest.fn(async () => ({})) };
  const alert = jest.fn(async () => undefined);
  const recorder = new PriceRecorder(store, audit as never, () => now);
  return { versions, audit, alert, refresh: { store, recorder, mapping: BUILT_IN_MAPPING, alert, now: () => now } };
}

describe('the prices function: one fetch recorded, audited and alerted', () => {
  it('records each new price audited as system:prices with its SKUs and sends one alert; a retry records and alerts nothing', async () => {
    const { versions, audit, alert, refresh } = deps(new Date('2026-12-01T06:00:00Z'));
    const products = savedPriceList();

    const report = await refreshPrices({ products }, refresh);
    await refreshPrices({ products }, refresh);

    expect(report.changes.map((c) => c.change)).toEqual(['new', 'new', 'new', 'new']);
    expect(versions).toHaveLength(4);
    expect(audit.append).toHaveBeenCalledTimes(4);
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({
        actor: 'system:prices',
        action: 'price.changed',
        subject: 'MODEL#amazon.nova-2-pro-v1:0',
        details: expect.objectContaining({
          skus: ['N2P00000IN000001', 'N2P00000OUT00001'],
          new: expect.objectContaining({ input: '1.25' }),
        }),
      }),
    );
    expect(alert).toHaveBeenCalledTimes(1);
    expect(alert).toHaveBeenCalledWith(
      expect.objectContaining({ subject: 'Bedrock prices: 4 new, 0 changed, 0 vanished' }),
    );
  });

  it('alerts a changed and a vanished price, naming old and new', async () => {
    const { alert, refresh } = deps(new Date('2026-12-01T06:00:00Z'));
    await refreshPrices({ products: savedPriceList() }, refresh);
    alert.mockClear();

    await refreshPrices(
      { products: productsOf(pages(CHANGED)) },
      { ...refresh, now: () => new Date('2026-12-02T06:00:00Z') },
    );

    expect(alert).toHaveBeenCalledWith(
      expect.objectContaining({
        subject: 'Bedrock prices: 0 new, 1 changed, 1 vanished',
        body: expect.stringContaining('amazon.nova-lite-v1:0 (us-east-1): changed, input 0.06 -> 0.05'),
      }),
    );
  });
});

describe('fetchPriceList: pricing:GetProducts for both service codes, every page', () => {
  it('asks each service code, follows NextToken, signs for the pricing service in us-east-1', async () => {
    const saved = process.env.AWS_ENDPOINT_URL;
    delete process.env.AWS_ENDPOINT_URL;
    const bedrock = pages(join(__dirname, '..', '..', 'local', 'price-list', 'get-products-bedrock.json')) as {
      PriceList: string[];
      NextToken?: string;
    }[];
    const send = jest.fn(async (_url: string, options: { body?: string; service?: string; region: string }) => {
      const body = JSON.parse(options.body ?? '{}') as { ServiceCode: string; NextToken?: string };
      const page = body.ServiceCode === 'AmazonBedrock' ? bedrock[body.NextToken ? 1 : 0] : { PriceList: [] };
      return { status: 200, text: JSON.stringify(page) };
    });
    try {
      const products = await fetchPriceList('https://api.pricing.us-east-1.amazonaws.com/', send as never);
      expect(products).toHaveLength(8);
    } finally {
      if (saved !== undefined) process.env.AWS_ENDPOINT_URL = saved;
    }
    expect(send.mock.calls.map(([, o]) => [o.service, o.region, JSON.parse(o.body ?? '{}').ServiceCode])).toEqual([
      ['pricing', 'us-east-1', 'AmazonBedrock'],
      ['pricing', 'us-east-1', 'AmazonBedrock'],
      ['pricing', 'us-east-1', 'AmazonBedrockFoundationModels'],
    ]);
  });

  it('refuses a Price List that never ends rather than record a part of it (the rest would count as vanished)', async () => {
    const saved = process.env.AWS_ENDPOINT_URL;
    delete process.env.AWS_ENDPOINT_URL;
    const send = jest.fn(async () => ({ status: 200, text: JSON.stringify({ PriceList: [], NextToken: 'more' }) }));
    try {
      await expect(fetchPriceList('https://api.pricing.us-east-1.amazonaws.com/', send as never)).rejects.toThrow(
        /GetProducts AmazonBedrock has more than 200 pages: refusing a partial Price List/,
      );
    } finally {
      if (saved !== undefined) process.env.AWS_ENDPOINT_URL = saved;
    }
    expect(send).toHaveBeenCalledTimes(200);
  });
});
