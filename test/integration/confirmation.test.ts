import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateUserCommand, GetUserPolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { type Inbox, openInbox } from '../../local/inbox';
import { LocalStack } from '../../local/stack';
import { AuditLog } from '../../shared/audit/log';
import { BudgetStore } from '../../shared/budgets';
import { decimalOf } from '../../shared/budgets/items';
import { usd } from '../../shared/money';
import { periodKey } from '../../shared/period';
import { cloudTrailEvent, invocationLog } from '../fixtures';

/**
 * `requireCloudTrailConfirmation` is a deployment setting, read by the functions at cold start: this file runs a
 * local stack of its own with it on (the shared stack has it off, as deployments do by default).
 */
jest.setTimeout(120_000);

let stack: LocalStack;
let iam: IAMClient;
let documents: DynamoDBDocumentClient;
let inbox: Inbox;

beforeAll(async () => {
  // The account's budget high, so only the principal's limit decides.
  stack = await LocalStack.start({ context: { requireCloudTrailConfirmation: true, accountBudgetUsd: '1000000' } });
  iam = new IAMClient(stack.local.clientConfig);
  documents = DynamoDBDocumentClient.from(new DynamoDBClient(stack.local.clientConfig), {
    unmarshallOptions: { wrapNumbers: true },
  });
  inbox = await openInbox(stack.local.clientConfig, [stack.output('CriticalTopicArn')]);
});

afterAll(async () => {
  inbox?.close();
  iam?.destroy();
  await stack?.stop();
});

const denied = (user: string) =>
  iam
    .send(new GetUserPolicyCommand({ UserName: user, PolicyName: 'BudgeteerDeny' }))
    .then(() => true)
    .catch(() => false);

describe('with requireCloudTrailConfirmation on, on a local stack of its own', () => {
  it('does not suspend on logged-only spend past 100% until the CloudTrail sighting arrives, then does', async () => {
    const user = `conf-${Date.now()}`;
    const arn = `arn:aws:iam::111122223333:user/${user}`;
    const requestId = `${user}-call`;
    const at = new Date().toISOString();
    const period = periodKey('monthly', new Date(at));
    await iam.send(new CreateUserCommand({ UserName: user }));
    const store = new BudgetStore(documents, stack.output('BudgetsTableName'), {
      configuredDefault: usd('50'),
      configuredAccount: usd('1000000'),
    });
    await store.setLimit(`user/${user}`, usd('15'), 'system:test');
    const counter = async () =>
      (
        await documents.send(
          new GetCommand({
            TableName: stack.output('BudgetsTableName'),
            Key: { principal: `user/${user}`, period },
            ConsistentRead: true,
          }),
        )
      ).Item;

    // Claude Opus 4: 1,010,000 input tokens x $15/M = $15.15, 101% of the limit, reported by the log alone.
    await stack.deliverLogs([
      invocationLog(requestId, arn, {
        timestamp: at,
        modelId: 'anthropic.claude-opus-4-20250514-v1:0',
        input: { inputTokenCount: 1_010_000 },
        output: { outputTokenCount: 0 },
      }),
    ]);
    await stack.settle();

    expect(await denied(user)).toBe(false);
    const waiting = await counter();
    expect(decimalOf(waiting?.spendUsd).toFixed()).toBe('15.15');
    expect(decimalOf(waiting?.confirmedSpendUsd).toFixed()).toBe('0');
    expect(waiting?.state).toBeUndefined();
    expect((await inbox.read()).filter((n) => n.attributes.principal === `user/${user}`)).toEqual([
      expect.objectContaining({
        subject: `Bedrock budget reached on logged spend, awaiting CloudTrail: user/${user} (${period})`,
        attributes: expect.objectContaining({ kind: 'awaiting-confirmation', severity: 'critical' }),
      }),
    ]);

    // CloudTrail's record of the same request by the same principal confirms the spend: now it suspends.
    const sighting = cloudTrailEvent(requestId, arn) as { detail: Record<string, unknown> };
    sighting.detail.eventTime = at;
    await stack.putEvents([sighting]);
    await stack.settle();

    expect(await denied(user)).toBe(true);
    const suspended = await counter();
    expect(decimalOf(suspended?.confirmedSpendUsd).toFixed()).toBe('15.15');
    expect(suspended?.state).toBe('suspended');
    const actions = [];
    for await (const entry of new AuditLog(documents, stack.output('AuditTableName')).query({
      subject: `user/${user}`,
    })) {
      actions.push(entry.action);
    }
    expect(actions).toEqual(
      expect.arrayContaining(['suspension.awaiting-confirmation', 'suspension.requested', 'deny.applied']),
    );
  });
});
