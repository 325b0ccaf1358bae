import { NumberValue } from '@aws-sdk/lib-dynamodb';
import { kindOfKey, parseBudgetItem } from '../../shared/budgets/items';
import {
  composeDigest,
  type DigestData,
  dayBefore,
  digestEffects,
  digestKey,
  formatDuration,
  type SpendLine,
} from '../../shared/digest/digest';
import { usd } from '../../shared/money';

const NOW = new Date('2026-12-01T06:00:00.000Z');

const line = (name: string, day: string, period: string, limit?: string, state = 'active'): SpendLine => ({
  name,
  dayUsd: usd(day),
  periodUsd: usd(period),
  ...(limit === undefined ? {} : { limitUsd: usd(limit) }),
  state,
});

const emptyDay = (overrides: Partial<DigestData> = {}): DigestData => ({
  day: '2026-11-30',
  period: '2026-11',
  now: NOW,
  principals: [],
  account: line('ACCOUNT', '0', '0', '1000'),
  crossings: [],
  suspensions: [],
  pending: [],
  unknownModels: [],
  rejected: { waiting: 0, inFlight: 0 },
  ...overrides,
});

const busyDay = (): DigestData =>
  emptyDay({
    principals: [
      line('user/alice', '12.5', '50', '50', 'suspended'),
      line('user/bob', '0.000001', '3.2', '50'),
      line('role/app', '30.10', '31', '100'),
      line('user/carol', '0', '9', '50'),
      line('user/dave', '0', '0', '50'),
    ],
    account: line('ACCOUNT', '42.600001', '93.2', '1000'),
    crossings: [
      { principal: 'user/alice', threshold: 'limit', at: '2026-11-30T15:30:00.000Z' },
      { principal: 'user/alice', threshold: 80, at: '2026-11-30T09:00:10.000Z' },
      { principal: 'role/app', threshold: 30, at: '2026-11-30T11:45:00.000Z' },
    ],
    suspensions: [
      {
        principal: 'user/alice',
        period: '2026-11',
        state: 'suspended',
        since: '2026-11-30T15:30:05.000Z',
        reason: 'budget',
        waitId: 'Wait1234abcd',
      },
      { principal: 'ACCOUNT', period: '2026-11', state: 'stopped', since: '2026-11-28T06:00:00.000Z', reason: 'drill' },
    ],
    pending: [
      {
        id: 'Wait1234abcd',
        kind: 'suspension',
        principal: 'user/alice',
        period: '2026-11',
        createdAt: '2026-11-30T15:31:00.000Z',
        expiresAt: '2026-12-01T15:31:00.000Z',
      },
    ],
    unknownModels: [
      {
        model: 'acme.mystery-v1',
        firstSeen: '2026-11-20T08:00:00.000Z',
        lastSeen: '2026-11-30T10:00:00.000Z',
        requests: 7,
        dayUsd: usd('1.25'),
      },
    ],
    rejected: { waiting: 4, inFlight: 1 },
  });

