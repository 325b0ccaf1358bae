import {
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { type LocalAws, startLocalAws } from '../../local/aws';
import { type CloudFormationTemplateJson, deployTemplate } from '../../local/deploy';
import {
  type StreamBatchFailure,
  type StreamPoller,
  startEventSourceMappings,
  startStreamPoller,
} from '../../local/streams';

jest.setTimeout(30_000);

describe('startStreamPoller', () => {
  let local: LocalAws;
  let dynamodb: DynamoDBClient;
  let tableCount = 0;
  const pollers: StreamPoller[] = [];

  /** A fresh table per test, so each poller sees only its own records. */
  async function budgetsTable(): Promise<{ name: string; streamArn: string }> {
    const name = `Budgets${++tableCount}`;
    const created = await dynamodb.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
      }),
    );
    return { name, streamArn: created.TableDescription?.LatestStreamArn ?? '' };
  }

  function poll(options: Omit<Parameters<typeof startStreamPoller>[0], 'local'>): StreamPoller {
    const poller = startStreamPoller({ local, pollMs: 20, ...options });
    pollers.push(poller);
    return poller;
  }

  function put(table: string, principal: string, spend: string) {
    return dynamodb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: principal }, spend: { N: spend } } }));
  }

  beforeAll(async () => {
    local = await startLocalAws();
    dynamodb = new DynamoDBClient(local.clientConfig);
  });

  afterAll(async () => {
    await Promise.all(pollers.map((poller) => poller.stop()));
    await local.stop();
  });

  it('delivers INSERT, MODIFY and REMOVE with keys and both images, in order', async () => {
    const table = await budgetsTable();
    const events: DynamoDBStreamEvent[] = [];
    const poller = poll({ tableStreamArn: table.streamArn, handler: async (event) => void events.push(event) });

    await put(table.name, 'alice', '1');
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: table.name,
        Key: { pk: { S: 'alice' } },
        UpdateExpression: 'SET spend = :spend',
        ExpressionAttributeValues: { ':spend': { N: '2.5' } },
      }),
    );
    await dynamodb.send(new DeleteItemCommand({ TableName: table.name, Key: { pk: { S: 'alice' } } }));
    await poller.drain();

    const records = events.flatMap((event) => event.Records);
    expect(records.map((record) => record.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    expect(records.map((record) => record.dynamodb?.OldImage?.spend?.N)).toEqual([undefined, '1', '2.5']);
    expect(records.map((record) => record.dynamodb?.NewImage?.spend?.N)).toEqual(['1', '2.5', undefined]);
    expect(records[1]).toMatchObject({
      eventSource: 'aws:dynamodb',
      eventSourceARN: table.streamArn,
      dynamodb: { Keys: { pk: { S: 'alice' } }, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    });
    expect(typeof records[1]?.dynamodb?.ApproximateCreationDateTime).toBe('number');
  });

  it('starts at LATEST when asked, skipping what was written before', async () => {
    const table = await budgetsTable();
    await put(table.name, 'before', '1');
    const principals: string[] = [];
    const poller = poll({
      tableStreamArn: table.streamArn,
      startingPosition: 'LATEST',
      handler: async (event) => {
        principals.push(...event.Records.map((record) => record.dynamodb?.Keys?.pk?.S ?? ''));
      },
    });
    await poller.drain();

    await put(table.name, 'after', '1');
    await poller.drain();

    expect(principals).toEqual(['after']);
  });

  it('retries a batch whose handler threw with the same records until it succeeds', async () => {
    const table = await budgetsTable();
    await put(table.name, 'alice', '1');
    await put(table.name, 'bob', '1');
    const deliveries: string[][] = [];
    const poller = poll({
      tableStreamArn: table.streamArn,
      handler: async (event) => {
        deliveries.push(event.Records.map((record) => record.eventID ?? ''));
        if (deliveries.length < 3) throw new Error('evaluate is down');
      },
    });

    await poller.drain();

    expect(deliveries).toHaveLength(3);
    expect(deliveries[0]).toHaveLength(2);
    expect(deliveries[1]).toEqual(deliveries[0]);
    expect(deliveries[2]).toEqual(deliveries[0]);
  });

  it('gives up after maxRetries, reports the batch as a failure and goes on with later records', async () => {
    const table = await budgetsTable();
    const failures: StreamBatchFailure[] = [];
    const delivered: string[] = [];
    const poller = poll({
      tableStreamArn: table.streamArn,
      batchSize: 1,
      maxRetries: 2,
      onFailure: (failure) => void failures.push(failure),
      handler: async (event) => {
        const principal = event.Records[0]?.dynamodb?.Keys?.pk?.S ?? '';
        delivered.push(principal);
        if (principal === 'poison') throw new TypeError('cannot price');
      },
    });
    await put(table.name, 'poison', '1');
    await put(table.name, 'alice', '1');

    await poller.drain();

    expect(delivered).toEqual(['poison', 'poison', 'poison', 'alice']);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ attempts: 3, error: 'TypeError: cannot price', shardId: expect.any(String) });
    expect(failures[0]?.records.map((record) => record.dynamodb?.Keys?.pk?.S)).toEqual(['poison']);
  });

  it('resumes from the first record a batchItemFailures answer names', async () => {
    const table = await budgetsTable();
    await put(table.name, 'alice', '1');
    await put(table.name, 'bob', '1');
    await put(table.name, 'carol', '1');
    const deliveries: string[][] = [];
    const poller = poll({
      tableStreamArn: table.streamArn,
      handler: async (event) => {
        deliveries.push(event.Records.map((record) => record.dynamodb?.Keys?.pk?.S ?? ''));
        if (deliveries.length > 1) return { batchItemFailures: [] };
        const bob = event.Records.find((record) => record.dynamodb?.Keys?.pk?.S === 'bob');
        return { batchItemFailures: [{ itemIdentifier: bob?.dynamodb?.SequenceNumber }] };
      },
    });

    await poller.drain();

    expect(deliveries).toEqual([
      ['alice', 'bob', 'carol'],
      ['bob', 'carol'],
    ]);
  });

  it('drain waits for records that handlers write in turn', async () => {
    const table = await budgetsTable();
    const seen: string[] = [];
    const poller = poll({
      tableStreamArn: table.streamArn,
      handler: async (event) => {
        for (const record of event.Records) {
          const principal = record.dynamodb?.Keys?.pk?.S ?? '';
          seen.push(principal);
          if (record.eventName === 'INSERT' && !principal.endsWith('-alerted')) {
            await put(table.name, `${principal}-alerted`, '0');
          }
        }
      },
    });
    await put(table.name, 'alice', '1');

    await poller.drain();

    expect(seen).toEqual(['alice', 'alice-alerted']);
  });
});

