import { gzipSync } from 'node:zlib';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { LOCAL_ACCOUNT_ID } from '../../local/aws';
import { type Inbox, type Notification, openInbox } from '../../local/inbox';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { decimalOf } from '../../shared/budgets/items';
import { usd } from '../../shared/money';
import { cloudTrailEvent, invocationLog } from '../fixtures';
import {
  deliverLogs,
  documents,
  eventually,
  item,
  lambda,
  local,
  output,
  rejectedRecords,
  settle,
  sqs,
  unique,
} from './support';

const userArn = (name: string) => `arn:aws:iam::111122223333:user/${name}`;
let year = 2100 + Math.floor(Math.random() * 5000);
const freshPeriod = () => {
  year++;
  return { period: `${year}-04`, timestamp: `${year}-04-10T10:00:00Z` };
};

/** A CloudWatch Logs delivery to ingest with the envelope given: what a forger with lambda:InvokeFunction sends. */
async function deliverWithEnvelope(envelope: { owner: string; logGroup: string }, records: unknown[]) {
  const payload = {
    messageType: 'DATA_MESSAGE',
    ...envelope,
    logStream: 'forged',
    subscriptionFilters: ['forged'],
    logEvents: records.map((record, i) => ({
      id: `${unique()}-${i}`,
      timestamp: Date.now(),
      message: JSON.stringify(record),
    })),
  };
  await lambda.send(
    new InvokeCommand({
      FunctionName: local.functions['functions/ingest/handler.ts'],
      Payload: Buffer.from(JSON.stringify({ awslogs: { data: gzipSync(JSON.stringify(payload)).toString('base64') } })),
    }),
  );
}

let inbox: Inbox;
const critical: Notification[] = [];
beforeAll(async () => {
  inbox = await openInbox(local.clientConfig, [output('CriticalTopicArn')], `forged-${unique()}`);
});
afterAll(() => inbox.close());

/** Critical alerts received so far about `requestId`. */
async function alertsAbout(requestId: string): Promise<Notification[]> {
  critical.push(...(await inbox.read()));
  return critical.filter((n) => n.attributes.requestId === requestId);
}

const spendOf = async (principal: string, period: string) =>
  decimalOf((await item('BudgetsTableName', { principal, period }))?.spendUsd).toFixed();

describe('records ingest does not believe, on the local stack', () => {
  it('counts nothing of a Logs delivery from another account or log group, keeps each with its reason, and counts the trusted one', async () => {
    const { period, timestamp } = freshPeriod();
    const victim = `victim-${unique()}`;
    const tag = unique();

    await deliverWithEnvelope({ owner: '999988887777', logGroup: '/aws/bedrock/modelinvocations' }, [
      invocationLog(`${tag}-foreign-account`, userArn(victim), { timestamp }),
    ]);
    await deliverWithEnvelope({ owner: LOCAL_ACCOUNT_ID, logGroup: '/forger/own-group' }, [
      invocationLog(`${tag}-foreign-group`, userArn(victim), { timestamp }),
    ]);
    await deliverLogs([invocationLog(`${tag}-real`, userArn(victim), { timestamp })]);

    const counter = await item('BudgetsTableName', { principal: `user/${victim}`, period });
    expect(decimalOf(counter?.spendUsd).toFixed()).toBe('0.000375');
    expect(await item('UsageTableName', { requestId: `${tag}-foreign-account` })).toBeUndefined();
    expect(await item('UsageTableName', { requestId: `${tag}-foreign-group` })).toBeUndefined();
    const rejected = await rejectedRecords((entry) => entry.body.includes(tag));
    expect(rejected.map((r) => r.error).sort()).toEqual([
      expect.stringMatching(/from log group \/forger\/own-group, not the invocation log group/),
      expect.stringMatching(/owner is account 999988887777, not this deployment's account/),
    ]);
  });

  it('rejects a forged CloudTrail event put straight on the queue and still records the real one beside it', async () => {
    const { timestamp } = freshPeriod();
    const victim = `victim-${unique()}`;
    const tag = unique();
    const event = (requestId: string, account: string) => {
      const base = cloudTrailEvent(requestId, userArn(victim)) as { detail: Record<string, unknown> };
      return { ...base, account, detail: { ...base.detail, eventTime: timestamp } };
    };

    // In AWS the queue's policy refuses this SendMessage (only the rule may send); moto does not evaluate policies,
    // so ingest's own check is what stands here.
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: output('CloudTrailQueueUrl'),
        Entries: [
          { Id: 'forged', MessageBody: JSON.stringify(event(`${tag}-forged`, '999988887777')) },
          { Id: 'log', MessageBody: JSON.stringify(invocationLog(`${tag}-log-on-queue`, userArn(victim))) },
          { Id: 'real', MessageBody: JSON.stringify(event(`${tag}-real`, LOCAL_ACCOUNT_ID)) },
        ],
      }),
    );
    await settle();

    expect(await item('UsageTableName', { requestId: `${tag}-real` })).toMatchObject({ principal: `user/${victim}` });
    expect(await item('UsageTableName', { requestId: `${tag}-forged` })).toBeUndefined();
    expect(await item('UsageTableName', { requestId: `${tag}-log-on-queue` })).toBeUndefined();
    const rejected = await rejectedRecords((entry) => entry.body.includes(tag));
    expect(rejected.map((r) => r.error).sort()).toEqual([
      expect.stringMatching(/^untrusted CloudTrail event: the event is from account 999988887777/),
      expect.stringMatching(/^untrusted record: only EventBridge CloudTrail events come this way/),
    ]);
  });
});

