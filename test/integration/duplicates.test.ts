import type Big from 'big.js';
import { type Inbox, openInbox } from '../../local/inbox';
import { usd } from '../../shared/money';
import { periodKey } from '../../shared/period';
import {
  accountSpend,
  actionCounts,
  alertDecisions,
  alertedThresholds,
  audit,
  type Call,
  callsOf,
  chunks,
  counterOf,
  createUsers,
  denyStatements,
  eventOf,
  expectedSpend,
  HAIKU,
  logOf,
  oneDecisionEach,
  principalOf,
  shuffled,
  store,
  suspensionsOf,
  total,
} from './scenario';
import { deliverLogs, eventually, invoke, local, output, putEvents, settle, unique } from './support';

const ADMIN = 'arn:aws:iam::123456789012:user/admin';
const COPIES = 3;
const SEED = 11;

let inbox: Inbox;
beforeAll(async () => {
  inbox = await openInbox(local.clientConfig, [output('AlertsTopicArn'), output('CriticalTopicArn')]);
});
afterAll(() => inbox.close());

type Delivery = { route: 'logs'; record: unknown } | { route: 'events'; record: unknown };

/** Every record of `calls` from both sources (logs only for `logged`), `COPIES` times over, in a seeded shuffle. */
function deliveries(calls: readonly Call[], logged: (call: Call) => boolean, seed: number): Delivery[] {
  const once: Delivery[] = calls.flatMap((call) => [
    ...(logged(call) ? [{ route: 'logs' as const, record: logOf(call) }] : []),
    { route: 'events' as const, record: eventOf(call) },
  ]);
  return shuffled(Array.from({ length: COPIES }, () => once).flat(), seed);
}

/** Sends deliveries in batches of up to 8 records, each batch through its own route, four batches at a time. */
async function deliver(all: readonly Delivery[]) {
  const batches = chunks(all, 8).flatMap((batch) => {
    const logs = batch.filter((d) => d.route === 'logs').map((d) => d.record);
    const events = batch.filter((d) => d.route === 'events').map((d) => d.record);
    return [...(logs.length ? [() => deliverLogs(logs)] : []), ...(events.length ? [() => putEvents(events)] : [])];
  });
  for (const group of chunks(batches, 4)) await Promise.all(group.map((send) => send()));
  await settle();
}

