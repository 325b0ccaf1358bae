import Big from 'big.js';
import { type Usd, usd } from '../shared/money';
import type { PeriodKind } from '../shared/period';

/** Columns padded to their widest cell; `right` columns (amounts) aligned right. Nothing is cut. */
export function alignedTable(
  header: readonly string[],
  rows: readonly string[][],
  right: readonly number[] = [],
): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (right.includes(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${all.map(line).join('\n')}\n`;
}

/** Dollars for people, every digit kept: a limit of 0.125 shows as $0.125, 50 as $50.00. */
export function dollars(amount: Usd): string {
  const places = Math.max(2, amount.c.length - amount.e - 1);
  return `$${amount.toFixed(places)}`;
}

export const periodNoun = (kind: PeriodKind) =>
  ({ monthly: 'month', weekly: 'week', daily: 'day', total: 'grant' })[kind];

/** How long a limit lasts, for people: `per month`, or `in total (never resets)` for a prepaid grant. */
export const perPeriod = (kind: PeriodKind) =>
  kind === 'total' ? 'in total (never resets)' : `per ${periodNoun(kind)}`;

/** A limit for people: `-` where there is none of the period's kind. */
export const limitText = (limitUsd: string | null): string => (limitUsd === null ? '-' : dollars(usd(limitUsd)));

/**
 * The share of its limit a row used: a percent, `blocked` under a zero limit (a principal that may not spend), or
 * `-` without a limit of the period's kind.
 */
export const usedText = (row: { readonly percent: string | null; readonly blocked: boolean }): string =>
  row.blocked ? 'blocked' : row.percent === null ? '-' : `${row.percent}%`;

/** A limit as `budget list` and `budget set` show it: a zero limit says what it means. */
export const limitMeaning = (limitUsd: string): string =>
  usd(limitUsd).eq(0) ? `${dollars(usd(limitUsd))} (blocked: may not spend)` : dollars(usd(limitUsd));

/** Cells of a bar: 20, so each is 5% of the limit. */
export const BAR_CELLS = 20;

/**
 * The share of its limit a row used, as a bar for a terminal: a full cell per 5%, rounded down (a cell is never
 * shown before it is earned), full at 100% and over (`▶` at the end past 100%). Empty without a limit of the
 * period's kind; a blocked row (a zero limit) is all `×`.
 */
export function usedBar(
  row: { readonly percent: string | null; readonly blocked: boolean },
  cells = BAR_CELLS,
): string {
  if (row.blocked) return '×'.repeat(cells);
  if (row.percent === null) return '';
  const percent = new Big(row.percent);
  const full = Math.min(cells, new Big(percent).times(cells).div(100).round(0, Big.roundDown).toNumber());
  const bar = `${'█'.repeat(full)}${'░'.repeat(cells - full)}`;
  return percent.gt(100) ? `${bar.slice(0, -1)}▶` : bar;
}
