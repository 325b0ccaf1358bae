import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  DynamoDBDocumentClient,
  type NumberValue,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { CoverageSweep } from '../../functions/sweep/sweep';
import type { AuditLog } from '../../shared/audit/log';
import { Ledger } from '../../shared/ledger';
import { usd } from '../../shared/money';

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const sns = new SNSClient({ region: 'us-east-1' });
const ddb = mockClient(documents);
const topics = mockClient(sns);
const audit = { append: jest.fn() };
const now = new Date('2026-11-20T12:00:00Z');

const sweep = new CoverageSweep(
  {
    usageTable: 'Usage',
    budgetsTable: 'Budgets',
    unmeteredIndex: 'unmetered',
    alertsTopicArn: 'arn:aws:sns:us-east-1:111122223333:alerts',
    delayMinutes: 15,
    unmeteredCallUsd: usd('0.5'),
    maxCallsPerRun: 100,
  },
  {
    documents,
    sns,
    audit: audit as unknown as AuditLog,
    ledger: new Ledger(documents, {
      usageTable: 'Usage',
      budgetsTable: 'Budgets',
      periodKind: 'monthly',
      usageTtlDays: 10,
      now: () => now,
    }),
    now: () => now,
  },
);

const sighting = (requestId: string, user: string) => ({
  requestId,
  principal: `user/${user}`,
  principalArn: `arn:aws:iam::111122223333:user/${user}`,
  principalKind: 'user',
  accountId: '111122223333',
  modelId: 'us.anthropic.claude-sonnet-4-20250514-v1:0',
  operation: 'Converse',
  region: 'us-east-1',
  callTime: '2026-11-20T11:00:00.000Z',
  unmeteredShard: 'U0',
  unmeteredSince: '2026-11-20T11:00:00.000Z',
});

type Action = NonNullable<TransactWriteCommand['input']['TransactItems']>[number];

beforeEach(() => {
  ddb.reset();
  topics.reset();
  audit.append.mockReset();
  ddb.on(QueryCommand).resolves({ Items: [] });
  ddb
    .on(QueryCommand, { ExpressionAttributeValues: { ':shard': 'U0', ':cutoff': '2026-11-20T11:45:00.000Z' } })
    .resolves({
      Items: [sighting('r-1', 'alice'), sighting('r-2', 'alice'), sighting('r-3', 'bob')],
    });
  ddb.on(TransactWriteCommand).resolves({});
  ddb.on(PutCommand).resolves({});
  topics.on(PublishCommand).resolves({});
});

describe('coverage sweep', () => {
  it('queries every shard of the unmetered index for calls older than the delay', async () => {
    await sweep.run();
    const shards = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input.ExpressionAttributeValues?.[':shard']);
    expect(shards).toEqual(['U0', 'U1', 'U2', 'U3']);
    expect(ddb).toHaveReceivedCommandWith(QueryCommand, {
      IndexName: 'unmetered',
      KeyConditionExpression: 'unmeteredShard = :shard AND unmeteredSince < :cutoff',
    });
  });

  it('charges each unmetered call the estimate through the ledger, so budgets still move', async () => {
    const result = await sweep.run();

    expect(result).toMatchObject({ found: 3, charged: 3 });
    const actions = ddb
      .commandCalls(TransactWriteCommand)
      .flatMap((c) => c.args[0].input.TransactItems ?? []) as Action[];
    const rows = actions.filter((a) => a.Update?.TableName === 'Usage');
    expect(rows.map((a) => a.Update?.ExpressionAttributeValues?.[':source'])).toEqual([
      'coverage-sweep',
      'coverage-sweep',
      'coverage-sweep',
    ]);
    expect(rows[0]?.Update?.ConditionExpression).toBe('attribute_not_exists(costUsd)');
    const alice = actions.find((a) => a.Update?.Key?.principal === 'user/alice')?.Update;
    expect((alice?.ExpressionAttributeValues?.[':spend'] as NumberValue | undefined)?.value).toBe('1');
  });

  it('alerts once per principal per day, with the count, claimed on a marker item', async () => {
    const result = await sweep.run();

    expect(result.alerted.sort()).toEqual(['user/alice', 'user/bob']);
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'Budgets',
      Item: expect.objectContaining({ principal: 'COVERAGE#user/alice', period: '2026-11-20', calls: 2 }),
      ConditionExpression: 'attribute_not_exists(principal)',
    });
    const alice = topics.commandCalls(PublishCommand).find((c) => c.args[0].input.Subject?.includes('alice'));
    expect(alice?.args[0].input.Message).toMatch(/^2 Bedrock call\(s\) by user\/alice .* within 15 minutes/);
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({ action: 'coverage.unmetered', subject: 'user/alice' }),
    );

    ddb.on(PutCommand).rejects(new ConditionalCheckFailedException({ message: 'exists', $metadata: {} }));
    topics.resetHistory();
    expect((await sweep.run()).alerted).toEqual([]);
    expect(topics).not.toHaveReceivedCommand(PublishCommand);
  });
});