describe('duplicates on the local stack', () => {
  it('counts a scenario delivered three times, shuffled, through both sources, plus late logs after the sweep, exactly as one delivery', async () => {
    const tag = unique();
    const [alice, bob, carol] = [`dup-a-${tag}`, `dup-b-${tag}`, `dup-c-${tag}`];
    // Alice and Bob in a far-future month (their workflows wait until its end); Carol's calls are long past, so the
    // coverage sweep charges those whose log is late (no other suite charges in those months).
    const month = `${2100 + Math.floor(Math.random() * 5000)}-07`;
    // A month of 2024 or 2025, March to December: after Bedrock existed (earlier calls are refused), before this test
    // ran, and none that another suite charges in (the digest's are in 2023, the sweep's in February 2024 and 2025).
    const pastMonth = `${2024 + Math.floor(Math.random() * 2)}-${String(3 + Math.floor(Math.random() * 10)).padStart(2, '0')}`;
    const calls = [
      ...callsOf(alice, 16, month, { input: 4000, output: 100, seed: 1 }),
      ...callsOf(bob, 16, month, { input: 5000, output: 150, seed: 2 }),
    ];
    const carolCalls = callsOf(carol, 12, pastMonth, { modelId: HAIKU, input: 3000, output: 300, seed: 3 });
    const late = new Set(carolCalls.slice(0, 3).map((c) => c.requestId));
    const spend = expectedSpend([...calls, ...carolCalls]);
    // Limits from the exact totals: Alice ends at 111% (80, 90, 95 and a suspension), Bob at 85% (80 only).
    const aliceLimit = (spend.get(alice) as Big).div(1.11).round(2);
    const bobLimit = (spend.get(bob) as Big).div(0.85).round(2);
    await createUsers([alice, bob, carol]);
    await store.setLimit(principalOf(alice), usd(aliceLimit.toFixed()), ADMIN);
    await store.setLimit(principalOf(bob), usd(bobLimit.toFixed()), ADMIN);
    await store.setLimit(principalOf(carol), usd('50'), ADMIN);
    await settle();

    const first = deliveries([...calls, ...carolCalls], (call) => !late.has(call.requestId), SEED);
    await deliver(first);
    await invoke('functions/sweep/handler.ts');
    await invoke('functions/sweep/handler.ts');
    await settle();
    // The late invocation logs, three times each, after the sweep charged their calls at the estimate.
    const lateLogs = deliveries(
      carolCalls.filter((c) => late.has(c.requestId)),
      () => true,
      SEED + 1,
    ).filter((d) => d.route === 'logs');
    await deliver(lateLogs);
    console.log(
      `duplicates: ${first.length + lateLogs.length} records delivered for ${calls.length + carolCalls.length} calls ` +
        // One log and one CloudTrail event per call are the single delivery; every other record is a duplicate.
        `(${first.length + lateLogs.length - 2 * (calls.length + carolCalls.length)} duplicates tried)`,
    );

    // Every counter is the single-delivery result, to the last decimal: month and week, principal and account.
    const week = periodKey('weekly', new Date(`${month}-10T10:00:00Z`));
    const pastWeek = periodKey('weekly', new Date(`${pastMonth}-10T10:00:00Z`));
    for (const [user, period] of [
      [alice, month],
      [alice, week],
      [bob, month],
      [bob, week],
      [carol, pastMonth],
      [carol, pastWeek],
    ] as const) {
      const count = [...calls, ...carolCalls].filter((c) => c.user === user).length;
      expect({ user, period, ...(await counterOf(user, period)) }).toEqual({
        user,
        period,
        spendUsd: (spend.get(user) as Big).toFixed(),
        requests: String(count),
      });
    }
    expect(await accountSpend(month)).toBe(total(calls).toFixed());
    expect(await accountSpend(pastMonth)).toBe(total(carolCalls).toFixed());

    // Alerts and workflow starts as for one delivery: Alice 80/90/95 and one suspension, Bob 80, Carol nothing.
    await eventually('the deny on Alice', async () => ((await denyStatements(alice)) ? true : undefined));
    await settle();
    const [aliceAlerts, bobAlerts] = [await alertedThresholds(alice, month), await alertedThresholds(bob, month)];
    expect(aliceAlerts.covered).toEqual([80, 90, 95]);
    expect(aliceAlerts.alerted).toEqual([...new Set(aliceAlerts.alerted)]);
    expect(aliceAlerts.alerted).toContain(95);
    expect(bobAlerts).toEqual({ alerted: [80], covered: [80] });
    expect(await alertedThresholds(carol, pastMonth)).toEqual({ alerted: [], covered: [] });
    const notifications = await inbox.read();
    expect(alertDecisions(notifications, alice)).toEqual(oneDecisionEach(aliceAlerts.alerted, true));
    expect(alertDecisions(notifications, bob)).toEqual(oneDecisionEach(bobAlerts.alerted, false));
    const raw = notifications.filter((n) => [alice, bob].some((u) => n.attributes.principal === principalOf(u)));
    expect(raw.filter((n) => n.attributes.threshold !== undefined)).toHaveLength(aliceAlerts.alerted.length + 2);
    expect(await suspensionsOf(alice)).toHaveLength(1);
    expect(await suspensionsOf(bob)).toHaveLength(0);
    expect(await actionCounts(alice, month)).toMatchObject({ 'suspension.requested': 1, 'deny.applied': 1 });
    expect(await denyStatements(bob)).toBeUndefined();
    expect(await denyStatements(carol)).toBeUndefined();
    for (const user of [alice, bob, carol]) {
      expect(await audit.verify(principalOf(user))).toMatchObject({ ok: true });
    }
  }, 60_000);
});
