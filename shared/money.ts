import Big from 'big.js';

// Money is exact decimal. big.js keeps every digit of a sum; division (only by powers of ten here) is exact
// within DP places, far beyond what a token price can produce.
Big.DP = 30;
Big.RM = Big.roundHalfEven;

export type Usd = Big;

const DECIMAL = /^-?\d+(\.\d+)?$/;

export class MoneyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MoneyError';
  }
}

/** Parses a decimal string (as DynamoDB and the catalog keep it). JS numbers are refused: they may be binary floats. */
export function usd(value: string | Big): Usd {
  if (value instanceof Big) return value;
  if (typeof value !== 'string' || !DECIMAL.test(value)) {
    throw new MoneyError(`not a decimal amount: ${JSON.stringify(value)}`);
  }
  return new Big(value);
}

export const ZERO: Usd = new Big(0);

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
  return `$${amount.toFixed(places)}`;
}

/** Percentage of limit spent, exact to two places; a zero limit means any spend is over budget. */
export function percentOf(spend: Usd, limit: Usd): Big {
  if (limit.eq(0)) return spend.gt(0) ? new Big(Number.MAX_SAFE_INTEGER) : ZERO;
  return spend.times(100).div(limit).round(2, Big.roundDown);
}
