import type { NumberValue } from '@aws-sdk/lib-dynamodb';
import Big from 'big.js';
import { callAdmin } from '../../cli/admin-client';
import { AuditLog } from '../../shared/audit/log';
import { mapPriceList, readMapping } from '../../shared/pricing/price-list';
import { savedPriceList } from '../../shared/pricing/price-list-client';
import { PriceStore } from '../../shared/pricing/store';
import { invocationLog } from '../fixtures';
import { deliverLogs, documents, invoke, item, local, output, unique } from './support';

/**
 * Price versions on the local stack: set through the admin function (signed, audited), read by ingest within its
 * cache time (priceCacheSeconds: 1 here), each call priced by the version in effect at the call's own time.
 * Versions apply to every caller of a model, so each test prices a model no other suite uses, in a window of
 * time of its own (a year no other suite charges in), and withdraws its price at the window's end.
 */
const ACCOUNT = '111122223333';
const userArn = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
const target = { clientConfig: local.clientConfig, outputs: local.outputs };
const audit = new AuditLog(documents, output('AuditTableName'));
const CACHE_SECONDS = 1;
const cacheExpiry = () => new Promise((resolve) => setTimeout(resolve, CACHE_SECONDS * 1000 + 200));
const value = (n: unknown) => new Big((n as NumberValue).value).toFixed();

async function entriesOf(subject: string) {
  const entries = [];
  for await (const entry of audit.query({ subject })) entries.push(entry);
  return entries;
}

describe('price versions on the local stack', () => {
  it('a price set mid-period charges calls after it at the new price and calls before at the old; audited price.changed', async () => {
    const model = 'amazon.nova-micro-v1:0';
    const user = `pricey-${unique()}`;
    const id = unique();
    // Nova Micro's catalog price: 0.035 in, 0.14 out per 1M tokens. From 2098-06-15 a negotiated input price of
    // 0.03; from 2098-06-20 it is withdrawn.
    await callAdmin(
      target,
      { action: 'prices set', prices: [{ model, input: '0.03', effectiveFrom: '2098-06-15T00:00:00Z' }] },
      local.admin,
    );
    await callAdmin(target, { action: 'prices remove', model, effectiveFrom: '2098-06-20T00:00:00Z' }, local.admin);
    await cacheExpiry();

    const call = (n: number, timestamp: string) =>
      invocationLog(`${id}-${n}`, userArn(user), {
        timestamp,
        modelId: `us.${model}`,
        input: { inputTokenCount: 1_000_000 },
        output: { outputTokenCount: 100_000 },
      });
    await deliverLogs([
      call(1, '2098-06-14T23:59:59Z'),
      call(2, '2098-06-15T00:00:00Z'),
      call(3, '2098-06-19T12:00:00Z'),
      call(4, '2098-06-20T00:00:01Z'),
    ]);

    const costs = [];
    for (const n of [1, 2, 3, 4])
      costs.push(value((await item('UsageTableName', { requestId: `${id}-${n}` }))?.costUsd));
    // 0.035 + 0.014 at the catalog price; 0.03 + 0.014 at the set price.
    expect(costs).toEqual(['0.049', '0.044', '0.044', '0.049']);
    const counter = await item('BudgetsTableName', { principal: `user/${user}`, period: '2098-06' });
    expect(value(counter?.spendUsd)).toBe('0.186');
    expect((await item('UsageTableName', { requestId: `${id}-2` }))?.catalogVersion).toMatch(
      /\+set:any@2098-06-15T00:00:00\.000Z$/,
    );

    const changes = (await entriesOf(`MODEL#${model}`)).filter((e) => e.action === 'price.changed');
    expect(changes).toEqual([
      expect.objectContaining({
        actor: local.admin.arn,
        details: expect.objectContaining({
          source: 'set',
          effectiveFrom: '2098-06-15T00:00:00.000Z',
          old: expect.objectContaining({ input: '0.035', output: '0.14' }),
          new: expect.objectContaining({ input: '0.03', output: '0.14' }),
        }),
      }),
      expect.objectContaining({
        details: expect.objectContaining({
          removed: true,
          old: expect.objectContaining({ input: '0.03' }),
          new: expect.objectContaining({ input: '0.035' }),
        }),
      }),
    ]);
  });

  it('a model missing from the catalog is priced by a set price without a release: the fallback before, the price after', async () => {
    const model = `acme.brand-new-${unique()}-v1:0`;
    const user = `newmodel-${unique()}`;
    const id = unique();
    const call = (n: number, timestamp: string) =>
      invocationLog(`${id}-${n}`, userArn(user), {
        timestamp,
        modelId: model,
        input: { inputTokenCount: 1000 },
        output: { outputTokenCount: 1000 },
      });
    await deliverLogs([call(1, '2097-03-01T00:00:00Z')]);

    await callAdmin(
      target,
      { action: 'prices set', prices: [{ model, input: '2', output: '8', effectiveFrom: '2097-03-02T00:00:00Z' }] },
      local.admin,
    );
    await cacheExpiry();
    await deliverLogs([call(2, '2097-03-03T00:00:00Z')]);

    const before = await item('UsageTableName', { requestId: `${id}-1` });
    const after = await item('UsageTableName', { requestId: `${id}-2` });
    // Fallback: 1000 x 15 + 1000 x 75 per million; set: 1000 x 2 + 1000 x 8 per million.
    expect({ cost: value(before?.costUsd), unknown: before?.unknownModel }).toEqual({ cost: '0.09', unknown: true });
    expect({ cost: value(after?.costUsd), unknown: after?.unknownModel }).toEqual({ cost: '0.01', unknown: false });
    expect(await new PriceStore(documents, output('PricesTableName')).all()).toContainEqual(
      expect.objectContaining({ model, source: 'set', prices: { input: '2', output: '8' } }),
    );
  });

  it('a non-admin cannot set a price: refused, nothing recorded', async () => {
    const model = `acme.refused-${unique()}-v1:0`;
    const stranger = {
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    };
    await expect(
      callAdmin(target, { action: 'prices set', prices: [{ model, input: '0' }] }, stranger),
    ).rejects.toThrow();
    const versions = await new PriceStore(documents, output('PricesTableName')).all();
    expect(versions.filter((v) => v.model === model)).toEqual([]);
  });
});

