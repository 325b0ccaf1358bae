import { CreateUserCommand, GetUserPolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { marshall } from '@aws-sdk/util-dynamodb';
import { deploymentOf } from '../../cli/deployment';
import { type Inbox, openInbox } from '../../local/inbox';
import { setBudgetLimit } from '../../shared/admin/set-limit';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { usd } from '../../shared/money';
import { periodKey } from '../../shared/period';
import { invocationLog } from '../fixtures';
import { deliverLogs, documents, eventually, item, lambda, local, output, settle, unique } from './support';

const OPUS = 'anthropic.claude-opus-4-20250514-v1:0'; // $15 per million input tokens: 10,000 tokens = $0.15
const LIMIT = '15'; // so 1% of the budget is 10,000 tokens
const store = new BudgetStore(documents, output('BudgetsTableName'), {
  configuredDefault: usd('50'),
  configuredAccount: usd('1000'),
});
const sfn = new SFNClient(local.clientConfig);
const iam = new IAMClient(local.clientConfig);

interface Received {
  readonly topic: 'alerts' | 'critical';
  readonly subject: string;
  readonly principal?: string;
  readonly threshold?: string;
}
const received: Received[] = [];
let inbox: Inbox;

beforeAll(async () => {
  inbox = await openInbox(local.clientConfig, [output('AlertsTopicArn'), output('CriticalTopicArn')]);
});
afterAll(() => inbox.close());

/** What an admin subscribed to both topics has received about `principal` so far. */
async function notificationsFor(principal: string): Promise<Received[]> {
  for (const n of await inbox.read()) {
    received.push({
      topic: n.topicArn === output('CriticalTopicArn') ? 'critical' : 'alerts',
      subject: n.subject,
      principal: n.attributes.principal,
      threshold: n.attributes.threshold,
    });
  }
  return received.filter((n) => n.principal === principal);
}

/** Suspension executions for a principal: their names end with the principal's id. */
async function executionsOf(principalName: string) {
  const { executions = [] } = await sfn.send(
    new ListExecutionsCommand({ stateMachineArn: output('SuspendStateMachineArn') }),
  );
  return executions.filter((e) => e.name?.endsWith(principalName));
}

/** Spends `percent` of the budget in `ingests` concurrent invocation-log deliveries. */
async function spend(arn: string, percent: number, ingests: number, timestamp: string) {
  const tokens = (percent * 10_000) / ingests;
  await Promise.all(
    Array.from({ length: ingests }, () =>
      deliverLogs([
        invocationLog(`${unique()}-${unique()}`, arn, {
          timestamp,
          modelId: OPUS,
          input: { inputTokenCount: tokens },
          output: { outputTokenCount: 0 },
        }),
      ]),
    ),
  );
  await settle();
}

describe('budget evaluation on the local stack', () => {
  it.each([
    ['one ingest at a time', 1],
    ['20 concurrent ingests per step', 20],
  ])(
    'alerts at 80, 90 and 95%% exactly once and starts one suspension at 100%% (%s)',
    async (_, ingests) => {
      const name = `eve-${unique()}`;
      const principal = `user/${name}`;
      const arn = `arn:aws:iam::111122223333:user/${name}`;
      const year = 2100 + Math.floor(Math.random() * 5000);
      const period = `${year}-05`;
      await iam.send(new CreateUserCommand({ UserName: name }));
      await store.setLimit(principal, usd(LIMIT), 'arn:aws:iam::123456789012:user/admin');
      await settle();

      for (const percent of [81, 10, 5, 4]) await spend(arn, percent, ingests, `${year}-05-10T10:00:00Z`);

      // The critical message leaves with the start of the workflow; under load it can trail the last settle.
      await eventually('the critical notification', async () =>
        (await notificationsFor(principal)).some((n) => n.topic === 'critical') ? true : undefined,
      );
      await settle();
      const notifications = await notificationsFor(principal);
      expect(notifications.filter((n) => n.topic === 'alerts').map((n) => n.threshold)).toEqual(['80', '90', '95']);
      // The exhaustion, then (from the workflow, once the deny is in IAM) the suspension itself.
      await eventually('the suspended notification', async () =>
        (await notificationsFor(principal)).some((n) => n.subject.startsWith('Bedrock suspended')) ? true : undefined,
      );
      expect(
        (await notificationsFor(principal))
          .filter((n) => n.topic === 'critical')
          .map((n) => n.subject)
          .sort(),
      ).toEqual([`Bedrock budget exhausted: ${principal} (${period})`, `Bedrock suspended: ${principal} (${period})`]);
      const executions = await executionsOf(name);
      expect(executions).toHaveLength(1);
      // The workflow denies and then waits for a decision: the execution keeps running, the principal is suspended.
      const counter = await eventually('the suspension', async () => {
        const current = await item('BudgetsTableName', { principal, period });
        return current?.state === 'suspended' ? current : undefined;
      });
      expect((counter?.alerts as { value: string }[] | undefined)?.map((t) => t.value)).toEqual(['80', '90', '95']);
      expect((counter?.suspension as { executionArn?: string } | undefined)?.executionArn).toBe(
        executions[0]?.executionArn,
      );
      const { PolicyDocument } = await iam.send(
        new GetUserPolicyCommand({ UserName: name, PolicyName: 'BudgeteerDeny' }),
      );
      expect(decodeURIComponent(PolicyDocument ?? '')).toContain('bedrock:InvokeModel');
    },
    60_000,
  );

  it('alerts a principal with a weekly budget on its spend of the week', async () => {
    const name = `wes-${unique()}`;
    const principal = `user/${name}`;
    const year = 2100 + Math.floor(Math.random() * 5000);
    const at = new Date(`${year}-05-13T10:00:00Z`);
    const deployment = deploymentOf({ clientConfig: local.clientConfig, outputs: local.outputs });
    const log = new AuditLog(documents, output('AuditTableName'));
    await setBudgetLimit(store, log, deployment, {
      principal,
      limitUsd: usd(LIMIT),
      actor: 'arn:aws:iam::123456789012:user/admin',
      period: 'weekly',
    });

    await spend(`arn:aws:iam::111122223333:user/${name}`, 81, 1, at.toISOString());

    const week = periodKey('weekly', at);
    expect((await notificationsFor(principal)).map((n) => n.subject)).toEqual([
      `Bedrock budget 80% reached: ${principal} (${week})`,
    ]);
    // The monthly counter moved too, but a weekly principal is not judged on it.
    expect(await item('BudgetsTableName', { principal, period: periodKey('monthly', at) })).toMatchObject({
      principal,
    });
    expect((await item('BudgetsTableName', { principal, period: periodKey('monthly', at) }))?.alerts).toBeUndefined();
  });

  it('sends nothing again when the same stream batch is delivered twice', async () => {
    const name = `fay-${unique()}`;
    const principal = `user/${name}`;
    const year = 2100 + Math.floor(Math.random() * 5000);
    const period = `${year}-05`;
    await store.setLimit(principal, usd(LIMIT), 'arn:aws:iam::123456789012:user/admin');
    await spend(`arn:aws:iam::111122223333:user/${name}`, 96, 1, `${year}-05-10T10:00:00Z`);
    expect((await notificationsFor(principal)).map((n) => n.threshold)).toEqual(['95']);

    // The batch as the stream delivered it: the counter's change from nothing to 96%.
    const snapshot = { principal, period, spendUsd: '14.4', requests: 1 };
    const batch = {
      Records: [
        {
          eventID: '1',
          eventName: 'INSERT',
          eventVersion: '1.1',
          eventSource: 'aws:dynamodb',
          awsRegion: 'us-east-1',
          eventSourceARN: 'arn:aws:dynamodb:us-east-1:123456789012:table/Budgets/stream/2100-01-01T00:00:00.000',
          dynamodb: {
            Keys: marshall({ principal, period }),
            NewImage: marshall(snapshot),
            SequenceNumber: '1',
            SizeBytes: 100,
            StreamViewType: 'NEW_AND_OLD_IMAGES',
          },
        },
      ],
    };
    for (let delivery = 0; delivery < 2; delivery++) {
      const result = await lambda.send(
        new InvokeCommand({
          FunctionName: local.functions['functions/evaluate/handler.ts'],
          Payload: Buffer.from(JSON.stringify(batch)),
        }),
      );
      expect(JSON.parse(Buffer.from(result.Payload ?? []).toString())).toEqual({ batchItemFailures: [] });
    }
    await settle();
    expect((await notificationsFor(principal)).map((n) => n.threshold)).toEqual(['95']);
  });
});
