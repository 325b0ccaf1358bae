import type { Usd } from '../shared/money';
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

export const periodNoun = (kind: PeriodKind) => ({ monthly: 'month', weekly: 'week', daily: 'day' })[kind];