describe('the daily digest message', () => {
  it('lists the top principals, most spent yesterday first, with yesterday’s and the period’s spend against the limit', () => {
    const { body } = composeDigest(busyDay(), { top: 3 });

    expect(body).toContain('Bedrock daily digest for 2026-11-30 (period 2026-11), as of 2026-12-01 06:00 UTC.');
    const table = body.split('\n').slice(2, 7);
    expect(table).toEqual([
      '  Spend              yesterday  period     limit     used',
      '  the whole account     $42.60  $93.20  $1000.00    9.32%',
      '  role/app              $30.10  $31.00   $100.00   31.00%',
      '  user/alice            $12.50  $50.00    $50.00  100.00%  suspended',
      '  user/bob               $0.00   $3.20    $50.00    6.40%',
    ]);
    // carol spent in the period (not yesterday) and is counted; dave spent nothing and is not.
    expect(body).toContain('  … and 1 more principal (see `budgeteer status`)');
    expect(body).not.toContain('user/dave');
  });

  it('says who crossed which threshold yesterday, in time order, the limit as reached', () => {
    const { body } = composeDigest(busyDay());

    expect(body).toContain(
      [
        'Thresholds crossed yesterday (3):',
        '  user/alice: 80% at 2026-11-30 09:00 UTC',
        '  role/app: 30% at 2026-11-30 11:45 UTC',
        '  user/alice: reached its limit at 2026-11-30 15:30 UTC',
      ].join('\n'),
    );
  });

  it('lists suspensions in force, longest first, with how long and the command that can end them', () => {
    const { body } = composeDigest(busyDay());

    expect(body).toContain(
      [
        'Suspensions in force (2):',
        '  the whole account (2026-11): stopped for 3d 0h, since 2026-11-28 06:00 UTC (drill)',
        '  user/alice (2026-11): suspended for 14h 29m, since 2026-11-30 15:30 UTC (budget); decide with `budgeteer override Wait1234abcd`',
      ].join('\n'),
    );
  });

  it('lists the decisions pending with how long they waited and when their links expire', () => {
    const { body } = composeDigest(busyDay());

    expect(body).toContain(
      [
        'Decisions pending (1):',
        '  Wait1234abcd: suspension of user/alice (2026-11), waiting 14h 29m, links expire in 9h 31m',
      ].join('\n'),
    );
  });

  it('names the models charged at the fallback price and what they cost yesterday', () => {
    const { body } = composeDigest(busyDay());

    expect(body).toContain(
      [
        'Unknown models, charged at the fallback price (1):',
        '  acme.mystery-v1: $1.25 yesterday, 7 calls since 2026-11-20 08:00 UTC; add it to the price catalog',
      ].join('\n'),
    );
  });

  it('counts the rejected records waiting in the queue, and says when the queue could not be read', () => {
    expect(composeDigest(busyDay()).body).toContain(
      'Rejected records: 4 records waiting in the rejected-records queue, 1 being read; they are not metered until fixed and replayed.',
    );
    expect(composeDigest(emptyDay({ rejected: undefined })).body).toContain(
      'Rejected records: the rejected-records queue could not be read.',
    );
  });

  it('sums the day up in the subject and carries the attributes subscribers filter on', () => {
    const message = composeDigest(busyDay());

    expect(message.subject).toBe(
      'Bedrock daily digest 2026-11-30: $42.60 yesterday, 3 crossings, 2 suspended, 1 pending',
    );
    expect(message.attributes).toEqual({ kind: 'digest', severity: 'info', day: '2026-11-30', period: '2026-11' });
  });

  it('says plainly that nothing happened on an empty day, every section present', () => {
    const message = composeDigest(emptyDay());

    expect(message.subject).toBe('Bedrock daily digest 2026-11-30: $0.00 yesterday');
    expect(message.body.split('\n').slice(2)).toEqual([
      '  Spend              yesterday  period     limit   used',
      '  the whole account      $0.00   $0.00  $1000.00  0.00%',
      '  No principal spent in this period yet.',
      '',
      'Thresholds crossed yesterday: none',
      '',
      'Suspensions in force: none',
      '',
      'Decisions pending: none',
      '',
      'Unknown models, charged at the fallback price: none',
      '',
      'Rejected records: none waiting in the rejected-records queue.',
    ]);
  });

  it('shows groups only once there are group budgets to show (the seam for them)', () => {
    expect(composeDigest(busyDay()).body).not.toContain('Groups');
    const withGroups = composeDigest({ ...busyDay(), groups: [line('team-a', '5', '20', '100')] }).body;
    expect(withGroups).toMatch(
      / {2}Groups\s+yesterday\s+period\s+limit\s+used\n {2}team-a\s+\$5\.00\s+\$20\.00\s+\$100\.00\s+20\.00%/,
    );
  });

  it('keeps every list to its limit and counts the rest', () => {
    const crossings = Array.from({ length: 7 }, (_, i) => ({
      principal: `user/u${i}`,
      threshold: 80,
      at: `2026-11-30T0${i}:00:00.000Z`,
    }));
    const { body } = composeDigest(emptyDay({ crossings }), { listLimit: 5 });

    expect(body).toContain('Thresholds crossed yesterday (7):');
    expect(body).toContain('  user/u4: 80% at 2026-11-30 04:00 UTC\n  … and 2 more');
    expect(body).not.toContain('user/u5');
  });

  it('shows a zero limit as blocked, and no limit where the principal is budgeted on another kind of period', () => {
    const { body } = composeDigest(
      emptyDay({
        principals: [line('user/zero', '0', '0.5', '0'), { ...line('user/weekly', '1', '2'), state: 'active' }],
      }),
    );

    expect(body).toMatch(/user\/zero\s+\$0\.00\s+\$0\.50\s+\$0\.00\s+blocked/);
    expect(body).toMatch(/user\/weekly\s+\$1\.00\s+\$2\.00\s+-\n/);
  });
});

