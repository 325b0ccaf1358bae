import Big from 'big.js';
import { type Usd, ZERO } from '../money';
import { BUCKET_MS, bucketStart, HOUR_BUCKETS } from './buckets';

/** What a principal's (or the default's) limit item may say of its rate: above it, alert or suspend. */
export const RATE_ACTIONS = ['alert', 'suspend'] as const;
export type RateAction = (typeof RATE_ACTIONS)[number];

export interface RateRule {
  readonly maxUsdPerHour: Usd;
  readonly onRate: RateAction;
  /** What an anomalous hour does (see anomalyOf): alert, or suspend until an admin decides or the period ends. */
  readonly onAnomaly?: RateAction;
}

/** One 5-minute bucket's spend (see buckets.ts). */
export interface Bucket {
  readonly start: Date;
  readonly spendUsd: Usd;
}

const HOUR_MS = 3_600_000;

/** A rolling window of whole buckets: the `hours` hours that end with the bucket holding `end`. */
export interface RateWindow {
  /** The first instant of the window's first bucket. */
  readonly from: Date;
  /** The first instant after the window's last bucket. */
  readonly to: Date;
  readonly spendUsd: Usd;
}

/** The spend of the rolling window of `hours` hours ending with the bucket holding `end`. */
export function windowEnding(buckets: readonly Bucket[], end: Date, hours = 1): RateWindow {
  const to = bucketStart(end).getTime() + BUCKET_MS;
  const from = to - hours * HOUR_MS;
  let spend = ZERO;
  for (const bucket of buckets) {
    const at = bucket.start.getTime();
    if (at >= from && at < to) spend = spend.plus(bucket.spendUsd);
  }
  return { from: new Date(from), to: new Date(to), spendUsd: spend };
}

/** Above the rate: strictly more than the rule allows in the rolling hour. */
export const isOverRate = (hourSpend: Usd, rule: Pick<RateRule, 'maxUsdPerHour'>) => hourSpend.gt(rule.maxUsdPerHour);

/**
 * When the rolling hour falls back to the rate or under it, if nothing more is spent (a suspended principal spends
 * nothing): `now` if it is there already, else the first bucket boundary after which the buckets still in the
 * window add up to no more than the rate. At most an hour after the last bucket with spend.
 */
export function fallsBackAt(buckets: readonly Bucket[], rule: Pick<RateRule, 'maxUsdPerHour'>, now: Date): Date {
  if (!isOverRate(windowEnding(buckets, now).spendUsd, rule)) return now;
  const first = bucketStart(now).getTime() + BUCKET_MS;
  for (let step = 0; step < HOUR_BUCKETS; step++) {
    const at = new Date(first + step * BUCKET_MS);
    if (!isOverRate(windowEnding(buckets, at).spendUsd, rule)) return at;
  }
  return new Date(first + HOUR_BUCKETS * BUCKET_MS);
}

/** Hours the forecast's rate is measured over. */
export const FORECAST_HOURS = 3;

/**
 * When a principal at the rate of its last `hours` hours exhausts its budget, if that comes before the period
 * ends; undefined when it does not (or it is exhausted already, or nothing was spent lately). Money stays exact;
 * only the instant is rounded to the millisecond.
 */
export function forecastExhaustion(input: {
  readonly spendUsd: Usd;
  readonly limitUsd: Usd;
  readonly recent: RateWindow;
  readonly periodEnd: Date;
}): { at: Date; usdPerHour: Usd } | undefined {
  const { spendUsd, limitUsd, recent, periodEnd } = input;
  if (spendUsd.gte(limitUsd) || recent.spendUsd.lte(0)) return undefined;
  const hours = new Big(recent.to.getTime() - recent.from.getTime()).div(HOUR_MS);
  const usdPerHour = recent.spendUsd.div(hours);
  const hoursLeft = limitUsd.minus(spendUsd).div(usdPerHour);
  const at = new Date(recent.to.getTime() + Math.ceil(Number(hoursLeft.times(HOUR_MS).toFixed(0))));
  return at < periodEnd ? { at, usdPerHour } : undefined;
}

/** The anomaly rule: the last hour at least FACTOR times the usual hour, and at least the floor. */
export interface AnomalyRule {
  readonly factor: number;
  readonly floorUsd: Usd;
  /** Hours before the last one whose median is the usual hour. */
  readonly trailingHours: number;
}

export const DEFAULT_ANOMALY_RULE: AnomalyRule = { factor: 10, floorUsd: new Big('5'), trailingHours: 24 };

/** The median of amounts, exact (the mean of the middle two for an even count); zero for none. */
export function median(amounts: readonly Usd[]): Usd {
  if (amounts.length === 0) return ZERO;
  const sorted = [...amounts].sort((a, b) => a.cmp(b));
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] as Usd;
  return sorted.length % 2 === 1 ? upper : (sorted[middle - 1] as Usd).plus(upper).div(2);
}

/**
 * Judges the hour ending with the bucket holding `end` against the principal's usual hourly spend: the median of
 * the `trailingHours` whole hours before it (idle hours count as zero, so a principal that seldom spends has a usual
 * hour of nothing, and the floor alone stands between its first big hour and the alert).
 */
export function anomalyOf(
  buckets: readonly Bucket[],
  end: Date,
  rule: AnomalyRule = DEFAULT_ANOMALY_RULE,
): { anomalous: boolean; lastHour: RateWindow; usualHourUsd: Usd } {
  const lastHour = windowEnding(buckets, end);
  const hours: Usd[] = [];
  for (let hour = 1; hour <= rule.trailingHours; hour++) {
    hours.push(windowEnding(buckets, new Date(lastHour.to.getTime() - hour * HOUR_MS - 1)).spendUsd);
  }
  const usualHourUsd = median(hours);
  const threshold = usualHourUsd.times(rule.factor);
  const anomalous = lastHour.spendUsd.gte(rule.floorUsd) && lastHour.spendUsd.gte(threshold);
  return { anomalous, lastHour, usualHourUsd };
}
