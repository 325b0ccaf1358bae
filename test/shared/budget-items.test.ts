import { NumberValue } from '@aws-sdk/lib-dynamodb';
import {
  ATTRIBUTES,
  BUDGET_STATES,
  decimalOf,
  isBudgetAttribute,
  kindOfKey,
  parseBudgetItem,
  safeParseBudgetItem,
  sinceGrantStart,
} from '../../shared/budgets/items';

const n = (value: string) => new NumberValue(value);
/** A conflict marker as ingest writes it: the first record of a request, then one that disagrees. */
const conflictMarker = (overrides: Record<string, unknown> = {}) => {
  const record = (principal: string, cost: string) => ({
    principal,
    principalArn: `arn:aws:iam::111122223333:${principal}`,
    costUsd: n(cost),
    model: 'anthropic.claude-3-haiku-20240307-v1:0',
    modelId: 'anthropic.claude-3-haiku-20240307-v1:0',
    source: 'invocation-log',
    time: '2026-11-20T14:00:00.000Z',
    catalogVersion: '2026-11-01',
    tokens: { input: n('1'), output: n('0') },
  });
  return {
    principal: 'CONFLICT#r-1',
    period: 'user/alice|0.5',
    requestId: 'r-1',
    outcome: 'replaced',
    records: [record('user/alice', '0.01'), record('user/alice', '0.5')],
    stands: 'user/alice',
    addedUsd: n('0.49'),
    detectedAt: '2026-11-20T14:00:01.000Z',
    ...overrides,
  };
};
const errorOf = (raw: unknown) => {
  const parsed = safeParseBudgetItem(raw);
  return parsed.success ? undefined : parsed.error.message;
};

