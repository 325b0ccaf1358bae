import { CreateUserCommand } from '@aws-sdk/client-iam';
import type { NumberValue } from '@aws-sdk/lib-dynamodb';
import { deploymentOf } from '../../cli/deployment';
import { setBudgetLimit } from '../../shared/admin/set-limit';
import { usd } from '../../shared/money';
import { periodEndOfKey } from '../../shared/period';
import { bucketKey } from '../../shared/rate/buckets';
import type { RateRule } from '../../shared/rate/rules';
import { invocationLog } from '../fixtures';
import { ACCOUNT, admin, audit, iam, OPUS, store } from './scenario';
import { deliverLogs, eventually, item, local, settle, unique, userDeny } from './support';

/*
 * The burn-rate guard on the local stack: real ingest (rate buckets in the charge's transaction), the evaluator's
 * stream, the suspend workflow's ASL with the rate recheck, IAM in moto, the audit log.
 */

const ADMIN = 'arn:aws:iam::123456789012:user/admin';
const deployment = deploymentOf({ clientConfig: local.clientConfig, outputs: local.outputs });
const thisMonth = () => new Date().toISOString().slice(0, 7);

/** Spends `dollars` at `at` (Opus input at $15 per million tokens) as one invocation log record, settled. */
async function spend(arn: string, dollars: number, at: Date) {
  await deliverLogs([
    invocationLog(`${unique()}-${unique()}`, arn, {
      timestamp: at.toISOString(),
      modelId: OPUS,
      input: { inputTokenCount: Math.round((dollars * 1_000_000) / 15) },
      output: { outputTokenCount: 0 },
    }),
  ]);
  await settle();
}

async function userWithRule(limit: string, rule: RateRule) {
  const name = `rate-${unique()}`;
  const principal = `user/${name}`;
  await iam.send(new CreateUserCommand({ UserName: name }));
  await setBudgetLimit(store, audit, deployment, { principal, limitUsd: usd(limit), actor: ADMIN, rate: rule });
  await settle();
  return { name, principal, arn: `arn:aws:iam::${ACCOUNT}:user/${name}` };
}

async function entries(principal: string) {
  const found = [];
  for await (const entry of audit.query({ subject: principal })) found.push(entry);
  return found.map((e) => ({ action: e.action, actor: e.actor, details: e.details as Record<string, unknown> }));
}

/** The deny in IAM and its step done: `deny.applied` is audited after the principal is marked suspended. */
async function denied(name: string, principal: string) {
  await eventually('the deny', async () => ((await userDeny(name)) ? true : undefined));
  await eventually('the deny audited', async () =>
    (await entries(principal)).some((e) => e.action === 'deny.applied') ? true : undefined,
  );
}

const counter = (principal: string, period: string) => item('BudgetsTableName', { principal, period });
const spendOf = async (principal: string, period: string) =>
  (await counter(principal, period))?.spendUsd as NumberValue | undefined;

