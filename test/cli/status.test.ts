import type { Deployment } from '../../cli/deployment';
import { usedBar } from '../../cli/format';
import { formatStatus, type StatusReport, type StatusRow } from '../../cli/status';

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
