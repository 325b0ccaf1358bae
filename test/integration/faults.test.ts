import { gunzipSync } from 'node:zlib';
import type { FaultCounts } from '../../local/faults';
import { type Inbox, openInbox } from '../../local/inbox';
import { usd } from '../../shared/money';
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
  logOf,
  oneDecisionEach,
  principalOf,
  store,
  suspensionsOf,
  total,
} from './scenario';
import {
  deliverLogsAsync,
  eventually,
  injectFaults,
  invoke,
  local,
  output,
  putEvents,
  rejectedRecords,
  settle,
  unique,
  walkQueue,
} from './support';

const ADMIN = 'arn:aws:iam::123456789012:user/admin';
/** The issue's default: one request in ten of the handlers' DynamoDB, SQS, SNS, IAM and Step Functions calls. */
const RATE = Number(process.env.BUDGETEER_FAULT_RATE ?? '0.1');
const SEED = Number(process.env.BUDGETEER_FAULT_SEED ?? '2026');

let inbox: Inbox;
beforeAll(async () => {
  inbox = await openInbox(local.clientConfig, [output('AlertsTopicArn'), output('CriticalTopicArn')]);
});
afterAll(async () => {
  await injectFaults({ rate: 0 });
  inbox.close();
});

/** What a Logs delivery left in the ingest function's dead-letter queue: each message's reason and request ids. */
async function deadLettered(queueUrl: string, mentioning: string) {
  return (await walkQueue(queueUrl)).flatMap((message) => {
    const event = JSON.parse(message.Body ?? '{}') as { awslogs: { data: string } };
    const payload = JSON.parse(gunzipSync(Buffer.from(event.awslogs.data, 'base64')).toString('utf8')) as {
      logEvents: { message: string }[];
    };
    const requestIds = payload.logEvents.map((e) => (JSON.parse(e.message) as { requestId: string }).requestId);
    if (!requestIds.some((id) => id.includes(mentioning))) return [];
    return [{ reason: message.MessageAttributes?.ErrorMessage?.StringValue ?? '', requestIds, event }];
  });
}

/** Sends a principal's calls through both routes: logs as the Logs subscription does, events as EventBridge does. */
async function deliverBoth(calls: readonly Call[]) {
  await Promise.all([
    ...chunks(calls, 6).map((batch) => deliverLogsAsync(batch.map(logOf))),
    ...chunks(calls, 10).map((batch) => putEvents(batch.map(eventOf))),
  ]);
}