describe('burn-rate guard on the local stack', () => {
  it('suspends a principal over its hourly rate (reason rate) long before 80% of its month, and an admin lifts it', async () => {
    const { name, principal, arn } = await userWithRule('100', { maxUsdPerHour: usd('8'), onRate: 'suspend' });
    const period = thisMonth();
    const now = new Date();

    // $3 a call (200,000 Opus input tokens): the third puts the rolling hour at $9, above $8.
    await spend(arn, 3, now);
    await spend(arn, 3, now);
    expect(await userDeny(name)).toBeUndefined();
    await spend(arn, 3, now);
    await denied(name, principal);

    expect(await userDeny(name)).toContain('bedrock:CallWithBearerToken');
    const suspended = await counter(principal, period);
    expect(suspended?.state).toBe('suspended');
    expect((suspended?.suspension as { reason: string } | undefined)?.reason).toBe('rate');
    // $9 of $100: 9%, far below the 80% alert.
    expect((await spendOf(principal, period))?.value).toBe('9');
    expect(suspended?.alerts).toBeUndefined();
    // The bucket holds the three calls, exactly.
    const bucket = await item('BudgetsTableName', { principal, period: bucketKey(now) });
    expect((bucket?.spendUsd as NumberValue | undefined)?.value).toBe('9');
    // Readers of a period (status, the report, the summary) and of the default's principals see the counter only.
    const { counters } = await store.periodBudgets(period);
    expect(counters.filter((c) => c.principal === principal).map((c) => [c.period, c.spendUsd.toFixed()])).toEqual([
      [period, '9'],
    ]);

    const audited = await entries(principal);
    const requested = audited.filter((e) => e.action === 'suspension.requested');
    expect(requested).toHaveLength(1);
    expect(requested[0]?.details).toMatchObject({
      reason: 'rate',
      maxUsdPerHour: '8',
      hourUsd: '9',
      onRate: 'suspend',
    });
    expect(audited.filter((e) => e.action === 'deny.applied').map((e) => e.details.reason)).toEqual(['rate']);
    // Nothing spent before: $9 in an hour is an anomaly (above the $5 floor, a usual hour of nothing).
    expect(audited.filter((e) => e.action === 'rate.anomaly')).toHaveLength(1);
    // Once per generation, from the first call: $3 over the last three hours is $1 an hour, and the $97 left runs
    // out 97 hours after the window ends (if the month lasts that long).
    const forecasts = audited.filter((e) => e.action === 'rate.forecast');
    const hoursLeft = ((periodEndOfKey(period)?.getTime() ?? 0) - now.getTime()) / 3_600_000;
    if (hoursLeft > 98) {
      expect(forecasts).toHaveLength(1);
      const { usdPerHour, measuredTo, exhaustedAt } = forecasts[0]?.details ?? {};
      expect(usdPerHour).toBe('1');
      expect(Date.parse(String(exhaustedAt)) - Date.parse(String(measuredTo))).toBe(97 * 3_600_000);
    } else if (hoursLeft < 96) {
      // The month ends before $1 an hour runs the $97 out: nothing to forecast.
      expect(forecasts).toEqual([]);
    }

    // The hour stays above the rate for the next hour: only an admin ends it sooner.
    await admin.lift(principal, period, ADMIN, 'key rotated');
    await eventually('the lift', async () => ((await userDeny(name)) === undefined ? true : undefined));
    await eventually('active again', async () =>
      (await counter(principal, period))?.state === 'active' ? true : undefined,
    );
    // The lift step audits after it marks the principal active: wait for its entry.
    const lifted = await eventually('the lift audited', async () => {
      const found = (await entries(principal)).filter((e) => e.action === 'deny.lifted');
      return found.length > 0 ? found : undefined;
    });
    expect(lifted).toEqual([
      expect.objectContaining({ actor: ADMIN, details: expect.objectContaining({ reason: 'admin' }) }),
    ]);
    expect((await audit.verify(principal)).ok).toBe(true);
  }, 90_000);

  it('lifts a rate suspension by itself once the rolling hour has fallen back', async () => {
    const { name, principal, arn } = await userWithRule('100', { maxUsdPerHour: usd('1'), onRate: 'suspend' });
    // Calls made two hours ago (logs delivered late): over the rate then, fallen back by now.
    const monthStart = new Date(`${thisMonth()}-01T00:00:00Z`);
    const earlier = new Date(Math.max(Date.now() - 2 * 3_600_000, monthStart.getTime()));
    const period = thisMonth();

    await spend(arn, 2, earlier);

    await eventually(
      'the suspension and its lift',
      async () => {
        const done = (await entries(principal)).filter((e) => e.action === 'deny.lifted');
        return done.length > 0 ? done : undefined;
      },
      40_000,
    );
    const audited = await entries(principal);
    expect(audited.filter((e) => e.action === 'deny.applied').map((e) => e.details.reason)).toEqual(['rate']);
    expect(audited.filter((e) => e.action === 'deny.lifted').map((e) => e.details.reason)).toEqual(['rate-fell']);
    expect(await userDeny(name)).toBeUndefined();
    expect((await counter(principal, period))?.state).toBe('active');
  }, 90_000);

  it('with onAnomaly suspend suspends an hour far above the usual one (reason anomaly), under its rate', async () => {
    const { name, principal, arn } = await userWithRule('100', {
      maxUsdPerHour: usd('50'),
      onRate: 'alert',
      onAnomaly: 'suspend',
    });
    const period = thisMonth();

    // $6 in an hour, never anything before: at least $5 and 10 times a usual hour of nothing; under its $50 rate.
    await spend(arn, 6, new Date());
    await denied(name, principal);

    const suspended = await counter(principal, period);
    expect((suspended?.suspension as { reason: string } | undefined)?.reason).toBe('anomaly');
    const audited = await entries(principal);
    expect(audited.filter((e) => e.action === 'suspension.requested').map((e) => e.details)).toEqual([
      expect.objectContaining({ reason: 'anomaly', hourUsd: '6', usualHourUsd: '0', factor: 10, floorUsd: '5' }),
    ]);
    expect(audited.filter((e) => e.action === 'rate.exceeded')).toEqual([]);
    // It waits for an admin (or the period end): the lift.
    await admin.lift(principal, period, ADMIN, 'a planned batch job');
    await eventually('the lift', async () => ((await userDeny(name)) === undefined ? true : undefined));
  }, 90_000);

  it('with onRate and onAnomaly both suspend, one call over both starts one suspension (the rate), the anomaly alerts', async () => {
    const { name, principal, arn } = await userWithRule('100', {
      maxUsdPerHour: usd('8'),
      onRate: 'suspend',
      onAnomaly: 'suspend',
    });
    const period = thisMonth();

    // One $9 call: over the $8 rate and, with nothing spent before, an anomaly, judged from one bucket change.
    await spend(arn, 9, new Date());
    await denied(name, principal);

    const audited = await entries(principal);
    expect(audited.filter((e) => e.action === 'suspension.requested').map((e) => e.details.reason)).toEqual(['rate']);
    expect(audited.filter((e) => e.action === 'rate.anomaly')).toHaveLength(1);
    await admin.lift(principal, period, ADMIN, 'reviewed');
    await eventually('the lift', async () => ((await userDeny(name)) === undefined ? true : undefined));
  }, 90_000);

  it('with onRate alert only alerts, once per episode, and never denies', async () => {
    const { name, principal, arn } = await userWithRule('100', { maxUsdPerHour: usd('1'), onRate: 'alert' });
    const now = new Date();

    await spend(arn, 1.5, now);
    await spend(arn, 0.5, now);

    const audited = await entries(principal);
    expect(audited.filter((e) => e.action === 'rate.exceeded')).toEqual([
      expect.objectContaining({
        details: expect.objectContaining({ hourUsd: '1.5', maxUsdPerHour: '1', onRate: 'alert' }),
      }),
    ]);
    expect(audited.filter((e) => e.action === 'suspension.requested')).toEqual([]);
    expect(await userDeny(name)).toBeUndefined();
  }, 60_000);
});
