import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { type LocalAws, startLocalAws } from '../../local/aws';
import { type CloudFormationTemplateJson, type Deployment, deployTemplate } from '../../local/deploy';
import { localKinesisClient } from '../../local/kinesis';
import { type EventSourceMappings, startEventSourceMappings } from '../../local/streams';

jest.setTimeout(60_000);

const ENTRY = 'functions/ingest/handler.ts';

/** A stream, a function with a role, and the Kinesis mapping between them, as the central stack declares them. */
function template(mapping: Record<string, unknown>): CloudFormationTemplateJson {
  return {
    Resources: {
      Stream: { Type: 'AWS::Kinesis::Stream', Properties: { ShardCount: 1, RetentionPeriodHours: 24 } },
      Failures: { Type: 'AWS::SQS::Queue' },
      IngestRole: { Type: 'AWS::IAM::Role', Properties: { RoleName: 'ingest-role' } },
      Ingest: {
        Type: 'AWS::Lambda::Function',
        Metadata: { 'budgeteer:entry': ENTRY },
        Properties: { Role: { 'Fn::GetAtt': ['IngestRole', 'Arn'] } },
      },
      Mapping: {
        Type: 'AWS::Lambda::EventSourceMapping',
        Properties: {
          FunctionName: { Ref: 'Ingest' },
          EventSourceArn: { 'Fn::GetAtt': ['Stream', 'Arn'] },
          StartingPosition: 'TRIM_HORIZON',
          BatchSize: 10,
          DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['Failures', 'Arn'] } } },
          ...mapping,
        },
      },
    },
  };
}

describe('Kinesis event source mapping (local)', () => {
  let local: LocalAws;
  let sqs: SQSClient;
  let kinesis: ReturnType<typeof localKinesisClient>;
  let stack = 0;

  beforeAll(async () => {
    local = await startLocalAws();
    sqs = new SQSClient(local.clientConfig);
    kinesis = localKinesisClient(local.clientConfig);
  });

  afterAll(async () => {
    sqs.destroy();
    kinesis.destroy();
    await local.stop();
  });

  /**
   * Deploys the template with `handler` as the function (each test its own stack), puts `texts` on its stream and
   * then starts its mappings, so that the first read takes them all (moto lets a read in between PutRecords' puts).
   */
  async function run(
    mapping: Record<string, unknown>,
    handler: (event: KinesisStreamEvent) => Promise<unknown>,
    texts: readonly string[],
  ): Promise<{ deployment: Deployment; mappings: EventSourceMappings; streamArn: string; sequences: string[] }> {
    const deployment = await deployTemplate(local, template(mapping), {
      handlers: { [ENTRY]: (event) => handler(event as KinesisStreamEvent) },
      stackName: `kinesis${++stack}`,
    });
    const streamArn = deployment.resources.Stream?.arn ?? '';
    const sequences = await put(streamArn, texts);
    const mappings = startEventSourceMappings(local, deployment, { pollMs: 20 });
    return { deployment, mappings, streamArn, sequences };
  }

  /** One PutRecords: the records land together, so the poller reads them in one batch. */
  async function put(streamArn: string, texts: readonly string[]): Promise<string[]> {
    const put = await kinesis.send(
      new PutRecordsCommand({
        StreamARN: streamArn,
        Records: texts.map((text) => ({ PartitionKey: 'p', Data: Buffer.from(text) })),
      }),
    );
    return (put.Records ?? []).map((record) => record.SequenceNumber ?? '');
  }

  const textOf = (record: KinesisStreamRecord) => Buffer.from(record.kinesis.data, 'base64').toString('utf8');

  it('invokes the function with the Kinesis event Lambda sends: records in order, base64 data, ids and ARNs', async () => {
    const events: KinesisStreamEvent[] = [];
    const { deployment, mappings, streamArn, sequences } = await run(
      {},
      async (event) => {
        events.push(event);
      },
      ['one', 'two', 'three'],
    );
    try {
      await mappings.drain();
      expect(events).toHaveLength(1);
      const records = events[0]?.Records ?? [];
      expect(records.map(textOf)).toEqual(['one', 'two', 'three']);
      expect(records[0]).toEqual({
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: 'p',
          sequenceNumber: sequences[0],
          data: Buffer.from('one').toString('base64'),
          approximateArrivalTimestamp: expect.any(Number),
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `shardId-000000000000:${sequences[0]}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: deployment.resources.IngestRole?.arn,
        awsRegion: local.region,
        eventSourceARN: streamArn,
      });
    } finally {
      await mappings.stop();
    }
  });

  it('bisects a failing batch down to the bad record, retries it MaximumRetryAttempts times, then sends it to the on-failure queue', async () => {
    const delivered: string[][] = [];
    const { deployment, mappings, streamArn, sequences } = await run(
      { BisectBatchOnFunctionError: true, MaximumRetryAttempts: 2 },
      async (event) => {
        const texts = event.Records.map(textOf);
        delivered.push(texts);
        if (texts.includes('poison')) throw new Error('cannot read poison');
      },
      ['a', 'b', 'poison', 'd'],
    );
    try {
      await mappings.drain({ timeoutMs: 20_000 });
      // [a b poison d] fails: split into [a b] (delivered) and [poison d], which fails: [poison] fails 1 + 2 retries,
      // is given up, then [d] is delivered.
      expect(delivered).toEqual([
        ['a', 'b', 'poison', 'd'],
        ['a', 'b'],
        ['poison', 'd'],
        ['poison'],
        ['poison'],
        ['poison'],
        ['d'],
      ]);
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: deployment.resources.Failures?.physicalId, WaitTimeSeconds: 1 }),
      );
      expect(Messages).toHaveLength(1);
      expect(JSON.parse(Messages[0]?.Body ?? '{}')).toMatchObject({
        requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 3 },
        responseContext: { functionError: 'Error: cannot read poison' },
        KinesisBatchInfo: {
          shardId: 'shardId-000000000000',
          startSequenceNumber: sequences[2],
          endSequenceNumber: sequences[2],
          batchSize: 1,
          streamArn,
        },
      });
    } finally {
      await mappings.stop();
    }
  });

  it('resumes a batch at the earliest record a partial batch response names', async () => {
    const delivered: string[][] = [];
    let failOnce = true;
    const { mappings } = await run(
      { FunctionResponseTypes: ['ReportBatchItemFailures'] },
      async (event) => {
        delivered.push(event.Records.map(textOf));
        if (!failOnce) return { batchItemFailures: [] };
        failOnce = false;
        return { batchItemFailures: [{ itemIdentifier: event.Records[1]?.kinesis.sequenceNumber }] };
      },
      ['x', 'y', 'z'],
    );
    try {
      await mappings.drain();
      expect(delivered).toEqual([
        ['x', 'y', 'z'],
        ['y', 'z'],
      ]);
    } finally {
      await mappings.stop();
    }
  });

  it('holds a batch short of the batch size until its batching window has passed', async () => {
    const deliveredAt: number[] = [];
    const putAt = Date.now();
    const { mappings } = await run({ MaximumBatchingWindowInSeconds: 1 }, async () => {
      deliveredAt.push(Date.now());
    }, ['early']);
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(deliveredAt).toEqual([]);
      for (let waited = 0; deliveredAt.length === 0 && waited < 5_000; waited += 50) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect((deliveredAt[0] ?? 0) - putAt).toBeGreaterThanOrEqual(1_000);
    } finally {
      await mappings.stop();
    }
  });
});
