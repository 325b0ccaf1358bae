import { crossingFor, isExhausted, rearmedLevel } from '../../functions/evaluate/crossing';
import { usd } from '../../shared/money';

const thresholds = [80, 90, 95];
const at = (spend: string, limit: string, alertedLevel = 0) =>
  crossingFor({ spend: usd(spend), limit: usd(limit), thresholds, alertedLevel });

describe('threshold crossing', () => {
  it('alerts a threshold when spend reaches it exactly, not a cent before', () => {
    expect(at('79.99', '100')).toBeUndefined();
    expect(at('80', '100')).toMatchObject({ threshold: 80, skipped: [] });
  });

  it('alerts only the highest threshold of a jump and names the ones it covers', () => {
    expect(at('96', '100')).toMatchObject({ threshold: 95, skipped: [80, 90] });
    expect(at('96', '100', 80)).toMatchObject({ threshold: 95, skipped: [90] });
  });

  it('never alerts a threshold already alerted in the period, whatever the spend', () => {
    expect(at('85', '100', 80)).toBeUndefined();
    expect(at('200', '100', 95)).toBeUndefined();
  });

  it('compares against the current limit: a lowered limit alerts at once, a raised one quiets', () => {
    expect(at('45', '50')).toMatchObject({ threshold: 90 });
    expect(at('45', '100')).toBeUndefined();
  });

  it('starts from nothing in a new period (a new counter item has no alert level)', () => {
    expect(at('81', '100', 0)).toMatchObject({ threshold: 80 });
  });

  it('reports the exact percentage, truncated to two places', () => {
    expect(at('0.8125', '1')?.percent.toFixed(2)).toBe('81.25');
  });

  it('treats spend at or over the limit as exhausted, and any spend against a zero limit', () => {
    expect(isExhausted(usd('99.99'), usd('100'))).toBe(false);
    expect(isExhausted(usd('100'), usd('100'))).toBe(true);
    expect(isExhausted(usd('0'), usd('0'))).toBe(false);
    expect(isExhausted(usd('0.000001'), usd('0'))).toBe(true);
  });
});

describe('rearmedLevel', () => {
  const level = (spend: string, limit: string) => rearmedLevel(usd(spend), usd(limit), thresholds);

  it('re-arms every threshold above the current percent of the new limit (alice raised from $50 to $100 at $60)', () => {
    expect(level('60', '100')).toBe(0);
    expect(at('80', '100', level('60', '100'))).toMatchObject({ threshold: 80 });
  });

  it('counts the thresholds at or below the current percent as alerted', () => {
    expect(level('80', '100')).toBe(80);
    expect(level('94.99', '100')).toBe(90);
    expect(level('95', '100')).toBe(95);
  });

  it('leaves nothing armed when the new limit is already exhausted', () => {
    expect(level('120', '100')).toBe(95);
  });

  it('does not depend on the order the thresholds are configured in', () => {
    expect(rearmedLevel(usd('91'), usd('100'), [95, 80, 90])).toBe(90);
  });
});

describe('a zero limit (a principal that may not spend)', () => {
  it('alerts no threshold, whatever the spend: the suspension at the first charged call is the one notice', () => {
    expect(at('0.000001', '0')).toBeUndefined();
    expect(at('500', '0')).toBeUndefined();
    expect(at('0', '0')).toBeUndefined();
  });

  it('is exhausted by the first charged call, not before', () => {
    expect(isExhausted(usd('0'), usd('0'))).toBe(false);
    expect(isExhausted(usd('0.000001'), usd('0'))).toBe(true);
  });

  it('arms no threshold in a new generation (lowered to zero), and a raise from zero re-arms above the spend', () => {
    expect(rearmedLevel(usd('3'), usd('0'), thresholds)).toBe(95);
    expect(rearmedLevel(usd('0'), usd('0'), thresholds)).toBe(95);
    expect(rearmedLevel(usd('3'), usd('10'), thresholds)).toBe(0);
  });
});
