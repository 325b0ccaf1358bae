import Big from 'big.js';
import * as z from 'zod';

// Money is exact decimal. big.js keeps every digit of a sum; division (only by powers of ten here) is exact
// within DP places, far beyond what a token price can produce. The settings belong to a constructor of this
// module's own (`Big()` returns a fresh one), so `new Big()` elsewhere keeps the library's defaults.
const Decimal = Big();
Decimal.DP = 30;
Decimal.RM = Decimal.roundHalfEven;

export type Usd = Big;

const DECIMAL = /^-?\d+(\.\d+)?$/;

/** Bounds of a limit: $999,999,999,999.999999 at most, so no typo of extra digits passes as a budget. */
export const MAX_LIMIT_DIGITS = 12;
export const MAX_LIMIT_PLACES = 6;

export class MoneyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MoneyError';
  }
}

/**
 * Reads an exact decimal the system itself wrote (a DynamoDB number, a catalog price, a checked setting) or takes
 * a Big into this module's arithmetic. A sign is allowed: a difference or a correction can be negative. Amounts
 * people type go through `parseLimitUsd`, which refuses what a limit cannot be. JS numbers are refused: they may
 * be binary floats.
 */
export function usd(value: string | Big): Usd {
  if (value instanceof Big) return value.constructor === Decimal ? value : new Decimal(value);
  if (typeof value !== 'string' || !DECIMAL.test(value)) {
    throw new MoneyError(`not a decimal amount: ${JSON.stringify(value)}`);
  }
  return new Decimal(value);
}

/**
 * A budget limit as a person writes it (`budget set`, a budgets file): a string of plain decimal digits, not
 * negative, at most MAX_LIMIT_DIGITS digits before the point and MAX_LIMIT_PLACES after it (leading and trailing
 * zeros do not count: they change nothing). A JSON number is refused with a hint to quote it: by the time it is
 * a number it may already have passed through a binary float (`0.1`, `1e21`).
 */
export function parseLimitUsd(text: unknown): Usd {
  if (typeof text === 'number' || typeof text === 'bigint') {
    throw new MoneyError(`write the limit as a quoted decimal string, "${String(text)}" rather than ${text}`);
  }
  if (typeof text !== 'string') {
    throw new MoneyError(`a limit is a decimal amount in USD such as "50" or "12.50", not ${shown(text)}`);
  }
  if (text.startsWith('-')) throw new MoneyError(`a limit cannot be negative: ${shown(text)}`);
  if (/^[+]?[\d.]*[eE]/.test(text)) {
    throw new MoneyError(`write the limit in plain decimal digits (1000, not 1e3): ${shown(text)}`);
  }
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new MoneyError(`not an amount in USD: ${shown(text)} (write it as 50 or 12.50)`);
  const digits = (match[1] ?? '').replace(/^0+/, '').length;
  const places = (match[2] ?? '').replace(/0+$/, '').length;
  if (digits > MAX_LIMIT_DIGITS) {
    throw new MoneyError(`a limit has at most ${MAX_LIMIT_DIGITS} digits before the point: ${shown(text)}`);
  }
  if (places > MAX_LIMIT_PLACES) {
    throw new MoneyError(`a limit has at most ${MAX_LIMIT_PLACES} decimal places: ${shown(text)}`);
  }
  return new Decimal(text);
}

/**
 * A limit in a schema (settings, scenario actions), checked by parseLimitUsd and kept as the text written: zod
 * reports parseLimitUsd's message as the issue.
 */
export const limitUsdText = z.unknown().transform((value, context) => {
  try {
    parseLimitUsd(value);
    return value as string;
  } catch (error) {
    if (!(error instanceof MoneyError)) throw error;
    context.addIssue({ code: 'custom', message: error.message, input: value });
    return z.NEVER;
  }
});

/** Input echoed in an error, cut short: a pasted megabyte must not become the message. */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export const ZERO: Usd = new Decimal(0);

export function sum(amounts: Iterable<Usd>): Usd {
  let total = ZERO;
  for (const amount of amounts) total = total.plus(amount);
  return total;
}

/** Canonical decimal string: no exponent, no trailing zeros beyond what the value needs. */
export function toDecimalString(amount: Usd): string {
  return amount.toFixed();
}

/** For people: rounded half-even to the cent, e.g. "$12.35". The stored value keeps every digit. */
export function formatUsd(amount: Usd, places = 2): string {
  const text = usd(amount).toFixed(places);
  // A negative amount that rounds to nothing is shown as nothing: big.js would keep its sign ("$-0.00").
  return `$${/^-0\.?0*$/.test(text) ? text.slice(1) : text}`;
}

/** Percentage of limit spent, exact to two places; a zero limit means any spend is over budget. */
export function percentOf(spend: Usd, limit: Usd): Big {
  if (limit.eq(0)) return spend.gt(0) ? new Decimal(Number.MAX_SAFE_INTEGER) : ZERO;
  return usd(spend).times(100).div(limit).round(2, Decimal.roundDown);
}