describe('faults on the local stack', () => {
  it('under throttling, 5xx and crashes between writes, ends exact, with what could not be done dead-lettered with its reason', async () => {
    const tag = unique();
    const [alice, bob, carol, dora, emil] = ['a', 'b', 'c', 'd', 'e'].map((x) => `flt-${x}-${tag}`) as [
      string,
      string,
      string,
      string,
      string,
    ];
    const month = `${2100 + Math.floor(Math.random() * 5000)}-09`;
    const scenario = [
      ...callsOf(alice, 12, month, { input: 4000, output: 100, seed: 21 }),
      ...callsOf(bob, 12, month, { input: 5000, output: 100, seed: 22 }),
      ...callsOf(carol, 12, month, { input: 2000, output: 50, seed: 23 }),
    ];
    // Dora's calls come in one delivery of 100 records: two ledger transactions, with a crash between them.
    const doraCalls = callsOf(dora, 100, month, { input: 1000, output: 20, seed: 24 });
    // Emil's delivery meets a DynamoDB outage longer than every retry: it must end in the dead-letter queue.
    const emilCalls = callsOf(emil, 5, month, { input: 1000, output: 20, seed: 25 });
    const spend = expectedSpend([...scenario, ...doraCalls, ...emilCalls]);
    await createUsers([alice, bob, carol, dora, emil]);
    await store.setLimit(principalOf(alice), usd((spend.get(alice) ?? usd('0')).div(1.1).round(2).toFixed()), ADMIN);
    await store.setLimit(principalOf(bob), usd((spend.get(bob) ?? usd('0')).div(0.85).round(2).toFixed()), ADMIN);
    for (const user of [carol, dora, emil]) await store.setLimit(principalOf(user), usd('50'), ADMIN);
    await settle();

    await injectFaults({
      seed: SEED,
      rate: RATE,
      scope: [tag],
      rules: [
        // The deny lands in IAM, then the suspend step crashes: the workflow's retry must apply it once.
        { operation: 'iam:PutUserPolicy', match: alice, effect: 'crash' },
        // Dora's first transaction lands, then ingest crashes: Lambda's retry must count the rest, and that once.
        { operation: 'dynamodb:TransactWriteItems', match: dora, effect: 'crash' },
        // An outage longer than every retry, for Emil's delivery only.
        { operation: 'dynamodb:TransactWriteItems', match: emil, effect: 'unavailable', times: 1_000 },
        // Each other service fails at least once, whatever the draws: an alert published twice (its answer lost),
        // a workflow start whose answer is lost, a rejected record kept only at the second try.
        { operation: 'sns:Publish', match: tag, effect: 'lost-answer' },
        { operation: 'sns:Publish', match: tag, effect: 'throttled' },
        { operation: 'states:StartExecution', match: tag, effect: 'lost-answer' },
        { operation: 'sqs:SendMessageBatch', match: tag, effect: 'unavailable' },
      ],
    });
    await deliverBoth(scenario);
    // A record with a negative token count beside good ones: rejected with its reason, the good ones counted.
    const broken = { ...logOf(callsOf(carol, 1, month, { input: 1, output: 1 })[0] as Call), requestId: `${carol}-x` };
    await deliverLogsAsync([{ ...broken, input: { inputTokenCount: -5 } }]);
    const doraDelivery = await deliverLogsAsync(doraCalls.map(logOf));
    const emilDelivery = await deliverLogsAsync(emilCalls.map(logOf));
    await settle();
    await eventually('the deny on Alice', async () => ((await denyStatements(alice)) ? true : undefined), 30_000);
    await settle();
    const counts: FaultCounts = await injectFaults({ rate: 0 });
    console.log(
      `faults: ${counts.injected} injected in ${counts.considered} requests in scope ` +
        `(${JSON.stringify(counts.byKind)}; by service ${JSON.stringify(counts.byService)})`,
    );

    // What could not be done: Emil's delivery, in the dead-letter queue with its reason, nothing of it counted.
    expect(doraDelivery).toEqual({ attempts: 2 });
    expect(emilDelivery.attempts).toBe(3);
    const dead = await deadLettered(emilDelivery.deadLettered ?? '', emil);
    expect(dead).toEqual([
      {
        reason: expect.stringMatching(/unavailable/i),
        requestIds: emilCalls.map((c) => c.requestId),
        event: expect.anything(),
      },
    ]);
    expect(await counterOf(emil, month)).toEqual({ spendUsd: undefined, requests: undefined });
    // Kept with its reason; SQS may hold it twice when an answer was lost, under the one record id.
    const rejected = await rejectedRecords((entry) => entry.body.includes(`${carol}-x`));
    expect(new Map(rejected.map((r) => [r.recordId, r.error]))).toEqual(
      new Map([[rejected[0]?.recordId, expect.stringMatching(/inputTokenCount: Too small/)]]),
    );
    // An operator redrives it (the outage over): the very event, counted once.
    for (const { event } of dead) await invoke('functions/ingest/handler.ts', event);
    await settle();

    // Exact: every counter is the fault-free single-delivery result.
    for (const [user, calls] of [
      [alice, scenario],
      [bob, scenario],
      [carol, scenario],
      [dora, doraCalls],
      [emil, emilCalls],
    ] as const) {
      expect({ user, ...(await counterOf(user, month)) }).toEqual({
        user,
        spendUsd: spend.get(user)?.toFixed(),
        requests: String(calls.filter((c) => c.user === user).length),
      });
    }
    expect(await accountSpend(month)).toBe(total([...scenario, ...doraCalls, ...emilCalls]).toFixed());

    // Decisions once: one alert per threshold (SNS may deliver one twice: counted by decision id), one suspension,
    // one deny applied, one BudgeteerDeny with no statement twice.
    const [aliceAlerts, bobAlerts] = [await alertedThresholds(alice, month), await alertedThresholds(bob, month)];
    expect(aliceAlerts.covered).toEqual([80, 90, 95]);
    expect(aliceAlerts.alerted).toEqual([...new Set(aliceAlerts.alerted)]);
    expect(aliceAlerts.alerted).toContain(95);
    expect(bobAlerts).toEqual({ alerted: [80], covered: [80] });
    const notifications = await inbox.read();
    expect(alertDecisions(notifications, alice)).toEqual(oneDecisionEach(aliceAlerts.alerted, true));
    expect(alertDecisions(notifications, bob)).toEqual(oneDecisionEach(bobAlerts.alerted, false));
    expect(await suspensionsOf(alice)).toHaveLength(1);
    const aliceActions = await actionCounts(alice, month);
    expect(aliceActions).toMatchObject({ 'suspension.requested': 1, 'deny.applied': 1 });
    // The crash after the IAM write was a failed step the workflow retried, not an enforcement failure.
    expect(aliceActions['enforcement.failed']).toBeUndefined();
    const statements = (await denyStatements(alice)) ?? [];
    expect(new Set(statements.map((s) => JSON.stringify(s))).size).toBe(statements.length);
    for (const user of [bob, carol, dora, emil]) expect(await denyStatements(user)).toBeUndefined();
    for (const user of [alice, bob, carol, dora, emil]) {
      expect(await audit.verify(principalOf(user))).toMatchObject({ ok: true });
    }
    expect(counts.injected).toBeGreaterThan(0);
  }, 90_000);
});
