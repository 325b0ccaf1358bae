import Big from 'big.js';
import {
  formatUsd,
  MAX_LIMIT_DIGITS,
  MAX_LIMIT_PLACES,
  MoneyError,
  parseLimitUsd,
  percentOf,
  sum,
  toDecimalString,
  usd,
} from '../../shared/money';

describe('exact money', () => {
  it('adds decimal amounts without binary float error', () => {
    const total = sum(Array.from({ length: 10 }, () => usd('0.1')));
    expect(toDecimalString(total)).toBe('1');
    expect(toDecimalString(usd('0.1').plus(usd('0.2')))).toBe('0.3');
  });

  it('keeps sub-cent digits of tiny token prices', () => {
    const perToken = usd('0.25').div(1_000_000);
    expect(toDecimalString(perToken.times(1200))).toBe('0.0003');
    expect(toDecimalString(sum(Array.from({ length: 3 }, () => usd('0.000000035'))))).toBe('0.000000105');
  });

  it('refuses JS numbers and malformed strings', () => {
    expect(() => usd(0.1 as unknown as string)).toThrow(MoneyError);
    expect(() => usd('1e3')).toThrow(MoneyError);
    expect(() => usd('$5')).toThrow(MoneyError);
  });

  it('reads a signed amount the system wrote: a difference or a correction can be negative', () => {
    expect(toDecimalString(usd('-0.25'))).toBe('-0.25');
    expect(toDecimalString(usd('1').minus(usd('1.5')))).toBe('-0.5');
  });

  it('rounds for display only, half-even to the cent', () => {
    expect(formatUsd(usd('12.345'))).toBe('$12.34');
    expect(formatUsd(usd('12.355'))).toBe('$12.36');
  });

  it('computes the percentage of a limit exactly, truncated to two places', () => {
    expect(percentOf(usd('40'), usd('50')).toFixed()).toBe('80');
    expect(percentOf(usd('39.999'), usd('50')).toFixed()).toBe('79.99');
  });
});

describe("money's big.js settings stay its own", () => {
  it('leaves the shared big.js constructor at the library defaults', () => {
    expect(Big.DP).toBe(20);
    expect(Big.RM).toBe(Big.roundHalfUp);
    expect(new Big(2).div(3).toFixed()).toBe('0.66666666666666666667');
    expect(new Big('0.125').toFixed(2)).toBe('0.13');
  });

  it('divides to 30 places and rounds half-even, whatever constructor made the amount', () => {
    expect(usd('2').div(3).toFixed()).toBe(`0.${'6'.repeat(29)}7`);
    expect(formatUsd(new Big('12.345'))).toBe('$12.34');
    expect(toDecimalString(percentOf(new Big('2'), new Big('3')))).toBe('66.66');
  });
});

describe('parseLimitUsd', () => {
  it.each([
    ['50', '50'],
    ['12.50', '12.5'],
    ['0', '0'],
    ['0.000001', '0.000001'],
    ['999999999999.999999', '999999999999.999999'],
    // Leading and trailing zeros change nothing, so they do not count against the bounds.
    ['000000000000050', '50'],
    ['10.10000000000', '10.1'],
  ])('accepts %s as the limit %s', (text, limit) => {
    expect(toDecimalString(parseLimitUsd(text))).toBe(limit);
  });

  it('keeps its arithmetic in the money settings (half-even display)', () => {
    expect(formatUsd(parseLimitUsd('0.125'))).toBe('$0.12');
  });

  it.each([
    [5, 'write the limit as a quoted decimal string, "5" rather than 5'],
    [1e21, 'write the limit as a quoted decimal string, "1e+21" rather than 1e+21'],
    [null, 'a limit is a decimal amount in USD such as "50" or "12.50", not null'],
    [true, 'not true'],
    [{ usd: '5' }, 'not {"usd":"5"}'],
    [undefined, 'not undefined'],
    ['-5', 'a limit cannot be negative: "-5"'],
    ['-0', 'a limit cannot be negative: "-0"'],
    ['1e3', 'write the limit in plain decimal digits (1000, not 1e3): "1e3"'],
    ['2.5E2', 'plain decimal digits'],
    ['', 'not an amount in USD: ""'],
    [' 5', 'not an amount in USD: " 5"'],
    ['+5', 'not an amount in USD'],
    ['5.', 'not an amount in USD'],
    ['.5', 'not an amount in USD'],
    ['$5', 'not an amount in USD'],
    ['1,000', 'not an amount in USD'],
    ['NaN', 'not an amount in USD'],
    ['1000000000000', `a limit has at most ${MAX_LIMIT_DIGITS} digits before the point: "1000000000000"`],
    ['1'.repeat(41), `at most ${MAX_LIMIT_DIGITS} digits before the point`],
    ['10.1234567', `a limit has at most ${MAX_LIMIT_PLACES} decimal places: "10.1234567"`],
    ['10.123456789012', `at most ${MAX_LIMIT_PLACES} decimal places`],
  ])('refuses %p: %s', (input, message) => {
    expect(() => parseLimitUsd(input)).toThrow(MoneyError);
    expect(() => parseLimitUsd(input)).toThrow(message);
  });

  it('cuts a long input short in its message', () => {
    const error = (() => {
      try {
        parseLimitUsd(`1.${'5'.repeat(10_000)}`);
      } catch (caught) {
        return caught as Error;
      }
    })();
    expect(error?.message.length).toBeLessThan(120);
    expect(error?.message).toMatch(/^a limit has at most 6 decimal places: "1\.5+\.\.\.$/);
  });
});