describe('the Price List fetch on the local stack (its answers from local/price-list)', () => {
  // Fetched prices apply to every suite's calls from the fetch on: the local Price List prices the models it
  // shares with other suites at the catalog's price, and the change below is in a Region no other suite calls from.
  const REGION = 'ap-southeast-4';
  const base = mapPriceList(savedPriceList(), readMapping()).prices.map((p) => ({ ...p, skus: [...p.skus] }));
  const lite = (input: string) => ({
    model: 'amazon.nova-lite-v1:0',
    scope: REGION,
    prices: { input, output: '0.24' },
    skus: ['NLAPSE4IN0000001'],
  });
  const refreshFrom = (fetched: typeof base) =>
    callAdmin(target, { action: 'prices refresh', fetched }, local.admin).then(
      (reply) => reply.result as { changes: { model: string; scope: string; change: string }[] },
    );

  it('prices a new model without a release, charges a changed price from the fetch on and old calls at the old; audited price.changed with SKUs', async () => {
    // The scheduled run, as EventBridge starts it: no pages, so the function reads the Price List (here, local/price-list).
    const scheduled = (await invoke('functions/prices/handler.ts', {
      'detail-type': 'Scheduled Event',
      detail: {},
    })) as {
      unmapped: string[];
    };
    expect(scheduled.unmapped).toContain('AmazonBedrock: Nova 2.0 Pro Preview');
    expect((await refreshFrom([...base, lite('0.06')])).changes.map((c) => [c.change, c.model, c.scope])).toEqual([
      ['new', 'amazon.nova-lite-v1:0', REGION],
    ]);
    const between = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await refreshFrom([...base.filter((p) => p.model !== 'amazon.nova-2-pro-v1:0'), lite('0.05')]);
    expect(second.changes.map((c) => [c.change, c.model])).toEqual([
      ['changed', 'amazon.nova-lite-v1:0'],
      ['vanished', 'amazon.nova-2-pro-v1:0'],
    ]);
    await cacheExpiry();

    const user = `fetched-${unique()}`;
    const id = unique();
    const call = (n: number, modelId: string, timestamp: string, region: string) =>
      invocationLog(`${id}-${n}`, userArn(user), {
        timestamp,
        modelId,
        region,
        input: { inputTokenCount: 1_000_000 },
        output: { outputTokenCount: 0 },
      });
    const after = new Date().toISOString();
    await deliverLogs([
      call(1, 'amazon.nova-lite-v1:0', between, REGION),
      call(2, 'amazon.nova-lite-v1:0', after, REGION),
      call(3, 'amazon.nova-2-pro-v1:0', between, 'us-east-1'),
    ]);

    const costs = [];
    for (const n of [1, 2, 3]) costs.push(value((await item('UsageTableName', { requestId: `${id}-${n}` }))?.costUsd));
    // Nova Lite: 0.06 per 1M input until the second fetch, 0.05 after; Nova 2.0 Pro (in no catalog): 1.25.
    expect(costs).toEqual(['0.06', '0.05', '1.25']);
    expect((await item('UsageTableName', { requestId: `${id}-3` }))?.unknownModel).toBe(false);

    const changes = (await entriesOf('MODEL#amazon.nova-lite-v1:0')).filter(
      (e) => e.action === 'price.changed' && e.details.scope === REGION,
    );
    expect(changes.map((e) => [e.actor, e.details.source, e.details.skus])).toEqual([
      [local.admin.arn, 'fetched', ['NLAPSE4IN0000001']],
      [local.admin.arn, 'fetched', ['NLAPSE4IN0000001']],
    ]);
    expect(changes[1]?.details).toMatchObject({ old: { input: '0.06' }, new: { input: '0.05' } });
    const scheduledEntries = (await entriesOf('MODEL#amazon.nova-2-pro-v1:0')).filter(
      (e) => e.actor === 'system:prices',
    );
    expect(scheduledEntries[0]?.details).toMatchObject({
      source: 'fetched',
      skus: ['N2P00000IN000001', 'N2P00000OUT00001'],
    });
  });
});
