import { designLoad, ORGANIZATION_DESIGN_LOAD } from '../../bench/design-load';

const load = (overrides: Partial<Parameters<typeof designLoad>[0]> = {}) =>
  designLoad({ ...ORGANIZATION_DESIGN_LOAD, payloadBytesPerCall: 60, ...overrides });

describe('the organization design load (docs/performance.md)', () => {
  it('sizes provisioned shards by the larger of bytes and records a second, used at most half at peak', () => {
    // 2,000 calls/s x (60 + 4,400 / 3) bytes = 3.05 MB/s: 7 shards at half a MB/s each; 0.12 MB/s without text: 2.
    expect(load().kinesis.provisionedShards).toEqual({ withoutText: 2, withText: 7 });
    // Deliveries of one event: 2,000 records/s, 4 shards at 500 records/s each, whatever the bytes.
    expect(load({ deliverySize: 1 }).kinesis.provisionedShards.withoutText).toBe(4);
  });

  it('provisions DynamoDB for the write units of both routes at the auto-scaling target', () => {
    const { dynamo } = load();
    // 3 (sighting) + 3 (charge row, index left) + 2 (a counter per call) = 8 units a call.
    expect(dynamo.writeUnitsPerCall).toBe(8);
    expect(dynamo.wcu).toBe(16_000);
    expect(dynamo.provisioned).toEqual({ wcu: Math.ceil(16_000 / 0.7), rcu: Math.ceil(2_240 / 0.7) });
    // Usage: sighting and charge rows (4 units a call); its index: in and out (2); Budgets: the counter (2).
    expect(dynamo.provisionedWcuByTable).toEqual({
      usage: Math.ceil(8_000 / 0.7),
      usageUnmeteredIndex: Math.ceil(4_000 / 0.7),
      budgets: Math.ceil(4_000 / 0.7),
    });
  });

  it('bills on-demand Kinesis per record rounded up to 1 KB, so smaller deliveries cost more per call', () => {
    const tens = load().costPer1MCallsUsd.kinesisOnDemandUsd.withoutText;
    const ones = load({ deliverySize: 1 }).costPer1MCallsUsd.kinesisOnDemandUsd.withoutText;
    // The stream-hour charge spread over the month's calls is the same for both.
    const streamHours = (0.04 * 730 * 1e6) / load().callsPerMonth;
    // 1M records of 1 KB against 100,000 records of 1 KB: ten times the data charge.
    expect(ones - streamHours).toBeCloseTo(10 * (tens - streamHours), 10);
  });

  it('asks for more ingest concurrency as transactions slow down', () => {
    expect(load().ingest.concurrency).toBe(6);
    expect(load({ transactionMs: 100 }).ingest.concurrency).toBe(21);
  });
});