describe('startEventSourceMappings', () => {
  const EVALUATE_ENTRY = 'functions/evaluate/handler.ts';
  const template: CloudFormationTemplateJson = {
    Resources: {
      Budgets: {
        Type: 'AWS::DynamoDB::Table',
        Properties: {
          TableName: 'Budgets',
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          BillingMode: 'PAY_PER_REQUEST',
          StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
        },
      },
      EvaluateFailures: { Type: 'AWS::SQS::Queue' },
      Evaluate: { Type: 'AWS::Lambda::Function', Metadata: { 'budgeteer:entry': EVALUATE_ENTRY } },
      EvaluateBudgetsStream: {
        Type: 'AWS::Lambda::EventSourceMapping',
        Properties: {
          FunctionName: { Ref: 'Evaluate' },
          EventSourceArn: { 'Fn::GetAtt': ['Budgets', 'StreamArn'] },
          StartingPosition: 'TRIM_HORIZON',
          BatchSize: 10,
          MaximumRetryAttempts: 1,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
          FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ eventName: ['MODIFY'] }) }] },
          DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['EvaluateFailures', 'Arn'] } } },
        },
      },
    },
  };

  it("runs the template's stream mapping: filters, invokes the function, sends exhausted batches to its destination", async () => {
    const local = await startLocalAws();
    try {
      const evaluated: DynamoDBRecord[] = [];
      const deployment = await deployTemplate(local, template, {
        handlers: {
          [EVALUATE_ENTRY]: async (event) => {
            const records = (event as DynamoDBStreamEvent).Records;
            evaluated.push(...records);
            if (records.some((record) => record.dynamodb?.NewImage?.spend?.N === '999')) throw new Error('poison');
          },
        },
      });
      const mappings = startEventSourceMappings(local, deployment, { pollMs: 20 });
      const dynamodb = new DynamoDBClient(local.clientConfig);
      const sqs = new SQSClient(local.clientConfig);
      const item = (spend: string) => ({ TableName: 'Budgets', Item: { pk: { S: 'alice' }, spend: { N: spend } } });

      await dynamodb.send(new PutItemCommand(item('1')));
      await dynamodb.send(new PutItemCommand(item('2')));
      await mappings.drain();
      await dynamodb.send(new PutItemCommand(item('999')));
      await mappings.drain();
      await mappings.stop();

      expect(evaluated.map((record) => `${record.eventName} ${record.dynamodb?.NewImage?.spend?.N}`)).toEqual([
        'MODIFY 2',
        'MODIFY 999',
        'MODIFY 999',
      ]);
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: deployment.find('AWS::SQS::Queue').physicalId, WaitTimeSeconds: 1 }),
      );
      expect(Messages).toHaveLength(1);
      expect(JSON.parse(Messages?.[0]?.Body ?? '{}')).toMatchObject({
        requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 2 },
        DDBStreamBatchInfo: { batchSize: 1, streamArn: deployment.resources.Budgets?.attributes.StreamArn },
      });
    } finally {
      await local.stop();
    }
  });
});
