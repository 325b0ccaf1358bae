import { CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { SFNClient } from '@aws-sdk/client-sfn';
import { deploymentOf } from '../../cli/deployment';
import { type Inbox, type Notification, openInbox } from '../../local/inbox';
import { setBudgetLimit } from '../../shared/admin/set-limit';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import type { Outbox } from '../../shared/decisions/outbox';
import { PendingWaits } from '../../shared/decisions/pending';
import { gatherDigest } from '../../shared/digest/gather';
import { sendDigest } from '../../shared/digest/send';
import { usd } from '../../shared/money';
import { invocationLog } from '../fixtures';
import { outbox } from './scenario';
import {
  deliverLogs,
  documents,
  eventually,
  invoke,
  item,
  local,
  output,
  settle,
  sqs,
  unique,
  userDeny,
} from './support';

const DIGEST = 'functions/digest/handler.ts';
const OPUS = 'anthropic.claude-opus-4-20250514-v1:0'; // $15 per million input tokens
const audit = new AuditLog(documents, output('AuditTableName'));
const deployment = deploymentOf({ clientConfig: local.clientConfig, outputs: local.outputs });
const budgets = new BudgetStore(documents, output('BudgetsTableName'), {
  configuredDefault: deployment.configuredDefault,
  configuredAccount: deployment.configuredAccount,
});
const sfn = new SFNClient(local.clientConfig);
/** What the digest function reads, here in the test's process against the local stack's tables. */
const sources = {
  documents,
  sqs,
  audit,
  budgets,
  waits: new PendingWaits(documents, sfn, output('PendingTableName')),
};
const tables = {
  budgetsTable: output('BudgetsTableName'),
  usageTable: output('UsageTableName'),
  rejectedQueueUrl: output('RejectedQueueUrl'),
  periodKind: deployment.periodKind,
  extraPeriodKinds: deployment.extraPeriodKinds,
};
/**
 * A day of its own, long past (after Bedrock existed, before the other suites' periods), in months `from`..`from+4`:
 * each test that claims a day draws from months no other test draws from.
 */
const isolatedDay = (from: number) =>
  `2023-${String(from + Math.floor(Math.random() * 5)).padStart(2, '0')}-1${Math.floor(Math.random() * 9)}`;
/** 06:00 UTC the day after `day`: when the schedule fires to report it. */
const firedFor = (day: string) => `${new Date(Date.parse(day) + 86_400_000).toISOString().slice(0, 10)}T06:00:00Z`;
const digestsOf = (notifications: readonly Notification[], day: string) =>
  notifications.filter((n) => n.attributes.kind === 'digest' && n.attributes.day === day);
const topicOf = (n: Notification) => (n.topicArn === output('CriticalTopicArn') ? 'critical' : 'alerts');
async function digestEntries(day: string) {
  const entries = [];
  for await (const entry of audit.query({ subject: 'DIGEST', action: 'digest.sent' })) {
    if (entry.details.day === day) entries.push(entry);
  }
  return entries;
}

let inbox: Inbox;
beforeAll(async () => {
  inbox = await openInbox(local.clientConfig, [output('AlertsTopicArn'), output('CriticalTopicArn')]);
});
afterAll(() => inbox.close());

/** EventBridge's Scheduled Event as the digest's daily rule delivers it. */
const scheduledAt = (time: string) => ({
  version: '0',
  id: unique(),
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '111122223333',
  time,
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:111122223333:rule/digest'],
  detail: {},
});

describe('the daily digest on the local stack', () => {
  it('sends one message per topic for a day, however often it runs, audited once', async () => {
    const name = `dina-${unique()}`;
    const arn = `arn:aws:iam::111122223333:user/${name}`;
    const model = `acme.digest-${unique()}-v1`;
    const day = isolatedDay(7);
    // The 1st of the month: before every day isolatedDay draws (the 10th to the 18th).
    const earlier = `${day.slice(0, 8)}01`;
    await deliverLogs([
      invocationLog(`${name}-1`, arn, { timestamp: `${day}T09:00:00Z` }),
      invocationLog(`${name}-2`, arn, { timestamp: `${day}T10:00:00Z`, modelId: model }),
      // Earlier in the period: in the period's spend, not the day's.
      invocationLog(`${name}-0`, arn, { timestamp: `${earlier}T10:00:00Z` }),
    ]);
    await settle();
    await inbox.read(); // the unknown model's own alert is not the digest

    const fired = firedFor(day);
    const first = await invoke(DIGEST, scheduledAt(fired));
    const second = await invoke(DIGEST, scheduledAt(fired));
    await settle();

    expect(first).toEqual({ day, sent: true });
    expect(second).toEqual({ day, sent: false });
    const ofDay = digestsOf(await inbox.read(), day);
    expect(ofDay.map(topicOf).sort()).toEqual(['alerts', 'critical']);
    for (const message of ofDay) {
      expect(message.subject).toMatch(new RegExp(`^Bedrock daily digest ${day}: \\$\\d+\\.\\d\\d yesterday`));
      expect(message.attributes.decisionId).toBe(`digest|${day}`);
      // Whatever the message format per protocol, the day's principal and its unknown model are in it.
      expect(message.message).toContain(`user/${name}`);
      expect(message.message).toContain(model);
    }
    const entries = await digestEntries(day);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor: 'system:digest', period: day.slice(0, 7) });
    // Unknown models are counted across suites (any seen this period); the message names this one (above).
    expect(entries[0]?.details).toMatchObject({ decisionId: `digest|${day}`, principals: 1 });
    // The claim stays, its effects delivered and cleared.
    const claim = await item('BudgetsTableName', { principal: 'DIGEST', period: day });
    expect(claim?.sentAt).toEqual(expect.any(String));
    expect(Object.keys(claim ?? {}).filter((key) => key.startsWith('outbox'))).toEqual([]);
    // Its key has a day for period, as a daily counter's has: no reader of a day's budgets takes it for a principal.
    expect((await budgets.periodBudgets(day)).counters.map((c) => c.principal)).not.toContain('DIGEST');
    const onDefault: string[] = [];
    for await (const page of budgets.principalsOnDefault(day)) onDefault.push(...page);
    expect(onDefault).not.toContain('DIGEST');
    // Nor does an emergency stop of such a day list it among the principals to deny.
    const stop = await invoke('functions/suspend/handler.ts', {
      action: 'beginStop',
      input: {
        principal: 'ACCOUNT',
        period: day,
        decisionId: `stop|ACCOUNT|${day}|g0`,
        holder: `stop:digest-test-${unique()}`,
        generation: 0,
        reason: 'digest test',
      },
    });
    expect(stop.principals.map((p: { principal: string }) => p.principal)).not.toContain('DIGEST');
  }, 60_000);

  it('gathers the day’s crossings, the suspension in force and its pending decision from the tables as they are', async () => {
    const name = `dora-${unique()}`;
    const principal = `user/${name}`;
    const arn = `arn:aws:iam::111122223333:user/${name}`;
    await new IAMClient(local.clientConfig).send(new CreateUserCommand({ UserName: name }));
    await setBudgetLimit(budgets, audit, deployment, {
      principal,
      limitUsd: usd('1'),
      actor: 'arn:aws:iam::123456789012:user/admin',
    });
    // Crossings are audited when they are decided, so the day with this one's is today.
    const spend = (dollars: number) =>
      deliverLogs([
        invocationLog(`${name}-${unique()}`, arn, {
          timestamp: new Date().toISOString(),
          modelId: OPUS,
          input: { inputTokenCount: Math.round((dollars * 1_000_000) / 15) },
          output: { outputTokenCount: 0 },
        }),
      ]);
    await spend(0.84);
    await settle();
    await spend(0.3);
    await settle();
    await eventually('the deny', async () => ((await userDeny(name)) ? true : undefined));
    const period = new Date().toISOString().slice(0, 7);
    const waitId = await eventually('the suspension waiting for a decision', async () => {
      const counter = await item('BudgetsTableName', { principal, period });
      return (counter?.suspension as { waitId?: string } | undefined)?.waitId;
    });

    const now = new Date();
    const data = await gatherDigest(sources, tables, now.toISOString().slice(0, 10), now);

    expect(data.period).toBe(period);
    const line = data.principals.find((l) => l.name === principal);
    expect(line?.dayUsd.toFixed()).toBe('1.14');
    expect(line?.periodUsd.toFixed()).toBe('1.14');
    expect(line?.limitUsd?.toFixed()).toBe('1');
    expect(line?.state).toBe('suspended');
    const crossed = data.crossings.filter((c) => c.principal === principal).map((c) => c.threshold);
    expect(crossed).toContain(80);
    expect(crossed).toContain('limit');
    expect(data.suspensions.filter((s) => s.principal === principal)).toEqual([
      expect.objectContaining({ period, state: 'suspended', reason: 'budget', waitId }),
    ]);
    expect(data.pending.filter((p) => p.principal === principal)).toEqual([
      expect.objectContaining({ id: waitId, kind: 'suspension', period }),
    ]);
    expect(data.rejected).toEqual({ waiting: expect.any(Number), inFlight: expect.any(Number) });
  }, 60_000);

  it('after a crash between the claim and the delivery, the sweep sends what the claim owes, once; a later run sends nothing', async () => {
    const day = isolatedDay(1);
    // The digest function's own steps, dying right after its claim (as a process would between two writes).
    const crashing = Object.assign(Object.create(outbox) as Outbox, {
      deliver: () => Promise.reject(new Error('the process died after the claim')),
    });
    await expect(sendDigest(crashing, () => gatherDigest(sources, tables, day, new Date()), day)).rejects.toThrow(
      /died after the claim/,
    );
    const owed = await item('BudgetsTableName', { principal: 'DIGEST', period: day });
    expect(Object.keys(owed ?? {}).filter((key) => key.startsWith('outbox:'))).toEqual([`outbox:digest|${day}`]);
    expect(digestsOf(await inbox.read(), day)).toEqual([]);

    await invoke('functions/sweep/handler.ts', {});
    await settle();

    expect(
      digestsOf(await inbox.read(), day)
        .map(topicOf)
        .sort(),
    ).toEqual(['alerts', 'critical']);
    expect(await digestEntries(day)).toHaveLength(1);
    expect(await invoke(DIGEST, scheduledAt(firedFor(day)))).toEqual({ day, sent: false });
    await settle();
    expect(digestsOf(await inbox.read(), day)).toEqual([]);
    expect(await digestEntries(day)).toHaveLength(1);
    const cleared = await item('BudgetsTableName', { principal: 'DIGEST', period: day });
    expect(Object.keys(cleared ?? {}).filter((key) => key.startsWith('outbox'))).toEqual([]);
  }, 60_000);

  it('goes out saying the rejected-records queue could not be read, and warns, when it cannot be', async () => {
    const warnings: string[] = [];
    const missing = output('RejectedQueueUrl').replace(/[^/]+$/, `no-such-queue-${unique()}`);

    const data = await gatherDigest(
      { ...sources, warn: (message) => warnings.push(message) },
      { ...tables, rejectedQueueUrl: missing },
      isolatedDay(1),
      new Date(),
    );

    expect(data.rejected).toBeUndefined();
    expect(warnings).toEqual(['the rejected-records queue could not be read: the digest says so']);
  }, 60_000);
});
