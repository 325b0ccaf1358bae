import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { NumberValue } from '@aws-sdk/lib-dynamodb';
import type { Decision } from '../../functions/evaluate/evaluate';
import { changedAtOf, DecisionMetrics, metricsOf } from '../../functions/evaluate/metrics';

const claimedAt = new Date('2026-11-20T12:00:05.250Z');
const decision = (kind: Decision['kind'], extra: Partial<Decision> = {}): Decision => ({
  kind,
  principal: 'user/alice',
  claimedAt,
  ...extra,
});
const charged = Date.parse('2026-11-20T12:00:04.000Z');

describe('metricsOf: what each decision counts for', () => {
  it('counts an alert in AlertsSent, once in all and once under its threshold, with its latency from the change', () => {
    expect(metricsOf(decision('threshold-alert', { threshold: 90 }), charged)).toEqual([
      { name: 'AlertsSent', unit: MetricUnit.Count, value: 1 },
      { name: 'AlertsSent', unit: MetricUnit.Count, value: 1, dimensions: { threshold: '90' } },
      { name: 'CrossingToDecisionLatency', unit: MetricUnit.Milliseconds, value: 1250 },
    ]);
  });

  it.each([
    ['suspension', 'SuspensionsStarted'],
    ['emergency-stop', 'EmergencyStops'],
    ['group-stop', 'GroupStops'],
    ['suspension-skipped', 'SuspensionsSkipped'],
    ['awaiting-confirmation', 'AwaitingConfirmation'],
  ] as const)('counts a %s in %s, with its latency from the crossing', (kind, metric) => {
    expect(metricsOf(decision(kind), charged)).toEqual([
      { name: metric, unit: MetricUnit.Count, value: 1 },
      { name: 'CrossingToDecisionLatency', unit: MetricUnit.Milliseconds, value: 1250 },
    ]);
  });

  it('measures no latency for what is no crossing, and none where the time of the change is unknown', () => {
    expect(metricsOf(decision('unknown-model'), charged)).toEqual([
      { name: 'UnknownModels', unit: MetricUnit.Count, value: 1 },
    ]);
    expect(metricsOf(decision('stop-deny'), charged)).toEqual([]);
    expect(metricsOf(decision('usage-conflict'), charged)).toEqual([]);
    expect(metricsOf(decision('suspension'), undefined)).toEqual([
      { name: 'SuspensionsStarted', unit: MetricUnit.Count, value: 1 },
    ]);
  });

  it('takes a claim stamped a little before the charge (two clocks) as made at once, not as a negative latency', () => {
    const latency = metricsOf(decision('suspension'), claimedAt.getTime() + 40).find(
      (point) => point.name === 'CrossingToDecisionLatency',
    );

    expect(latency?.value).toBe(0);
  });
});

describe('changedAtOf: when the change a stream record carries happened', () => {
  const before = { principal: 'user/alice', period: '2026-11', spendUsd: new NumberValue('10') };

  it('dates a charge by the counter’s updatedAt, to the millisecond', () => {
    const after = { ...before, spendUsd: new NumberValue('12.5'), updatedAt: '2026-11-20T12:00:04.000Z' };

    expect(changedAtOf({ newImage: after, oldImage: before, approximateCreationDateTime: 1_700_000_000 })).toBe(
      charged,
    );
    // The first charge of a period has no image before it.
    expect(changedAtOf({ newImage: after })).toBe(charged);
  });

  it('dates a confirmation (only the confirmed spend moved) by updatedAt too', () => {
    const after = { ...before, confirmedSpendUsd: new NumberValue('10'), updatedAt: '2026-11-20T12:00:04.000Z' };

    expect(changedAtOf({ newImage: after, oldImage: before, approximateCreationDateTime: 1 })).toBe(charged);
  });

  it('dates any other change (a limit set, the write that raised the alert level) by the stream record', () => {
    const stamped = { ...before, updatedAt: '2026-11-01T00:00:00.000Z' };

    expect(
      changedAtOf({
        newImage: { ...stamped, alertLevel: 90 },
        oldImage: stamped,
        approximateCreationDateTime: 1_795_000_000,
      }),
    ).toBe(1_795_000_000_000);
    expect(changedAtOf({ newImage: { ...stamped, alertLevel: 90 }, oldImage: stamped })).toBeUndefined();
  });
});

describe('DecisionMetrics: the handler’s metrics of a batch, in embedded metric format', () => {
  const env = { ...process.env };
  let logged: jest.SpyInstance;
  beforeEach(() => {
    // The global console, and metrics on although in dev mode.
    Object.assign(process.env, { POWERTOOLS_DEV: 'true', POWERTOOLS_METRICS_DISABLED: 'false' });
    logged = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    logged.mockRestore();
    process.env = { ...env };
  });
  /** Each EMF blob printed: its metric names and dimension sets, and the values by metric name. */
  const printed = () =>
    logged.mock.calls.map(([line]) => {
      const emf = JSON.parse(String(line));
      const [directive] = emf._aws.CloudWatchMetrics;
      return {
        namespace: directive.Namespace,
        dimensions: directive.Dimensions,
        values: Object.fromEntries(
          directive.Metrics.map((m: { Name: string }) => [m.Name, emf[m.Name]] as const),
        ) as Record<string, unknown>,
        threshold: emf.threshold,
      };
    });

  it('publishes what a batch decided once, under the Budgeteer namespace and the evaluate service, and nothing for a quiet batch', () => {
    const tally = new DecisionMetrics(new Metrics({ namespace: 'Budgeteer', serviceName: 'evaluate' }));

    tally.publish();
    expect(logged).not.toHaveBeenCalled();

    tally.judging({
      newImage: { principal: 'user/alice', period: '2026-11', spendUsd: '96', updatedAt: '2026-11-20T12:00:04.000Z' },
      oldImage: { principal: 'user/alice', period: '2026-11', spendUsd: '89' },
    });
    tally.record(decision('threshold-alert', { threshold: 90 }));
    tally.record(decision('threshold-alert', { threshold: 95 }));
    tally.record(decision('suspension'));
    tally.publish();

    const blobs = printed();
    // One blob per threshold (each with its own dimension, published at once), then the batch's.
    expect(blobs.filter((b) => b.threshold !== undefined).map((b) => [b.threshold, b.values])).toEqual([
      ['90', { AlertsSent: 1 }],
      ['95', { AlertsSent: 1 }],
    ]);
    const batch = blobs.filter((b) => b.threshold === undefined);
    expect(batch).toHaveLength(1);
    expect(batch[0]).toMatchObject({
      namespace: 'Budgeteer',
      dimensions: [['service']],
      values: { AlertsSent: [1, 1], SuspensionsStarted: 1, CrossingToDecisionLatency: [1250, 1250, 1250] },
    });
    for (const blob of blobs) expect(blob.namespace).toBe('Budgeteer');
    expect(blobs.find((b) => b.threshold)?.dimensions).toEqual([['service', 'threshold']]);

    logged.mockClear();
    tally.publish();
    expect(logged).not.toHaveBeenCalled();
  });
});
