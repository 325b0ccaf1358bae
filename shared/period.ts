/** Budget periods. A period is a key (`2026-11`, `2026-W47`, `2026-11-20`): a new period is a new counter item,
 * so rollover needs no reset job. All periods are UTC. A `total` budget (prepaid) never resets: its one key is
 * `TOTAL`, a period with no end. */
export const PERIOD_KINDS = ['monthly', 'weekly', 'daily', 'total'] as const;
export type PeriodKind = (typeof PERIOD_KINDS)[number];
/** The kinds a deployment's own period may be: its account budget and default limit renew. */
export const RESETTING_PERIOD_KINDS = ['monthly', 'weekly', 'daily'] as const;

/** The key of the period that never ends: a principal's (or group's) one prepaid counter. */
export const TOTAL_PERIOD = 'TOTAL';

export function isPeriodKind(value: unknown): value is PeriodKind {
  return typeof value === 'string' && (PERIOD_KINDS as readonly string[]).includes(value);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** ISO-8601 week: weeks start on Monday, week 1 holds the year's first Thursday. */
function isoWeek(date: Date): { year: number; week: number } {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const day = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  return { year: d.getUTCFullYear(), week: Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7) };
}

export function periodKey(kind: PeriodKind, at: Date): string {
  if (Number.isNaN(at.getTime())) throw new RangeError('periodKey needs a valid date');
  switch (kind) {
    case 'monthly':
      return `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}`;
    case 'daily':
      return `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())}`;
    case 'weekly': {
      const { year, week } = isoWeek(at);
      return `${year}-W${pad(week)}`;
    }
    case 'total':
      return TOTAL_PERIOD;
  }
}

/** The first instant after the period that contains `at` (when a suspension lapses); undefined for `total`. */
export function periodEnd(kind: PeriodKind, at: Date): Date | undefined {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  const d = at.getUTCDate();
  switch (kind) {
    case 'monthly':
      return new Date(Date.UTC(y, m + 1, 1));
    case 'daily':
      return new Date(Date.UTC(y, m, d + 1));
    case 'weekly': {
      const day = at.getUTCDay() || 7;
      return new Date(Date.UTC(y, m, d + 8 - day));
    }
    case 'total':
      return undefined;
  }
}

const KEY_PATTERNS: Record<PeriodKind, RegExp> = {
  monthly: /^\d{4}-\d{2}$/,
  weekly: /^\d{4}-W\d{2}$/,
  daily: /^\d{4}-\d{2}-\d{2}$/,
  total: /^TOTAL$/,
};

/** Which kind of period a key names (`2026-11` monthly, `2026-W47` weekly, `2026-11-20` daily), if any. */
export function periodKindOfKey(key: string): PeriodKind | undefined {
  return PERIOD_KINDS.find((kind) => KEY_PATTERNS[kind].test(key));
}

/** The first instant of the period a key names (`2026-11`, `2026-W47`, `2026-11-20`); undefined for no period and
 * for `TOTAL` (its start is the grant's, on its limit item: see grantStart). */
export function periodStartOfKey(key: string): Date | undefined {
  const kind = periodKindOfKey(key);
  const end = periodEndOfKey(key);
  if (!kind || kind === 'total' || !end) return undefined;
  const last = new Date(end.getTime() - 1);
  const y = last.getUTCFullYear();
  const m = last.getUTCMonth();
  switch (kind) {
    case 'monthly':
      return new Date(Date.UTC(y, m, 1));
    case 'daily':
      return new Date(Date.UTC(y, m, last.getUTCDate()));
    case 'weekly':
      return new Date(end.getTime() - 7 * 86_400_000);
  }
}

/** The first instant after the period a key names (`2026-11`, `2026-W47`, `2026-11-20`); undefined for no period. */
export function periodEndOfKey(key: string): Date | undefined {
  const kind = periodKindOfKey(key);
  if (!kind || kind === 'total') return undefined;
  if (kind === 'weekly') {
    const [year, week] = key.split('-W').map(Number) as [number, number];
    // ISO week 1 holds 4 January; its Monday, then `week - 1` weeks on.
    const jan4 = new Date(Date.UTC(year, 0, 4));
    const monday = Date.UTC(year, 0, 4 - ((jan4.getUTCDay() || 7) - 1) + (week - 1) * 7);
    return periodEnd('weekly', new Date(monday));
  }
  const [y, m, d] = key.split('-').map(Number) as [number, number, number?];
  return periodEnd(kind, new Date(Date.UTC(y, m - 1, d ?? 1)));
}

/** The UTC day `days` before `at`, as YYYY-MM-DD: a daily job at 06:00 reports whole days before its run. */
export function daysBefore(at: Date, days: number): string {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() - days)).toISOString().slice(0, 10);
}
