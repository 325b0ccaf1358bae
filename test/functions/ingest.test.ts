import { gunzipSync, gzipSync } from 'node:zlib';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, type NumberValue, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { cloudTrailEvent, fixture, invocationLog, logsSubscription } from '../fixtures';

const ddb = mockClient(DynamoDBDocumentClient);
const sqs = mockClient(SQSClient);

Object.assign(process.env, {
  USAGE_TABLE: 'Usage',
  BUDGETS_TABLE: 'Budgets',
  PRICES_TABLE: 'Prices',
  REJECTED_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111122223333/rejected',
  PERIOD: 'monthly',
  ACCOUNT_ID: '111122223333',
  INVOCATION_LOG_GROUP: '/aws/bedrock/modelinvocations',
  POWERTOOLS_DEV: 'true',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_METRICS_DISABLED: 'true',
});
// Configuration is read at module load, so the handler is loaded after the environment is set.
const { ingestEvent } = require('../../functions/ingest/handler') as typeof import('../../functions/ingest/handler');
const { rejectionsByKind } = require('../../functions/ingest/ingest') as typeof import('../../functions/ingest/ingest');

type Action = NonNullable<TransactWriteCommand['input']['TransactItems']>[number];
const actions = (): Action[] =>
  ddb.commandCalls(TransactWriteCommand).flatMap((c) => (c.args[0].input.TransactItems ?? []) as Action[]);
const spendOf = (principal: string | RegExp) =>
  (
    actions().find((a) => {
      const key = String(a.Update?.Key?.principal);
      return typeof principal === 'string' ? key === principal : principal.test(key);
    })?.Update?.ExpressionAttributeValues?.[':spend'] as NumberValue
  )?.value;

const sqsBatch = (bodies: string[]) => ({
  Records: bodies.map((body, i) => ({ messageId: `m-${i}`, body, eventSource: 'aws:sqs' })),
});

beforeEach(() => {
  ddb.reset();
  sqs.reset();
  ddb.on(TransactWriteCommand).resolves({});
  // No groups: ingest counts principals and the account only.
  ddb.on(QueryCommand).resolves({ Items: [] });
  sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});

