import {
  periodEnd,
  periodEndOfKey,
  periodKey,
  periodKindOfKey,
  periodStartOfKey,
  TOTAL_PERIOD,
} from '../../shared/period';

describe('budget periods', () => {
  it('keys a month, a day and an ISO week in UTC', () => {
    const at = new Date('2026-11-20T23:59:59.999Z');
    expect(periodKey('monthly', at)).toBe('2026-11');
    expect(periodKey('daily', at)).toBe('2026-11-20');
    expect(periodKey('weekly', at)).toBe('2026-W47');
  });

  it('puts the first days of January in the last ISO week of the previous year when they belong there', () => {
    expect(periodKey('weekly', new Date('2027-01-01T00:00:00Z'))).toBe('2026-W53');
    expect(periodKey('weekly', new Date('2027-01-04T00:00:00Z'))).toBe('2027-W01');
  });

  it('starts a new period at the boundary instant', () => {
    expect(periodKey('monthly', new Date('2026-11-30T23:59:59.999Z'))).toBe('2026-11');
    expect(periodKey('monthly', new Date('2026-12-01T00:00:00Z'))).toBe('2026-12');
  });

  it('ends a period at the first instant of the next', () => {
    const at = new Date('2026-11-20T10:00:00Z'); // a Friday
    expect(periodEnd('monthly', at)?.toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(periodEnd('daily', at)?.toISOString()).toBe('2026-11-21T00:00:00.000Z');
    expect(periodEnd('weekly', at)?.toISOString()).toBe('2026-11-23T00:00:00.000Z');
    expect(periodEnd('weekly', new Date('2026-11-22T23:00:00Z'))?.toISOString()).toBe('2026-11-23T00:00:00.000Z');
  });

  it('keeps one never-ending TOTAL period for a prepaid budget, whatever the time of the call', () => {
    expect(periodKey('total', new Date('2026-11-30T23:59:59Z'))).toBe(TOTAL_PERIOD);
    expect(periodKey('total', new Date('2027-01-01T00:00:00Z'))).toBe(TOTAL_PERIOD);
    expect(periodEnd('total', new Date('2026-11-20T10:00:00Z'))).toBeUndefined();
    expect(periodEndOfKey(TOTAL_PERIOD)).toBeUndefined();
    expect(periodStartOfKey(TOTAL_PERIOD)).toBeUndefined();
  });

  it('tells the TOTAL key from a month, a week and a day, and no other key for it', () => {
    expect(periodKindOfKey('TOTAL')).toBe('total');
    expect(periodKindOfKey('2026-11')).toBe('monthly');
    expect(periodKindOfKey('2026-W47')).toBe('weekly');
    expect(periodKindOfKey('2026-11-20')).toBe('daily');
    expect(periodKindOfKey('TOTAL#2026')).toBeUndefined();
    expect(periodKindOfKey('total')).toBeUndefined();
  });
});
