import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  DynamoDBDocumentClient,
  GetCommand,
  NumberValue,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { CoverageSweep } from '../../functions/sweep/sweep';
import type { AuditLog } from '../../shared/audit/log';
import { Outbox } from '../../shared/decisions/outbox';
import { Ledger } from '../../shared/ledger';
import { usd } from '../../shared/money';
import { asEmail } from '../shared/published';

const ddb = mockClient(DynamoDBDocumentClient);
const topics = mockClient(SNSClient);
const workflows = mockClient(SFNClient);

const region = 'us-east-1';
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region }));
const audit = { append: jest.fn() };
const waits = { wakeAll: jest.fn() };
const now = new Date('2026-11-20T12:00:00Z');
const order: string[] = [];

const outbox = new Outbox(
  {
    table: 'Budgets',
    alertsTopicArn: 'arn:aws:sns:us-east-1:111122223333:alerts',
    criticalTopicArn: 'arn:aws:sns:us-east-1:111122223333:critical',
    suspendStateMachineArn: 'arn:aws:states:us-east-1:111122223333:stateMachine:suspend',
    emergencyStopStateMachineArn: 'arn:aws:states:us-east-1:111122223333:stateMachine:stop',
  },
  {
    documents,
    sns: new SNSClient({ region }),
    sfn: new SFNClient({ region }),
    audit: audit as unknown as AuditLog,
    now: () => now,
  },
);
const sweepWith = (options: { requireConfirmation?: boolean } = {}) =>
  new CoverageSweep(
    {
      usageTable: 'Usage',
      budgetsTable: 'Budgets',
      unmeteredIndex: 'unmetered',
      delayMinutes: 15,
      unmeteredCallUsd: usd('0.5'),
      maxCallsPerRun: 100,
      ...options,
    },
    {
      documents,
      outbox,
      waits,
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
const sweep = sweepWith();

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
const aliceAlert = 'unmetered|user/alice|2026-11-20';
const isClaim = (input: UpdateCommandInput) => /^SET #outbox/.test(input.UpdateExpression ?? '');
const claims = () =>
  ddb
    .commandCalls(UpdateCommand)
    .map((c) => c.args[0].input)
    .filter(isClaim);

beforeEach(() => {
  ddb.reset();
  topics.reset();
  workflows.reset();
  audit.append.mockReset();
  waits.wakeAll.mockReset();
  order.length = 0;
  waits.wakeAll.mockImplementation(async () => {
    order.push('wakeAll');
    return 0;
  });
  audit.append.mockImplementation(async (_entry: unknown, options: { once: string }) => {
    order.push(`audit ${options.once}`);
  });
  ddb.on(ScanCommand).callsFake(async () => {
    order.push('scan owed');
    return { Items: [] };
  });
  ddb.on(QueryCommand).callsFake(async () => {
    order.push('query');
    return { Items: [] };
  });
  ddb
    .on(QueryCommand, { ExpressionAttributeValues: { ':shard': 'U0', ':cutoff': '2026-11-20T11:45:00.000Z' } })
    .callsFake(async () => {
      order.push('query');
      return { Items: [sighting('r-1', 'alice'), sighting('r-2', 'alice'), sighting('r-3', 'bob')] };
    });
  ddb.on(TransactWriteCommand).callsFake(async () => {
    order.push('charge');
    return {};
  });
  ddb.on(UpdateCommand).callsFake(async (input: UpdateCommandInput) => {
    order.push(`${isClaim(input) ? 'claim' : 'clear'} ${input.Key?.principal}`);
    return { Attributes: { ...input.Key } };
  });
  topics.on(PublishCommand).callsFake(async (input: { Subject?: string }) => {
    order.push(`publish ${input.Subject}`);
    return {};
  });
});

describe('coverage sweep', () => {
  it('first completes what a crash left owed and wakes undelivered decisions, then looks for unmetered calls', async () => {
    const owed = {
      decisionId: 'threshold|user/carol|2026-11|g0|80',
      audit: { actor: 'system:evaluate', action: 'threshold.alerted', subject: 'user/carol' },
    };
    ddb.on(ScanCommand).callsFake(async () => {
      order.push('scan owed');
      return { Items: [{ principal: 'user/carol', period: '2026-11' }] };
    });
    ddb.on(GetCommand).resolves({
      Item: { principal: 'user/carol', period: '2026-11', [`outbox:${owed.decisionId}`]: owed },
    });

    const result = await sweep.run();

    expect(result).toMatchObject({ completed: 1, woken: 0 });
    expect(order.slice(0, 5)).toEqual([
      'scan owed',
      `audit ${owed.decisionId}`,
      'clear user/carol',
      'wakeAll',
      'query',
    ]);
  });

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
    const alice = actions.find((a) => a.Update?.Key?.principal === 'user/alice')?.Update;
    expect((alice?.ExpressionAttributeValues?.[':spend'] as NumberValue | undefined)?.value).toBe('1');
  });

  it('claims the COVERAGE#<principal> alert before the ledger charge and delivers it after', async () => {
    const result = await sweep.run();

    expect(result.alerted.sort()).toEqual(['user/alice', 'user/bob']);
    expect(claims()).toContainEqual(
      expect.objectContaining({
        TableName: 'Budgets',
        Key: { principal: 'COVERAGE#user/alice', period: '2026-11-20' },
        ConditionExpression: 'attribute_not_exists(principal)',
        ExpressionAttributeNames: expect.objectContaining({ '#outbox': `outbox:${aliceAlert}` }),
        ExpressionAttributeValues: expect.objectContaining({ ':calls': 2 }),
      }),
    );
    const charge = order.indexOf('charge');
    expect(order.indexOf('claim COVERAGE#user/alice')).toBeLessThan(charge);
    expect(order.indexOf('claim COVERAGE#user/bob')).toBeLessThan(charge);
    const alicePublish = order.findIndex((step) => step.startsWith('publish') && step.includes('alice'));
    expect(alicePublish).toBeGreaterThan(charge);
    expect(order.indexOf(`audit ${aliceAlert}`)).toBeGreaterThan(charge);
    expect(order.indexOf('clear COVERAGE#user/alice')).toBeGreaterThan(order.indexOf(`audit ${aliceAlert}`));

    const alice = topics.commandCalls(PublishCommand).find((c) => c.args[0].input.Subject?.includes('alice'));
    expect(alice && asEmail(alice.args[0].input).Message).toMatch(
      /^2 Bedrock call\(s\) by user\/alice .* within 15 minutes/,
    );
    expect(alice?.args[0].input.MessageAttributes?.decisionId?.StringValue).toBe(aliceAlert);
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({ action: 'coverage.unmetered', subject: 'user/alice' }),
      { once: aliceAlert },
    );
  });

  it('leaves the claimed alert owed when the charge fails, so a crash cannot lose it', async () => {
    ddb.on(TransactWriteCommand).rejects(new Error('throttled'));

    await expect(sweep.run()).rejects.toThrow();

    expect(claims()).toHaveLength(2);
    expect(topics).not.toHaveReceivedCommand(PublishCommand);
    expect(order.filter((step) => step.startsWith('clear'))).toEqual([]);
  });

  it('alerts once per principal per day: a claim taken before sends nothing, the calls are still charged', async () => {
    ddb.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'exists', $metadata: {} }));

    const result = await sweep.run();

    expect(result).toMatchObject({ alerted: [], charged: 3 });
    expect(topics).not.toHaveReceivedCommand(PublishCommand);
    expect(audit.append).not.toHaveBeenCalled();
  });
});

