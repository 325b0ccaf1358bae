import { CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { SFNClient } from '@aws-sdk/client-sfn';
import { deploymentOf } from '../../cli/deployment';
import { type Inbox, type Notification, openInbox } from '../../local/inbox';
import { setBudgetLimit } from '../../shared/admin/set-limit';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { PendingWaits } from '../../shared/decisions/pending';
import { gatherDigest } from '../../shared/digest/gather';
import { usd } from '../../shared/money';
import { invocationLog } from '../fixtures';
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
    // A day of its own, long past (after Bedrock existed, before the other suites' periods): its digest is this test's.
    const day = `2023-${String(6 + Math.floor(Math.random() * 6)).padStart(2, '0')}-1${Math.floor(Math.random() * 9)}`;
    const earlier = `${day.slice(0, 8)}0${day.slice(9)}`;
    await deliverLogs([
      invocationLog(`${name}-1`, arn, { timestamp: `${day}T09:00:00Z` }),
      invocationLog(`${name}-2`, arn, { timestamp: `${day}T10:00:00Z`, modelId: model }),
      // Earlier in the period: in the period's spend, not the day's.
      invocationLog(`${name}-0`, arn, { timestamp: `${earlier}T10:00:00Z` }),
    ]);
    await settle();
    await inbox.read(); // the unknown model's own alert is not the digest

    const fired = `${day.slice(0, 8)}${String(Number(day.slice(8)) + 1).padStart(2, '0')}T06:00:00Z`;
    const first = await invoke(DIGEST, scheduledAt(fired));
    const second = await invoke(DIGEST, scheduledAt(fired));
    await settle();

    expect(first).toEqual({ day, sent: true });
    expect(second).toEqual({ day, sent: false });
    const digests = (await inbox.read()).filter((n: Notification) => n.attributes.kind === 'digest');
    const ofDay = digests.filter((n) => n.attributes.day === day);
    expect(ofDay.map((n) => (n.topicArn === output('CriticalTopicArn') ? 'critical' : 'alerts')).sort()).toEqual([
      'alerts',
      'critical',
    ]);
    for (const message of ofDay) {
      expect(message.subject).toMatch(new RegExp(`^Bedrock daily digest ${day}: \\$\\d+\\.\\d\\d yesterday`));
      expect(message.attributes.decisionId).toBe(`digest|${day}`);
      // Whatever the message format per protocol, the day's principal and its unknown model are in it.
      expect(message.message).toContain(`user/${name}`);
      expect(message.message).toContain(model);
    }
    const entries = [];
    for await (const entry of audit.query({ subject: 'DIGEST', action: 'digest.sent' })) {
      if (entry.details.day === day) entries.push(entry);
    }
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor: 'system:digest', period: day.slice(0, 7) });
    expect(entries[0]?.details).toMatchObject({ decisionId: `digest|${day}`, principals: 1, unknownModels: 1 });
    // The claim stays, its effects delivered and cleared.
    const claim = await item('BudgetsTableName', { principal: 'DIGEST', period: day });
    expect(claim?.sentAt).toEqual(expect.any(String));
    expect(Object.keys(claim ?? {}).filter((key) => key.startsWith('outbox'))).toEqual([]);
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
    const data = await gatherDigest(
      {
        documents,
        sqs,
        audit,
        budgets,
        waits: new PendingWaits(documents, new SFNClient(local.clientConfig), output('PendingTableName')),
      },
      {
        budgetsTable: output('BudgetsTableName'),
        usageTable: output('UsageTableName'),
        rejectedQueueUrl: output('RejectedQueueUrl'),
        periodKind: deployment.periodKind,
        extraPeriodKinds: deployment.extraPeriodKinds,
      },
      now.toISOString().slice(0, 10),
      now,
    );

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
});
