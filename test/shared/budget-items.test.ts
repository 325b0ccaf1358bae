import { NumberValue } from '@aws-sdk/lib-dynamodb';
import {
  ATTRIBUTES,
  BUDGET_STATES,
  decimalOf,
  isBudgetAttribute,
  kindOfKey,
  parseBudgetItem,
  safeParseBudgetItem,
} from '../../shared/budgets/items';

const n = (value: string) => new NumberValue(value);
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

  it('refuses a key no kind has, saying which', () => {
    expect(errorOf({ principal: 'GROUP#team-a', period: '2026-11' })).toMatch(
      /no kind of Budgets item has the key .*GROUP#team-a/,
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
    expect(isBudgetAttribute('outbox:threshold|user/alice|2026-11|g0|80')).toBe(true);
    expect(isBudgetAttribute('spend')).toBe(false);
    expect(kindOfKey('ACCOUNT#3', 'LIMIT')).toBe('limit');
  });
});
