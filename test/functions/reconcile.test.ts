import {
  checkedEffects,
  driftEffects,
  ownAccountOnly,
  settleDay,
  unavailableReason,
} from '../../functions/reconcile/daily';
import type { Effects } from '../../shared/decisions/outbox';
import { usd } from '../../shared/money';
import { daysBefore } from '../../shared/period';
import { type Bill, meteredOf, reconcile } from '../../shared/reconcile/reconcile';

const HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
const arn = (name: string) => `arn:aws:iam::111122223333:user/${name}`;
const rules = { perSessionRoles: [] };
const NOW = new Date('2026-12-02T06:00:00Z');
const TOLERANCE = usd('0.01');

const line = (name: string, amount: string): Bill[number] => ({
  arn: name ? arn(name) : '',
  model: HAIKU,
  billedAs: 'Claude 3 Haiku (Amazon Bedrock Edition)',
  usd: usd(amount),
});
const metered = (...calls: [string, string][]) =>
  meteredOf(calls.map(([name, cost]) => ({ principal: `user/${name}`, model: HAIKU, costUsd: usd(cost) })));

/** The outbox's contract as settleDay uses it: a claim holds once per key; delivery records the effects. */
function recordingOutbox() {
  const claimed = new Map<string, Effects>();
  const delivered: Effects[] = [];
  return {
    claimed,
    delivered,
    claim: jest.fn(async (key: { principal: string; period: string }, _update: unknown, effects: Effects) => {
      const id = `${key.principal}|${key.period}`;
      if (claimed.has(id)) return undefined;
      claimed.set(id, effects);
      return {};
    }),
    deliver: jest.fn(async (_key: unknown, effects: Effects) => {
      delivered.push(effects);
    }),
    deliverPending: jest.fn(async () => 0),
  };
}

describe('the day a run reconciles', () => {
  it('is the UTC day `delay` days before the schedule fired, across a year end', () => {
    expect(daysBefore(new Date('2027-01-02T06:00:00Z'), 2)).toBe('2026-12-31');
    expect(daysBefore(new Date('2026-12-02T23:59:59Z'), 1)).toBe('2026-12-01');
  });
});

describe('a bill not there to compare with is no drift', () => {
  it('is unavailable while Cost Explorer bills no Bedrock cost for a day calls were metered on', () => {
    const result = reconcile('2026-11-30', metered(['alice', '1']), [], rules);
    expect(unavailableReason(result, [])).toMatch(/no Bedrock cost is billed for 2026-11-30 yet, while 1 USD/);
  });

  it('is unavailable when the Bedrock cost names no principal (IAM principal data not enabled)', () => {
    const bill = [line('', '1')];
    const result = reconcile('2026-11-30', metered(['alice', '1']), bill, rules);
    expect(unavailableReason(result, bill)).toMatch(/names no IAM principal/);
  });

  it('compares a day with a bill naming principals, and a day with nothing metered or billed', () => {
    const bill = [line('alice', '1'), line('', '0.2')];
    expect(unavailableReason(reconcile('2026-11-30', metered(['alice', '1']), bill, rules), bill)).toBeUndefined();
    expect(unavailableReason(reconcile('2026-11-30', new Map(), [], rules), [])).toBeUndefined();
  });
});

describe('settling a reconciled day', () => {
  it('claims one drift per principal above the tolerance (an alert and a reconcile.drift entry), none for one at it', async () => {
    const result = reconcile(
      '2026-11-30',
      metered(['drift', '1'], ['edge', '1']),
      [line('drift', '1.5'), line('edge', '1.01')],
      rules,
    );
    const outbox = recordingOutbox();

    const settled = await settleDay(outbox, result, TOLERANCE, NOW);
    const again = await settleDay(outbox, result, TOLERANCE, NOW);

    expect(settled).toEqual({ day: '2026-11-30', drifted: ['user/drift'], claimed: 1 });
    expect(again).toEqual({ day: '2026-11-30', drifted: ['user/drift'], claimed: 0 });
    expect([...outbox.claimed.keys()]).toEqual(['RECONCILE#2026-11-30|user/drift']);
    expect(outbox.delivered).toHaveLength(1);
    expect(outbox.deliverPending).toHaveBeenCalledWith({ principal: 'RECONCILE#2026-11-30', period: 'user/drift' });
    const effects = outbox.delivered[0];
    expect(effects?.decisionId).toBe('reconcile|2026-11-30|user/drift');
    expect(effects?.messages?.map((m) => [m.topic, m.message.attributes])).toEqual([
      [
        'alerts',
        {
          kind: 'reconcile-drift',
          severity: 'warning',
          principal: 'user/drift',
          day: '2026-11-30',
          principalArn: arn('drift'),
        },
      ],
    ]);
    expect(effects?.audit).toMatchObject({
      subject: 'user/drift',
      actor: 'system:reconcile',
      action: 'reconcile.drift',
      details: {
        day: '2026-11-30',
        principal: 'user/drift',
        principalArn: arn('drift'),
        meteredUsd: '1',
        billedUsd: '1.5',
        differenceUsd: '0.5',
        toleranceUsd: '0.01',
      },
    });
  });

  it('audits a day without drift once, reconcile.checked with its totals, and sends nothing', async () => {
    const result = reconcile(
      '2026-11-30',
      metered(['a', '1'], ['b', '2']),
      [line('a', '1'), line('b', '2.005')],
      rules,
    );
    const outbox = recordingOutbox();

    await settleDay(outbox, result, TOLERANCE, NOW);
    await settleDay(outbox, result, TOLERANCE, NOW);

    expect([...outbox.claimed.keys()]).toEqual(['RECONCILE#2026-11-30|CHECKED']);
    expect(outbox.delivered).toEqual([checkedEffects(result, TOLERANCE, NOW)]);
    expect(outbox.delivered[0]?.messages).toBeUndefined();
    expect(outbox.delivered[0]?.audit).toMatchObject({
      subject: 'SYSTEM',
      action: 'reconcile.checked',
      details: { principals: 2, meteredUsd: '3', billedUsd: '3.005', differenceUsd: '0.005', toleranceUsd: '0.01' },
    });
  });

  it("says in the drift's alert which way the bill differs, per model", () => {
    const result = reconcile('2026-11-30', metered(['low', '2']), [line('low', '1')], rules);
    const principal = result.principals[0];
    if (!principal) throw new Error('no principal reconciled');
    const message = driftEffects('2026-11-30', principal, TOLERANCE, NOW).messages?.[0]?.message;

    expect(message?.subject).toBe('Bedrock bill differs from metered spend: user/low on 2026-11-30');
    expect(message?.body).toContain('AWS billed user/low less for Bedrock on 2026-11-30 than Budgeteer metered');
    expect(message?.body).toContain(`- ${HAIKU}: metered 2, billed 1, difference -1`);
  });
});

describe("an organization's daily reconciliation", () => {
  it("compares only the budget account's own principals with its bill, which holds no member account's cost", () => {
    const principal = (id: string) => ({ principal: id, meteredUsd: '1', billedUsd: '0' }) as never;
    const day = { date: '2026-11-28', principals: [principal('user/alice'), principal('222233334444:user/alice')] };

    expect(ownAccountOnly(day as never, true).principals.map((p) => p.principal)).toEqual(['user/alice']);
    expect(ownAccountOnly(day as never, false).principals).toHaveLength(2);
  });
});
