import { type Inbox, openInbox } from '../../local/inbox';
import { AdminActionError } from '../../shared/decisions/admin';
import { usd } from '../../shared/money';
import {
  accountSpend,
  actionCounts,
  admin,
  alertDecisions,
  alertedThresholds,
  audit,
  callsOf,
  counterOf,
  createUsers,
  denyStatements,
  logOf,
  oneDecisionEach,
  principalOf,
  store,
  suspensionsOf,
  total,
} from './scenario';
import { deliverLogs, eventually, local, output, settle, unique } from './support';

const ADMIN = 'arn:aws:iam::123456789012:user/admin';
const INGESTS = 20;

let inbox: Inbox;
beforeAll(async () => {
  inbox = await openInbox(local.clientConfig, [output('AlertsTopicArn'), output('CriticalTopicArn')]);
});
afterAll(() => inbox.close());

/**
 * A lift that met a concurrent decision on the same item is refused with AdminActionError ("run the command
 * again"): an admin runs it again, as told.
 */
async function liftAsAnAdminWould(principal: string, period: string, reason: string) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.lift(principal, period, ADMIN, reason);
    } catch (error) {
      if (!(error instanceof AdminActionError) || attempt === 10) throw error;
    }
  }
}

describe('concurrency on the local stack', () => {
  it('20 concurrent ingests for one principal, then more beside concurrent lifts and limit raises: exact totals, one alert per threshold, one suspension, one deny applied and lifted', async () => {
    const user = `con-${unique()}`;
    const principal = principalOf(user);
    const month = `${2100 + Math.floor(Math.random() * 5000)}-08`;
    const calls = callsOf(user, 2 * INGESTS, month, { input: 3000, output: 80, seed: 5 });
    const [first, second] = [calls.slice(0, INGESTS), calls.slice(INGESTS)];
    // The first 20 calls come to 110% of the limit; all 40 to 75% of the raised limit (no threshold under it).
    const limit = total(first).div(1.1).round(2);
    const raised = total(calls).div(0.75).round(2);
    await createUsers([user]);
    await store.setLimit(principal, usd(limit.toFixed()), ADMIN);
    await settle();

    await Promise.all(first.map((call) => deliverLogs([logOf(call)])));
    await settle();
    await eventually('the deny', async () => ((await denyStatements(user)) ? true : undefined));
    const statements = (await denyStatements(user)) ?? [];
    expect(statements.length).toBeGreaterThan(0);
    expect(new Set(statements.map((s) => JSON.stringify(s))).size).toBe(statements.length);

    // Everything at once: 20 more ingests, five lifts by the admin, five raises of the limit.
    await Promise.all([
      ...second.map((call) => deliverLogs([logOf(call)])),
      ...Array.from({ length: 5 }, (_, i) => liftAsAnAdminWould(principal, month, `concurrent lift ${i}`)),
      ...Array.from({ length: 5 }, () => store.setLimit(principal, usd(raised.toFixed()), ADMIN)),
    ]);
    await settle();
    await eventually('the lift', async () => ((await denyStatements(user)) === undefined ? true : undefined));
    await settle();

    expect(await counterOf(user, month)).toEqual({ spendUsd: total(calls).toFixed(), requests: String(calls.length) });
    expect(await accountSpend(month)).toBe(total(calls).toFixed());
    const alerts = await alertedThresholds(user, month);
    expect(alerts.covered).toEqual([80, 90, 95]);
    expect(alerts.alerted).toEqual([...new Set(alerts.alerted)]);
    expect(alerts.alerted).toContain(95);
    expect(alertDecisions(await inbox.read(), user)).toEqual(oneDecisionEach(alerts.alerted, true));
    expect(await suspensionsOf(user)).toHaveLength(1);
    expect(await actionCounts(user, month)).toMatchObject({
      'suspension.requested': 1,
      'deny.applied': 1,
      'deny.lifted': 1,
      'override.approved': 5,
    });
    expect(await denyStatements(user)).toBeUndefined();
    expect(await audit.verify(principal)).toMatchObject({ ok: true });
  }, 60_000);
});