describe('Budgets items: one schema per kind, told apart by the key', () => {
  it.each([
    [{ principal: 'user/alice', period: 'LIMIT', limitUsd: n('50') }, 'limit'],
    [{ principal: 'ACCOUNT', period: 'LIMIT', limitUsd: n('1000') }, 'limit'],
    [{ principal: 'DEFAULT', period: 'LIMIT', limitUsd: n('20') }, 'default-limit'],
    [{ principal: 'user/alice', period: '2026-11', spendUsd: n('1.5') }, 'counter'],
    [{ principal: 'role/app/worker-1', period: '2026-W47', spendUsd: n('1') }, 'counter'],
    [{ principal: 'ACCOUNT', period: '2026-11', state: 'stopped' }, 'account'],
    [{ principal: 'ACCOUNT#17', period: '2026-11-20', spendUsd: n('3') }, 'account-shard'],
    [{ principal: 'MODEL#acme.mystery-v1', period: 'UNKNOWN', requests: n('2') }, 'unknown-model'],
    [{ principal: 'COVERAGE#user/alice', period: '2026-11-20', calls: n('3') }, 'coverage'],
    [{ principal: 'DENY#user/alice', period: 'DENY', 'hold:suspend:x': {}, version: n('2') }, 'deny'],
    [conflictMarker(), 'conflict'],
    [{ principal: 'RECONCILE#2026-11-30', period: 'user/alice', reconciledAt: '2026-12-02T06:00:00Z' }, 'reconcile'],
    [{ principal: 'RECONCILE#2026-11-30', period: 'CHECKED' }, 'reconcile'],
  ])('%j is a %s', (raw, kind) => {
    expect(parseBudgetItem(raw).kind).toBe(kind);
  });

  it('keeps decimals exact, as read: NumberValue in, the same digits out', () => {
    const item = parseBudgetItem({
      principal: 'user/alice',
      period: '2026-11',
      spendUsd: n('123456789012345678.000000000000000001'),
      'modelSpend:anthropic.claude-opus-4-20250514-v1:0': n('0.1'),
    });

    expect(item.kind === 'counter' && decimalOf(item.spendUsd).toFixed()).toBe('123456789012345678.000000000000000001');
  });

  it('reads a number DynamoDB gives back in exponent notation exactly, as the amount it is', () => {
    expect(decimalOf(n('2.5E-7')).toFixed()).toBe('0.00000025');
    expect(decimalOf('-1.25e+3').toFixed()).toBe('-1250');
    expect(() => decimalOf('1e')).toThrow(/not a decimal amount/);
  });

  it('refuses a conflict marker that does not hold two records, or whose outcome is not one ingest writes', () => {
    expect(errorOf(conflictMarker({ records: [] }))).toMatch(/not a valid conflict/);
    expect(errorOf(conflictMarker({ outcome: 'split' }))).toMatch(/outcome/);
  });

  it('refuses a key no kind has, saying which', () => {
    expect(errorOf({ principal: 'TEAM#team-a', period: '2026-11' })).toMatch(
      /no kind of Budgets item has the key .*TEAM#team-a/,
    );
    expect(errorOf({ principal: 'user/alice', period: 'yesterday' })).toMatch(/no kind/);
    expect(errorOf({ period: '2026-11' })).toMatch(/no kind/);
  });

  it('refuses a state outside the one set of names, and money that is not an exact decimal', () => {
    expect(errorOf({ principal: 'user/alice', period: '2026-11', state: 'suspension-requested' })).toMatch(
      /not a valid counter: .*"active"\|"suspended"\|"stopped"[\s\S]*at state/,
    );
    // A JS number may already be a binary float: money is never read as one.
    expect(errorOf({ principal: 'user/alice', period: '2026-11', spendUsd: 0.1 })).toMatch(
      /exact decimal[\s\S]*spendUsd/,
    );
    expect(errorOf({ principal: 'user/alice', period: 'LIMIT' })).toMatch(/not a valid limit[\s\S]*limitUsd/);
    expect(errorOf({ principal: 'user/alice', period: '2026-11', 'modelSpend:nova': 'lots' })).toMatch(
      /per-model spend[\s\S]*modelSpend:nova/,
    );
    expect(errorOf({ principal: 'user/alice', period: '2026-11', 'outbox:x': { audit: {} } })).toMatch(
      /decision id[\s\S]*outbox:x/,
    );
  });

  it('checks the suspension a counter records', () => {
    expect(
      errorOf({ principal: 'user/alice', period: '2026-11', state: 'suspended', suspension: { holder: 'h' } }),
    ).toMatch(/suspension\.executionArn/);
  });

  it('has one set of state names', () => {
    expect(BUDGET_STATES).toEqual(['active', 'suspended', 'stopped']);
  });

  it('knows every attribute name the writers use, and no other', () => {
    for (const name of Object.values(ATTRIBUTES)) expect(isBudgetAttribute(name)).toBe(true);
    expect(isBudgetAttribute('modelSpend:amazon.nova-pro-v1:0')).toBe(true);
    expect(isBudgetAttribute('startsAt')).toBe(true);
    expect(isBudgetAttribute('daySpend:2026-12-01')).toBe(true);
    expect(isBudgetAttribute('outbox:threshold|user/alice|2026-11|g0|80')).toBe(true);
    expect(isBudgetAttribute('spend')).toBe(false);
    expect(kindOfKey('ACCOUNT#3', 'LIMIT')).toBe('limit');
  });

  it('takes a TOTAL key for a principal counter, a group counter and the account, never for a marker', () => {
    expect(kindOfKey('user/x', 'TOTAL')).toBe('counter');
    expect(kindOfKey('GROUP#g', 'TOTAL')).toBe('group');
    expect(kindOfKey('ACCOUNT', 'TOTAL')).toBe('account');
    expect(kindOfKey('user/x#y', 'TOTAL')).toBeUndefined();
    expect(kindOfKey('user/x', 'TOTAL#2026')).toBeUndefined();
  });

  it('counts a prepaid grant from its first day: the spend of days before it is taken off, confirmed never below 0', () => {
    const counter = {
      principal: 'user/alice',
      period: 'TOTAL',
      spendUsd: n('1.75'),
      confirmedSpendUsd: n('0.5'),
      'daySpend:2026-11-30': n('1'),
      'daySpend:2026-12-01': n('0.75'),
    };

    const granted = sinceGrantStart(counter, '2026-12-01');

    expect(decimalOf(granted.spendUsd).toFixed()).toBe('0.75');
    expect(decimalOf(granted.confirmedSpendUsd).toFixed()).toBe('0');
    expect(decimalOf(sinceGrantStart(counter, '2026-11-30').spendUsd).toFixed()).toBe('1.75');
    expect(decimalOf(sinceGrantStart(counter, '2027-01-01').spendUsd).toFixed()).toBe('0');
    expect(parseBudgetItem(counter)).toBeDefined();
    expect(() => parseBudgetItem({ ...counter, 'daySpend:2026-12-02': 'lots' })).toThrow(/day's spend/);
  });
});