describe('conflicting records of one request, on the local stack', () => {
  it('counts the real cost when a forged cheap record of the request came first, and alerts and audits the conflict', async () => {
    const { period, timestamp } = freshPeriod();
    const mallory = `mallory-${unique()}`;
    const requestId = `${unique()}-conflict`;
    const haiku = (input: number, output: number) =>
      invocationLog(requestId, userArn(mallory), {
        timestamp,
        input: { inputTokenCount: input },
        output: { outputTokenCount: output },
      });
    const accountSpend = async () =>
      (
        await new BudgetStore(documents, output('BudgetsTableName'), {
          configuredDefault: usd('0'),
          configuredAccount: usd('0'),
        }).accountTotal(period)
      ).spendUsd.toFixed();

    // Mallory has the request id of her own call from its response: she writes a cheap record of it first.
    await deliverLogs([haiku(1, 0)]);
    expect(await spendOf(`user/${mallory}`, period)).toBe('0.00000025');
    // Then Bedrock's own record arrives: 1,000,000 x $0.25/M + 100,000 x $1.25/M.
    await deliverLogs([haiku(1_000_000, 100_000)]);
    // And her record again, to see it change nothing.
    await deliverLogs([haiku(1, 0)]);
    await settle();

    expect(await spendOf(`user/${mallory}`, period)).toBe('0.375');
    expect(await accountSpend()).toBe('0.375');
    const counter = await item('BudgetsTableName', { principal: `user/${mallory}`, period });
    expect(decimalOf(counter?.requests).toFixed()).toBe('1');
    const row = await item('UsageTableName', { requestId });
    expect(decimalOf(row?.costUsd).toFixed()).toBe('0.375');
    expect(
      ((row?.conflictingRecords ?? []) as { costUsd: unknown }[]).map((r) => decimalOf(r.costUsd).toFixed()),
    ).toEqual(['0.00000025', '0.375']);

    const alerts = await eventually('the usage.conflict alert', async () => {
      const received = await alertsAbout(requestId);
      return received.length > 0 ? received : undefined;
    });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      subject: `Conflicting Bedrock usage records for request ${requestId}`,
      attributes: expect.objectContaining({
        kind: 'usage-conflict',
        severity: 'critical',
        principal: `user/${mallory}`,
      }),
    });
    expect(alerts[0]?.message).toMatch(
      /The dearer record stands: user\/mallory-\w+ is charged \$0\.375 in place of \$0\.00000025/,
    );
    const entries = [];
    for await (const entry of new AuditLog(documents, output('AuditTableName')).query({
      subject: `user/${mallory}`,
      action: 'usage.conflict',
    })) {
      entries.push(entry);
    }
    expect(entries).toEqual([
      expect.objectContaining({
        actor: 'system:ingest',
        requestId,
        period,
        details: expect.objectContaining({
          outcome: 'replaced',
          addedUsd: '0.37499975',
          records: [
            expect.objectContaining({ principal: `user/${mallory}`, costUsd: '0.00000025' }),
            expect.objectContaining({ principal: `user/${mallory}`, costUsd: '0.375' }),
          ],
        }),
      }),
    ]);
  });
});
