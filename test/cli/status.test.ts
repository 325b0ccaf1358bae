import type { Deployment } from '../../cli/deployment';
import { usedBar } from '../../cli/format';
import { budgetStatus, formatStatus, type StatusReport, type StatusRow } from '../../cli/status';
import type { BudgetStore, CounterRecord, PeriodBudgets } from '../../shared/budgets';
import { usd, ZERO } from '../../shared/money';

const row = (principal: string, percent: string | null, extra: Partial<StatusRow> = {}): StatusRow => ({
  principal,
  spendUsd: '1',
  confirmedSpendUsd: '0',
  limitUsd: percent === null ? null : '10',
  percent,
  blocked: false,
  alertLevel: null,
  alerts: [],
  state: 'active',
  requests: 1,
  ...extra,
});

describe('status bars (a terminal)', () => {
  it.each([
    ['0.00', '░'.repeat(20)],
    ['4.99', '░'.repeat(20)], // a cell is 5%, never shown before it is earned
    ['5.00', `█${'░'.repeat(19)}`],
    ['57.50', `${'█'.repeat(11)}${'░'.repeat(9)}`],
    ['99.99', `${'█'.repeat(19)}░`],
    ['100.00', '█'.repeat(20)],
    ['250.00', `${'█'.repeat(19)}▶`],
  ])('draws %s%% of the limit as %s', (percent, bar) => {
    expect(usedBar(row('user/a', percent))).toBe(bar);
  });

  it('draws nothing without a limit of the period kind, and a blocked principal all ×', () => {
    expect(usedBar(row('ACCOUNT', null))).toBe('');
    expect(usedBar(row('user/z', null, { blocked: true }))).toBe('×'.repeat(20));
  });

  const deployment = { periodKind: 'monthly', thresholds: [80, 90, 95] } as unknown as Deployment;
  const report: StatusReport = {
    period: '2026-11',
    principals: [row('user/alice', '91.20', { alertLevel: 90, alerts: [80, 90] }), row('role/app', '7.00')],
    account: row('ACCOUNT', '9.80'),
  };

  it('puts a bar beside each percent, the columns still aligned', () => {
    const lines = formatStatus(report, deployment, { bars: true }).trimEnd().split('\n');

    expect(lines.slice(1)).toEqual([
      'principal   spend  confirmed   limit    used                        alert  alerts  state',
      `user/alice  $1.00      $0.00  $10.00  91.20%  ${'█'.repeat(18)}░░  90%    80,90   active`,
      `role/app    $1.00      $0.00  $10.00   7.00%  █${'░'.repeat(19)}  -      -       active`,
      `ACCOUNT     $1.00      $0.00  $10.00   9.80%  █${'░'.repeat(19)}  -      -       active`,
    ]);
  });

  it('prints plain text without bars (piped), as before', () => {
    const text = formatStatus(report, deployment);

    expect(text).not.toMatch(/[█░▶×]/);
    expect(text.split('\n')[2]).toBe('user/alice  $1.00      $0.00  $10.00  91.20%  90%    80,90   active');
  });
});

describe('status of an organization', () => {
  const counter = (principal: string, spend: string, extra: Partial<CounterRecord> = {}): CounterRecord => ({
    principal,
    period: '2026-11',
    spendUsd: usd(spend),
    confirmedSpendUsd: ZERO,
    requests: 1,
    alerts: [],
    state: 'active',
    stopDenied: false,
    groups: [],
    groupStops: [],
    generation: 0,
    ...extra,
  });
  const budgets: PeriodBudgets = {
    counters: [
      counter('ACCOUNT', '3.5'),
      counter('user/ops', '0.5'),
      counter('222222222222:user/alice', '1', { groups: ['account-222222222222'] }),
      counter('222222222222:role/app', '1.25', { groups: ['account-222222222222'] }),
      counter('333333333333:user/alice', '0.75'),
    ],
    groups: [counter('GROUP#account-222222222222', '2.25', { state: 'stopped' })],
    limits: new Map([
      [
        'GROUP#account-222222222222',
        { principal: 'GROUP#account-222222222222', limitUsd: usd('2'), members: ['account:222222222222'] },
      ],
    ]),
  };
  const store = {
    periodBudgets: async () => budgets,
    limitIn: async () => usd('100'),
  } as unknown as BudgetStore;
  const deployment = {
    periodKind: 'monthly',
    extraPeriodKinds: [],
    thresholds: [80, 90, 95],
    accountId: '123456789012',
  } as unknown as Deployment;
  const now = new Date('2026-11-20T00:00:00Z');

  it("sums each account's principals, and shows an account's budget and its stop", async () => {
    const report = await budgetStatus(store, deployment, {}, now);

    expect(report.accounts).toEqual([
      { account: '123456789012', spendUsd: '0.5', limitUsd: null, percent: null, state: 'active', principals: 1 },
      { account: '222222222222', spendUsd: '2.25', limitUsd: '2', percent: '112.50', state: 'stopped', principals: 2 },
      { account: '333333333333', spendUsd: '0.75', limitUsd: null, percent: null, state: 'active', principals: 1 },
    ]);
    expect(formatStatus(report, deployment)).toMatch(/222222222222\s+\$2\.25\s+\$2\.00\s+112\.50%\s+stopped\s+2/);
  });

  it("shows every account stopped while the organization's stop is on, and the total as the organization's", async () => {
    const stoppedStore = {
      periodBudgets: async () => ({
        ...budgets,
        counters: budgets.counters.map((c) => (c.principal === 'ACCOUNT' ? { ...c, state: 'stopped' } : c)),
      }),
      limitIn: async () => usd('100'),
    } as unknown as BudgetStore;

    const report = await budgetStatus(stoppedStore, deployment, { organization: true }, now);

    expect(report.accounts?.map((a) => a.state)).toEqual(['stopped', 'stopped', 'stopped']);
    // Undenied while the stop is on: a member's principal is under the SCP, the budget account's awaits its deny.
    expect(Object.fromEntries(report.principals.map((p) => [p.principal, p.reason]))).toEqual({
      'user/ops': 'emergency-stop',
      '222222222222:user/alice': 'scp',
      '222222222222:role/app': 'scp',
      '333333333333:user/alice': 'scp',
    });
    expect(formatStatus(report, deployment)).toMatch(/^organization\s+\$3\.50/m);
  });

  it('--account shows only that account: the same user name in another account is not in it', async () => {
    const report = await budgetStatus(store, deployment, { account: '222222222222' }, now);

    expect(report.principals.map((p) => p.principal).sort()).toEqual([
      '222222222222:role/app',
      '222222222222:user/alice',
    ]);
    expect(report.accounts?.map((a) => a.account)).toEqual(['222222222222']);
  });
});
