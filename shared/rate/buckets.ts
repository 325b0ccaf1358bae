import { KEYS } from '../budgets/items';

/**
 * Rate buckets: a principal's spend per 5 minutes, one Budgets item each (`principal`, `RATE#2026-12-01T10:35`),
 * added to in the ingest transaction that charges the calls, so a bucket counts each call once, exactly as the
 * period counter does. Rolling windows are sums of consecutive buckets read with one Query on the principal (the
 * keys sort by time). The period key starts with `RATE#`, which no budget period (`2026-12`, `2026-W49`,
 * `2026-12-01`) nor LIMIT does: readers that look for a principal's budget periods ask for an exact period or parse
 * the key's kind, and a bucket is neither. Buckets expire with the table's TTL after RATE_TTL_DAYS. A group's rate
 * (issue #15, groups) is the same item under the group's key, added in the same transaction as its counter.
 */
export const BUCKET_MINUTES = 5;
export const BUCKET_MS = BUCKET_MINUTES * 60_000;
/** Buckets in a rolling hour. */
export const HOUR_BUCKETS = 60 / BUCKET_MINUTES;
/** Long enough for the anomaly rule's trailing day and a forecast's last hours, with room for late records. */
export const RATE_TTL_DAYS = 3;
export const RATE_PERIOD_PREFIX = KEYS.ratePrefix;

const KEY = /^RATE#(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})$/;

/** The start of the 5-minute bucket holding `at`. */
export function bucketStart(at: Date): Date {
  if (Number.isNaN(at.getTime())) throw new RangeError('bucketStart needs a valid date');
  return new Date(Math.floor(at.getTime() / BUCKET_MS) * BUCKET_MS);
}

/** The period key of the bucket holding `at`: `RATE#2026-12-01T10:35` (UTC, minutes a multiple of 5). */
export function bucketKey(at: Date): string {
  return `${RATE_PERIOD_PREFIX}${bucketStart(at).toISOString().slice(0, 16)}`;
}

export const isBucketKey = (period: string) => KEY.test(period);

/** When the bucket a key names starts; undefined for a key that names none. */
export function bucketStartOfKey(period: string): Date | undefined {
  const match = KEY.exec(period);
  if (!match) return undefined;
  const at = new Date(`${match[1]}:00.000Z`);
  return Number.isNaN(at.getTime()) || at.getTime() % BUCKET_MS !== 0 ? undefined : at;
}

/** When a bucket item expires (epoch seconds): RATE_TTL_DAYS after its bucket ends. */
export const bucketExpiry = (at: Date) =>
  Math.floor((bucketStart(at).getTime() + BUCKET_MS) / 1000) + RATE_TTL_DAYS * 86_400;

/**
 * The keys bounding the `buckets` buckets that end with the one holding `end` (both included): the range of a Query
 * `period BETWEEN :from AND :to`.
 */
export function bucketRange(end: Date, buckets: number): { from: string; to: string } {
  const last = bucketStart(end).getTime();
  return { from: bucketKey(new Date(last - (buckets - 1) * BUCKET_MS)), to: bucketKey(new Date(last)) };
}
