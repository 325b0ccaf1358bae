import { formatUsd, MoneyError, percentOf, sum, toDecimalString, usd } from '../../shared/money';

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

  it('rounds for display only, half-even to the cent', () => {
    expect(formatUsd(usd('12.345'))).toBe('$12.34');
    expect(formatUsd(usd('12.355'))).toBe('$12.36');
  });

  it('computes the percentage of a limit exactly, truncated to two places', () => {
    expect(percentOf(usd('40'), usd('50')).toFixed()).toBe('80');
    expect(percentOf(usd('39.999'), usd('50')).toFixed()).toBe('79.99');
  });
});