describe('the daily digest in chat and for programs', () => {
  it('gives chat the same lists as labelled facts, the account and top principals first', () => {
    const message = composeDigest(busyDay(), { top: 2 });

    expect(message.summary).toBe('Bedrock daily digest for 2026-11-30 (period 2026-11), as of 2026-12-01 06:00 UTC.');
    expect(message.facts?.map((fact) => fact.label)).toEqual([
      'Account',
      'Top principals',
      'Thresholds crossed yesterday (3)',
      'Suspensions in force (2)',
      'Decisions pending (1)',
      'Unknown models, charged at the fallback price (1)',
      'Rejected records',
    ]);
    expect(message.facts?.[0]?.value).toBe(
      'the whole account: $42.60 yesterday, $93.20 this period of $1000.00 (9.32%)',
    );
    expect(message.facts?.[1]?.value).toBe(
      [
        'role/app: $30.10 yesterday, $31.00 this period of $100.00 (31.00%)',
        'user/alice: $12.50 yesterday, $50.00 this period of $50.00 (100.00%), suspended',
        '… and 2 more principals (see `budgeteer status`)',
      ].join('\n'),
    );
    expect(message.facts?.[3]?.value).toContain('user/alice (2026-11): suspended for 14h 29m');
  });

  it('gives programs the figures as typed data, money as exact decimal strings', () => {
    const { data } = composeDigest(busyDay(), { top: 2 });

    expect(data).toMatchObject({
      account: { name: 'ACCOUNT', dayUsd: '42.600001', periodUsd: '93.2', limitUsd: '1000', state: 'active' },
      principals: [
        { name: 'role/app', dayUsd: '30.1', periodUsd: '31', limitUsd: '100', state: 'active' },
        { name: 'user/alice', dayUsd: '12.5', periodUsd: '50', limitUsd: '50', state: 'suspended' },
      ],
      morePrincipals: 2,
      crossings: [
        { principal: 'user/alice', threshold: 80, at: '2026-11-30T09:00:10.000Z' },
        { principal: 'role/app', threshold: 30, at: '2026-11-30T11:45:00.000Z' },
        { principal: 'user/alice', threshold: 'limit', at: '2026-11-30T15:30:00.000Z' },
      ],
      pending: [{ id: 'Wait1234abcd', kind: 'suspension', principal: 'user/alice' }],
      unknownModels: [{ model: 'acme.mystery-v1', dayUsd: '1.25', requests: 7 }],
      rejectedRecords: { waiting: 4, inFlight: 1 },
    });
    expect(data?.groups).toBeUndefined();
    expect(composeDigest(emptyDay({ rejected: undefined })).data?.rejectedRecords).toBeNull();
  });
});

describe('the digest’s claim and effects', () => {
  it('owes the same message on both topics and one audit entry, under the day’s decision id', () => {
    const effects = digestEffects(busyDay());

    expect(effects.decisionId).toBe('digest|2026-11-30');
    expect(effects.messages?.map((m) => m.topic)).toEqual(['alerts', 'critical']);
    expect(effects.messages?.[0]?.message).toEqual(effects.messages?.[1]?.message);
    expect(effects.audit).toEqual({
      subject: 'DIGEST',
      actor: 'system:digest',
      action: 'digest.sent',
      period: '2026-11',
      at: NOW.toISOString(),
      details: {
        decisionId: 'digest|2026-11-30',
        day: '2026-11-30',
        period: '2026-11',
        accountDayUsd: '42.600001',
        principals: 3,
        crossings: 3,
        suspensions: 2,
        pending: 1,
        unknownModels: 1,
        rejectedRecords: 5,
      },
    });
  });

  it('is claimed on a reserved key that nothing reads as a principal, even beside daily counters', () => {
    const key = digestKey('2026-11-30');

    expect(key).toEqual({ principal: 'DIGEST', period: '2026-11-30' });
    // A daily counter's key has the same period: the digest item must not pass for a principal named DIGEST.
    expect(kindOfKey(key.principal, key.period)).toBe('digest');
    expect(kindOfKey('user/alice', '2026-11-30')).toBe('counter');
    expect(
      parseBudgetItem({ ...key, sentAt: NOW.toISOString(), 'outbox:digest|2026-11-30': { decisionId: 'x' } }).kind,
    ).toBe('digest');
    expect(() => parseBudgetItem({ principal: 'DIGEST', period: '2026-11', spendUsd: NumberValue.from('1') })).toThrow(
      /not a valid digest/,
    );
  });
});

describe('days and durations', () => {
  it('reports the day before the schedule fired, across month and year ends', () => {
    expect(dayBefore(new Date('2026-12-01T06:00:00Z'))).toBe('2026-11-30');
    expect(dayBefore(new Date('2027-01-01T00:00:00Z'))).toBe('2026-12-31');
    expect(dayBefore(new Date('2028-03-01T23:59:59Z'))).toBe('2028-02-29');
  });

  it('says how long in days and hours, hours and minutes, or minutes', () => {
    expect(formatDuration(3 * 86_400_000 + 5 * 3_600_000 + 59 * 60_000)).toBe('3d 5h');
    expect(formatDuration(2 * 3_600_000 + 7 * 60_000)).toBe('2h 7m');
    expect(formatDuration(14 * 60_000 + 59_000)).toBe('14m');
    expect(formatDuration(30_000)).toBe('under a minute');
    expect(formatDuration(-5)).toBe('under a minute');
  });

  it('keeps money exact in the audit entry while the text rounds to cents', () => {
    const data = emptyDay({ account: { ...line('ACCOUNT', '0.000001', '0.000001', '1000') } });
    expect(digestEffects(data).audit?.details?.accountDayUsd).toBe('0.000001');
    expect(composeDigest(data).body).toContain('$0.00');
  });
});