describe('ingest handler', () => {
  it('charges each invocation log record of a Logs subscription payload exactly, to the right principal', async () => {
    await ingestEvent(fixture('cloudwatch-logs-subscription'));

    expect(ddb).toHaveReceivedCommandTimes(TransactWriteCommand, 1);
    const rows = actions().filter((a) => a.Update?.TableName === 'Usage');
    expect(rows.map((a) => a.Update?.Key?.requestId)).toEqual([
      '0a1b2c3d-0002-4e5f-8a9b-222222222222',
      '0a1b2c3d-0001-4e5f-8a9b-111111111111',
    ]);
    // Claude 3 Haiku: 1200 x $0.25/M + 340 x $1.25/M = 0.0003 + 0.000425
    expect(spendOf('user/alice')).toBe('0.000725');
    // Claude Sonnet 4 via a US profile: 350 x $3 + 900 x $15 + 8000 x $0.30 + 2000 x $3.75, per million
    expect(spendOf('role/summarizer-app')).toBe('0.02445');
    // The account's total goes to one of its shards, whichever this environment holds.
    expect(spendOf(/^ACCOUNT#\d+$/)).toBe('0.025175');
    expect(sqs).not.toHaveReceivedCommand(SendMessageBatchCommand);
  });

  it('records CloudTrail events from an SQS batch as sightings and dead-letters bad messages with reasons', async () => {
    const good = cloudTrailEvent('r-ct-1', 'arn:aws:iam::111122223333:user/alice');
    const bad = { ...good, detail: { ...good.detail, userIdentity: { type: 'IAMUser', arn: 'nobody' } } };

    const response = await ingestEvent(sqsBatch([JSON.stringify(good), '{not json', JSON.stringify(bad)]));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(actions()).toEqual([
      expect.objectContaining({
        Put: expect.objectContaining({ Item: expect.objectContaining({ requestId: 'r-ct-1' }) }),
      }),
    ]);
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 1);
    const entries = sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.Entries ?? [];
    expect(entries.map((e) => JSON.parse(e.MessageBody ?? '{}'))).toEqual([
      expect.objectContaining({ recordId: 'm-1', error: 'SQS message body is not JSON' }),
      expect.objectContaining({ recordId: 'm-2', error: expect.stringMatching(/not an IAM or STS principal ARN/) }),
    ]);
  });

  it('keeps counting the good records of a Logs payload when one of them is malformed', async () => {
    const arn = 'arn:aws:iam::111122223333:user/alice';
    await ingestEvent(
      logsSubscription([invocationLog('r-1', arn), { schemaType: 'ModelInvocationLog' }, invocationLog('r-2', arn)]),
    );

    expect(actions().filter((a) => a.Update?.TableName === 'Usage')).toHaveLength(2);
    // 2 x (1000 x $0.25/M + 100 x $1.25/M)
    expect(spendOf('user/alice')).toBe('0.00075');
    const rejected = sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.Entries ?? [];
    expect(rejected).toHaveLength(1);
    expect(JSON.parse(rejected[0]?.MessageBody ?? '{}')).toMatchObject({ recordId: 'event-1' });
  });

  it('rejects a record over an AWS limit alone and still counts the good record beside it', async () => {
    // A user name of 3,000 bytes: its principal id is more than a DynamoDB partition key holds (2,048 bytes), so
    // writing it would fail the whole transaction, and the batch with its good record would end in the DLQ.
    const alice = 'arn:aws:iam::111122223333:user/alice';
    const huge = `arn:aws:iam::111122223333:user/${'a'.repeat(3000)}`;

    const logs = await ingestEvent(logsSubscription([invocationLog('r-1', huge), invocationLog('r-2', alice)]));
    const cloudTrail = await ingestEvent(
      sqsBatch([JSON.stringify(cloudTrailEvent('r-3', huge)), JSON.stringify(cloudTrailEvent('r-4', alice))]),
    );

    expect(logs).toEqual({ batchItemFailures: [] });
    expect(cloudTrail).toEqual({ batchItemFailures: [] });
    const keys = actions().map((a) => String(a.Update?.Key?.principal ?? a.Put?.Item?.requestId));
    expect(keys.every((key) => Buffer.byteLength(key) <= 2048)).toBe(true);
    // 1000 x $0.25/M + 100 x $1.25/M
    expect(spendOf('user/alice')).toBe('0.000375');
    expect(actions().some((a) => a.Put?.Item?.requestId === 'r-4')).toBe(true);
    const rejected = sqs
      .commandCalls(SendMessageBatchCommand)
      .flatMap((call) => call.args[0].input.Entries ?? [])
      .map((entry) => JSON.parse(entry.MessageBody ?? '{}'));
    expect(rejected).toEqual([
      expect.objectContaining({
        recordId: 'event-0',
        kind: 'over-limit',
        error: 'invalid invocation log record: the principal ARN is 3031 characters; IAM ARNs have at most 2048',
      }),
      expect.objectContaining({ recordId: 'm-0', kind: 'over-limit' }),
    ]);
  });

  it('charges a streamed invocation log exactly instead of rejecting it', async () => {
    await ingestEvent(logsSubscription([fixture('invocation-log-invokemodel-stream-haiku3')]));

    expect(sqs).not.toHaveReceivedCommand(SendMessageBatchCommand);
    // Claude 3 Haiku: 1176 x $0.25/M + 160 x $1.25/M = 0.000294 + 0.0002
    expect(spendOf('role/chat-frontend')).toBe('0.000494');
  });

  it('charges a call with no token counts $0, which ends its wait for the coverage sweep', async () => {
    await ingestEvent(logsSubscription([fixture('invocation-log-guardrail-intervened')]));

    const row = actions().find((a) => a.Update?.TableName === 'Usage')?.Update;
    expect((row?.ExpressionAttributeValues?.[':cost'] as NumberValue | undefined)?.value).toBe('0');
    expect(row?.UpdateExpression).toMatch(/REMOVE unmeteredSince, unmeteredShard/);
    expect(spendOf('user/alice')).toBe('0');
  });

  it('dead-letters a self-contradicting record with its reason and kind', async () => {
    await ingestEvent(logsSubscription([fixture('invocation-log-stream-contradiction')]));

    const entries = sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.Entries ?? [];
    expect(entries.map((e) => JSON.parse(e.MessageBody ?? '{}'))).toEqual([
      expect.objectContaining({ kind: 'self-contradicting-log', error: expect.stringMatching(/contradicts itself/) }),
    ]);
    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
  });

  it('records a bedrock-mantle inference as a sighting for the coverage sweep', async () => {
    await ingestEvent(sqsBatch([JSON.stringify(fixture('eventbridge-cloudtrail-mantle-createinference'))]));

    expect(actions()[0]?.Put?.Item).toMatchObject({
      requestId: '0a1b2c3d-0901-4e5f-8a9b-000000000901',
      operation: 'CreateInference',
      modelId: 'openai.gpt-oss-120b',
      unmeteredShard: expect.stringMatching(/^U\d$/),
    });
  });

  it('counts rejections by kind for the rejections metric', () => {
    const rejection = (kind: 'not-json' | 'self-contradicting-log') => ({ id: 'x', error: 'e', kind, body: null });

    expect([
      ...rejectionsByKind([rejection('not-json'), rejection('self-contradicting-log'), rejection('not-json')]),
    ]).toEqual([
      ['not-json', 2],
      ['self-contradicting-log', 1],
    ]);
  });

  it('accepts one EventBridge event delivered directly', async () => {
    await ingestEvent(fixture('eventbridge-cloudtrail-apikey'));
    expect(actions()[0]?.Put?.Item).toMatchObject({
      principal: 'user/BedrockAPIKey-4xq9',
      modelId: 'amazon.nova-lite-v1:0',
    });
  });

  it('rejects a Logs delivery from another account whole, with its reason, and counts none of it', async () => {
    const forged = logsSubscription([invocationLog('r-1', 'arn:aws:iam::111122223333:user/alice')]);
    const payload = JSON.parse(gunzipSync(Buffer.from(forged.awslogs.data, 'base64')).toString());
    const foreign = {
      awslogs: { data: gzipSync(JSON.stringify({ ...payload, owner: '999988887777' })).toString('base64') },
    };

    await ingestEvent(foreign);

    expect(ddb).not.toHaveReceivedCommand(TransactWriteCommand);
    const entries = sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.Entries ?? [];
    expect(entries.map((e) => JSON.parse(e.MessageBody ?? '{}'))).toEqual([
      expect.objectContaining({
        kind: 'untrusted-envelope',
        error: expect.stringMatching(/owner is account 999988887777, not this deployment's account 111122223333/),
      }),
    ]);
  });

  it('rejects what no AWS route delivers on the CloudTrail queue and still counts the good event beside it', async () => {
    const alice = 'arn:aws:iam::111122223333:user/alice';
    const foreignAccount = { ...cloudTrailEvent('r-1', alice), account: '999988887777' };
    const logRecord = invocationLog('r-2', alice);
    const logsPayload = logsSubscription([invocationLog('r-3', alice)]);

    await ingestEvent(
      sqsBatch([foreignAccount, logRecord, logsPayload, cloudTrailEvent('r-4', alice)].map((b) => JSON.stringify(b))),
    );

    expect(actions()).toEqual([
      expect.objectContaining({
        Put: expect.objectContaining({ Item: expect.objectContaining({ requestId: 'r-4' }) }),
      }),
    ]);
    const entries = sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.Entries ?? [];
    expect(entries.map((e) => JSON.parse(e.MessageBody ?? '{}'))).toEqual([
      expect.objectContaining({
        recordId: 'm-0',
        kind: 'untrusted-envelope',
        error: expect.stringMatching(/999988887777/),
      }),
      expect.objectContaining({ recordId: 'm-1', kind: 'untrusted-envelope' }),
      expect.objectContaining({ recordId: 'm-2', kind: 'untrusted-envelope' }),
    ]);
  });

  it('fails the invocation when the ledger cannot be written, so the batch is delivered again', async () => {
    ddb.on(TransactWriteCommand).rejects(new Error('service unavailable'));
    await expect(ingestEvent(fixture('cloudwatch-logs-subscription'))).rejects.toThrow('service unavailable');
  });

  it('fails the invocation when a rejected record cannot be kept, so nothing is lost', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Failed: [{ Id: '0', SenderFault: false, Code: 'InternalError' }] });
    await expect(ingestEvent(sqsBatch(['{not json']))).rejects.toThrow(/could not dead-letter/);
  });
});
