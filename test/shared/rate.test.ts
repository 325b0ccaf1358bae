import { NumberValue } from '@aws-sdk/lib-dynamodb';
import { kindOfKey, parseBudgetItem } from '../../shared/budgets/items';
import { usd } from '../../shared/money';
import { periodKindOfKey } from '../../shared/period';
import { bucketKey, bucketRange, bucketStartOfKey } from '../../shared/rate/buckets';
import {
  anomalyOf,
  type Bucket,
  fallsBackAt,
  forecastExhaustion,
  isOverRate,
  median,
  windowEnding,
} from '../../shared/rate/rules';

const at = (iso: string) => new Date(iso);
const bucket = (iso: string, spend: string): Bucket => ({ start: at(iso), spendUsd: usd(spend) });

describe('rate bucket keys', () => {
  it('names the 5-minute bucket a call falls in, in UTC, sorting by time', () => {
    expect(bucketKey(at('2026-12-01T10:39:59.999Z'))).toBe('RATE#2026-12-01T10:35');
    expect(bucketKey(at('2026-12-01T10:40:00.000Z'))).toBe('RATE#2026-12-01T10:40');
    expect(bucketStartOfKey('RATE#2026-12-01T10:35')).toEqual(at('2026-12-01T10:35:00Z'));
    expect(bucketStartOfKey('RATE#2026-12-01T10:36')).toBeUndefined();
    expect(bucketRange(at('2026-12-01T10:37:00Z'), 12)).toEqual({
      from: 'RATE#2026-12-01T09:40',
      to: 'RATE#2026-12-01T10:35',
    });
  });

  it('is never taken for a budget period or a principal counter by the readers that list periods', () => {
    const key = bucketKey(at('2026-12-01T10:35:00Z'));
    expect(periodKindOfKey(key)).toBeUndefined();
    expect(kindOfKey('user/alice', key)).toBe('rate');
    expect(parseBudgetItem({ principal: 'user/alice', period: key, spendUsd: new NumberValue('0.5') }).kind).toBe(
      'rate',
    );
    // Lexically between LIMIT and the budget periods of any year: a range on one never reaches the other.
    expect('LIMIT' < key && key > '9999-12').toBe(true);
  });
});

describe('rolling hour', () => {
  const buckets = [
    bucket('2026-12-01T09:30:00Z', '4'), // out of the hour ending 10:39:59
    bucket('2026-12-01T09:40:00Z', '1'),
    bucket('2026-12-01T10:00:00Z', '2'),
    bucket('2026-12-01T10:35:00Z', '2.5'),
  ];

  it('adds the 12 buckets that end with the one holding the time, not a clock hour', () => {
    const hour = windowEnding(buckets, at('2026-12-01T10:37:00Z'));
    expect(hour).toEqual({ from: at('2026-12-01T09:40:00Z'), to: at('2026-12-01T10:40:00Z'), spendUsd: usd('5.5') });
    // The hour ending with 10:25's bucket holds 09:30's $4 and not 10:35's.
    expect(windowEnding(buckets, at('2026-12-01T10:29:00Z')).spendUsd.toFixed()).toBe('7');
  });

  it('is over the rate only when strictly above it', () => {
    expect(isOverRate(usd('5'), { maxUsdPerHour: usd('5') })).toBe(false);
    expect(isOverRate(usd('5.000001'), { maxUsdPerHour: usd('5') })).toBe(true);
  });

  it('falls back when the buckets that put it over leave the window, if nothing more is spent', () => {
    const rule = { maxUsdPerHour: usd('3') };
    // At 10:37 the hour holds 1 + 2 + 2.5; 09:40's $1 leaves at 10:40 (4.5, still over), 10:00's $2 at 11:00.
    expect(fallsBackAt(buckets, rule, at('2026-12-01T10:37:00Z'))).toEqual(at('2026-12-01T11:00:00Z'));
    // Under the rate already: now.
    expect(fallsBackAt(buckets, { maxUsdPerHour: usd('6') }, at('2026-12-01T10:37:00Z'))).toEqual(
      at('2026-12-01T10:37:00Z'),
    );
    // A single bucket over the rate leaves an hour after it began.
    expect(fallsBackAt([bucket('2026-12-01T10:35:00Z', '9')], rule, at('2026-12-01T10:36:00Z'))).toEqual(
      at('2026-12-01T11:35:00Z'),
    );
  });
});

describe('forecast', () => {
  const recent = { from: at('2026-12-10T09:00:00Z'), to: at('2026-12-10T12:00:00Z'), spendUsd: usd('30') };

  it('says when the rate of the last hours exhausts the budget, if before the period ends', () => {
    // $10 an hour, $50 left: five hours after the window ends.
    const forecast = forecastExhaustion({
      spendUsd: usd('50'),
      limitUsd: usd('100'),
      recent,
      periodEnd: at('2027-01-01T00:00:00Z'),
    });
    expect(forecast?.at).toEqual(at('2026-12-10T17:00:00Z'));
    expect(forecast?.usdPerHour.toFixed()).toBe('10');
  });

  it('says nothing when the period ends first, nothing was spent lately, or the budget is spent', () => {
    const periodEnd = at('2026-12-10T16:59:59Z');
    expect(forecastExhaustion({ spendUsd: usd('50'), limitUsd: usd('100'), recent, periodEnd })).toBeUndefined();
    const idle = { ...recent, spendUsd: usd('0') };
    expect(
      forecastExhaustion({ spendUsd: usd('50'), limitUsd: usd('100'), recent: idle, periodEnd: at('2027-01-01') }),
    ).toBeUndefined();
    expect(
      forecastExhaustion({ spendUsd: usd('100'), limitUsd: usd('100'), recent, periodEnd: at('2027-01-01') }),
    ).toBeUndefined();
  });
});

describe('anomaly', () => {
  const end = at('2026-12-10T12:02:00Z');
  /** One bucket in each of the 24 hours before the last one (11:05 to 12:05), each costing `usual`. */
  const history = (usual: string) =>
    Array.from({ length: 24 }, (_, hour) =>
      bucket(new Date(Date.parse('2026-12-10T10:05:00Z') - hour * 3_600_000).toISOString(), usual),
    );
  const rule = { factor: 10, floorUsd: usd('5'), trailingHours: 24 };

  it('takes the exact median, the mean of the middle two for an even count', () => {
    expect(median([usd('1'), usd('3'), usd('2'), usd('10')]).toFixed()).toBe('2.5');
    expect(median([]).toFixed()).toBe('0');
  });

  it('flags a last hour of at least k times the usual hour', () => {
    const buckets = [...history('1'), bucket('2026-12-10T12:00:00Z', '10')];
    const judged = anomalyOf(buckets, end, rule);
    expect(judged.usualHourUsd.toFixed()).toBe('1');
    expect(judged.lastHour.spendUsd.toFixed()).toBe('10');
    expect(judged.anomalous).toBe(true);
    expect(anomalyOf([...history('1'), bucket('2026-12-10T12:00:00Z', '9.99')], end, rule).anomalous).toBe(false);
  });

  it('does not flag a new principal for its first dollars: the floor stands above a usual hour of nothing', () => {
    expect(anomalyOf([bucket('2026-12-10T12:00:00Z', '4.99')], end, rule).anomalous).toBe(false);
    expect(anomalyOf([bucket('2026-12-10T12:00:00Z', '5')], end, rule).anomalous).toBe(true);
  });
});
