import type Big from 'big.js';
import { usedPercent } from '../../shared/budgets';
import type { Usd } from '../../shared/money';

export interface Crossing {
  /** The threshold to alert for: the highest one crossed by this change. */
  readonly threshold: number;
  /** Lower thresholds crossed in the same jump, not alerted separately (the message says so). */
  readonly skipped: readonly number[];
  readonly percent: Big;
}

/**
 * Which alert a spend change calls for. A threshold t is crossed when old% < t <= new%, but what decides is the
 * level already alerted in this period (`alertedLevel`), not the old spend: that keeps a stream retry, a limit
 * change or a concurrent update from alerting a threshold twice, and lets a lowered limit alert at once.
 */
export function crossingFor(args: {
  readonly spend: Usd;
  readonly limit: Usd;
  readonly thresholds: readonly number[];
  readonly alertedLevel: number;
}): Crossing | undefined {
  const percent = usedPercent(args.spend, args.limit);
  // Under a zero limit the first charged call suspends (isExhausted): that is the one notice, no threshold alert.
  if (percent === undefined) return undefined;
  const crossed = args.thresholds.filter((t) => t > args.alertedLevel && percent.gte(t));
  const threshold = crossed[crossed.length - 1];
  if (threshold === undefined) return undefined;
  return { threshold, skipped: crossed.slice(0, -1), percent };
}

/**
 * Spend at or over the limit: the principal is to be suspended (or, for the account, everything stopped). Under a
 * zero limit that is any spend at all: the first charged call.
 */
export function isExhausted(spend: Usd, limit: Usd): boolean {
  return spend.gte(limit) && (limit.gt(0) || spend.gt(0));
}

/**
 * The level a new generation starts from: every threshold above the current percent of the limit in force is armed
 * again, those at or below it count as alerted (raising alice from $50 to $100 at $60 re-arms 80, 90 and 95%).
 */
export function rearmedLevel(spend: Usd, limit: Usd, thresholds: readonly number[]): number {
  const percent = usedPercent(spend, limit);
  // A zero limit has no thresholds to alert: every one counts as alerted.
  if (percent === undefined) return thresholds.reduce((level, t) => Math.max(level, t), 0);
  return thresholds.filter((t) => percent.gte(t)).reduce((level, t) => Math.max(level, t), 0);
}