describe('escalating spend still unconfirmed after the wait (requireCloudTrailConfirmation)', () => {
  const confirming = sweepWith({ requireConfirmation: true });
  const waiting = {
    principal: 'user/mallory',
    period: '2026-11',
    awaitingConfirmationGeneration: NumberValue.from('2'),
    awaitingConfirmationSince: '2026-11-20T11:30:00.000Z',
  };
  const decisionId = 'unconfirmed|user/mallory|2026-11|g2';
  const unconfirmedScan = { FilterExpression: 'attribute_exists(#awaiting) AND #since < :cutoff' };

  it('alerts the critical topic and audits, once per generation, what waited past the delay, and suspends nothing', async () => {
    ddb.on(ScanCommand, unconfirmedScan).resolves({ Items: [waiting] });

    const result = await confirming.run();

    expect(ddb).toHaveReceivedCommandWith(ScanCommand, {
      ...unconfirmedScan,
      ExpressionAttributeValues: { ':cutoff': '2026-11-20T11:45:00.000Z' },
    });
    expect(result.unconfirmed).toEqual(['user/mallory']);
    expect(claims()).toContainEqual(
      expect.objectContaining({
        Key: { principal: 'user/mallory', period: '2026-11' },
        ConditionExpression:
          '#awaiting = :g AND (attribute_not_exists(#overdue) OR #overdue < :g) AND (attribute_not_exists(#exhausted) OR #exhausted < :g) AND #g = :g AND attribute_not_exists(#lifted)',
        ExpressionAttributeNames: expect.objectContaining({ '#outbox': `outbox:${decisionId}` }),
        ExpressionAttributeValues: expect.objectContaining({ ':g': 2 }),
      }),
    );
    const alert = topics.commandCalls(PublishCommand).find((c) => c.args[0].input.TopicArn?.endsWith(':critical'));
    expect(alert?.args[0].input.Subject).toBe(
      'Bedrock spend past the limit still unconfirmed by CloudTrail: user/mallory (2026-11)',
    );
    expect(alert && asEmail(alert.args[0].input).Message).toMatch(/nothing was\ndenied/);
    expect(audit.append).toHaveBeenCalledWith(
      expect.objectContaining({
        action: 'suspension.unconfirmed',
        subject: 'user/mallory',
        details: { generation: 2, awaitingSince: '2026-11-20T11:30:00.000Z', waitMinutes: 15 },
      }),
      { once: decisionId },
    );
    expect(workflows.calls()).toEqual([]);
  });

  it('escalates nothing whose wait ended (confirmed, lifted, a new generation) or was escalated before', async () => {
    ddb.on(ScanCommand, unconfirmedScan).resolves({ Items: [waiting] });
    ddb.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'moved on', $metadata: {} }));

    const result = await confirming.run();

    expect(result.unconfirmed).toEqual([]);
    expect(audit.append).not.toHaveBeenCalledWith(expect.objectContaining({ action: 'suspension.unconfirmed' }), {
      once: decisionId,
    });
  });

  it('does not look for unconfirmed spend where confirmation is not required', async () => {
    const result = await sweep.run();

    expect(result.unconfirmed).toEqual([]);
    expect(ddb).not.toHaveReceivedCommandWith(ScanCommand, unconfirmedScan);
  });
});
