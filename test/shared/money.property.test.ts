import fc from 'fast-check';
import {
  formatUsd,
  MAX_LIMIT_DIGITS,
  MAX_LIMIT_PLACES,
  parseLimitUsd,
  percentOf,
  sum,
  toDecimalString,
  usd,
} from '../../shared/money';

/**
 * Money is exact decimal: the oracle here is integer arithmetic (BigInt) on amounts scaled to a fixed number of
 * places, which no binary float touches.
 */
const PLACES = 12;
const SCALE = 10n ** BigInt(PLACES);

/** The canonical decimal text of `units` / 10^places: no exponent, no trailing zeros, no leading zeros. */
function decimalText(units: bigint, places = PLACES): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(places + 1, '0');
  const whole = digits.slice(0, -places).replace(/^0+(?=\d)/, '');
  const fraction = digits.slice(-places).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Half-even rounding of units (at PLACES) to `places`, as integer arithmetic. */
function roundHalfEven(units: bigint, places: number): bigint {
  const step = 10n ** BigInt(PLACES - places);
  const negative = units < 0n;
  const magnitude = negative ? -units : units;
  let quotient = magnitude / step;
  const remainder = magnitude % step;
  if (remainder * 2n > step || (remainder * 2n === step && quotient % 2n === 1n)) quotient += 1n;
  return negative ? -quotient : quotient;
}

/** Amounts as a metered call costs them: up to $10, to twelve decimal places. */
const smallUnits = fc.bigInt({ min: 0n, max: 10n * SCALE });
const anyUnits = fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n });

describe('money, for any amounts', () => {
  it('adds thousands of small amounts exactly, with no float drift', () => {
    fc.assert(
      fc.property(fc.array(smallUnits, { minLength: 1, maxLength: 2000 }), (amounts) => {
        const total = sum(amounts.map((units) => usd(decimalText(units))));
        expect(toDecimalString(total)).toBe(decimalText(amounts.reduce((a, b) => a + b, 0n)));
      }),
      { numRuns: 100 },
    );
  });

  it('adds n tenths of a cent to exactly n/1000 dollars, where floats drift', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), (n) => {
        expect(toDecimalString(sum(Array.from({ length: n }, () => usd('0.001'))))).toBe(
          decimalText(BigInt(n) * 10n ** BigInt(PLACES - 3)),
        );
      }),
    );
  });

  it('writes and reads back every decimal exactly (text -> amount -> text)', () => {
    fc.assert(
      fc.property(anyUnits, (units) => {
        const text = decimalText(units);
        expect(toDecimalString(usd(text))).toBe(text);
        expect(usd(toDecimalString(usd(text))).eq(usd(text))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('formats to cents rounding half to even, as integer arithmetic does', () => {
    fc.assert(
      fc.property(anyUnits, (units) => {
        const cents = roundHalfEven(units, 2);
        const negative = cents < 0n;
        const text = (negative ? -cents : cents).toString().padStart(3, '0');
        const expected = `$${negative ? '-' : ''}${text.slice(0, -2)}.${text.slice(-2)}`;
        // A negative amount that rounds to zero cents has no sign: $0.00, never $-0.00.
        expect(formatUsd(usd(decimalText(units)))).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('takes a limit exactly when it has at most 12 digits before the point and 6 after, and refuses the rest', () => {
    const limitText = fc
      .tuple(fc.stringMatching(/^\d{1,14}$/), fc.option(fc.stringMatching(/^\d{1,8}$/), { nil: undefined }))
      .map(([whole, fraction]) => (fraction === undefined ? whole : `${whole}.${fraction}`));
    fc.assert(
      fc.property(limitText, (text) => {
        const [whole = '', fraction = ''] = text.split('.');
        const fits =
          whole.replace(/^0+/, '').length <= MAX_LIMIT_DIGITS && fraction.replace(/0+$/, '').length <= MAX_LIMIT_PLACES;
        if (fits) expect(parseLimitUsd(text).eq(usd(text))).toBe(true);
        else expect(() => parseLimitUsd(text)).toThrow(/at most/);
      }),
      { numRuns: 1000 },
    );
  });

  it('never takes a JS number, a negative or an exponent as a limit', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.double({ noNaN: false }),
          fc.integer().map((n) => `-${Math.abs(n) + 1}`),
          fc.integer({ min: 1, max: 99 }).map((n) => `1e${n}`),
        ),
        (value) => {
          expect(() => parseLimitUsd(value)).toThrow();
        },
      ),
    );
  });

  it('reports a percent that is the exact share rounded down to two places', () => {
    const positive = fc.bigInt({ min: 1n, max: 10n ** 15n });
    fc.assert(
      fc.property(smallUnits, positive, (spendUnits, limitUnits) => {
        const percent = percentOf(usd(decimalText(spendUnits)), usd(decimalText(limitUnits)));
        // percent = floor(spend * 100 * 100 / limit) / 100
        const hundredths = (spendUnits * 10_000n) / limitUnits;
        expect(toDecimalString(percent)).toBe(decimalText(hundredths * 10n ** BigInt(PLACES - 2)));
      }),
      { numRuns: 1000 },
    );
  });
});
