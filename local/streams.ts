import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type AttributeValue as SdkAttributeValue,
  type _Record as SdkRecord,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { AttributeValue, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { LocalAws } from './aws';
import type { Deployment } from './deploy';
import { passesFilters } from './event-filter';
import { kinesisFailureRecord, startKinesisPoller } from './kinesis';
import { batchFailureMessage, type PassResult, PollingLoop, type StreamPoller, StreamPollerError } from './polling';

export { type StreamPoller, StreamPollerError } from './polling';

/** What a stream handler may answer: `{ batchItemFailures }` names records (by sequence number) to retry. */
/** The longest pause between retries of a failed batch. */
const MAX_BACKOFF_MS = 5_000;

export type StreamHandler = (event: DynamoDBStreamEvent) => Promise<unknown>;

export interface StreamBatchFailure {
  readonly streamArn: string;
  readonly shardId: string;
  readonly records: readonly DynamoDBRecord[];
  /** The last attempt's error, or which records it reported as failed. */
  readonly error: string;
  readonly attempts: number;
}

export interface StreamPollerOptions {
  readonly local: Pick<LocalAws, 'clientConfig'>;
  readonly tableStreamArn: string;
  readonly handler: StreamHandler;
  /** @default 100 */
  readonly batchSize?: number;
  /** Pause between polls of an idle stream and between retries. @default 200 */
  readonly pollMs?: number;
  /** Retries of a failed batch before it is skipped; -1 retries until it succeeds, as in AWS. @default 3 */
  readonly maxRetries?: number;
  /** Where reading starts in shards that exist when the poller starts. @default 'TRIM_HORIZON' */
  readonly startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** Honour `{ batchItemFailures }` answers (FunctionResponseTypes: ReportBatchItemFailures). @default true */
  readonly reportBatchItemFailures?: boolean;
  /** FilterCriteria patterns; records that match none are dropped without invoking. @default none */
  readonly filterPatterns?: readonly unknown[];
  /** Called with a batch given up after `maxRetries`, like an on-failure destination. */
  readonly onFailure?: (failure: StreamBatchFailure) => void | Promise<void>;
  /** @default discard */
  readonly log?: (line: string) => void;
}

/** Emulates a Lambda event source mapping on a DynamoDB stream: in order per shard, with retries. */
export function startStreamPoller(options: StreamPollerOptions): StreamPoller {
  return new ShardPoller(options);
}

interface ShardState {
  readonly shardId: string;
  readonly parentShardId: string | undefined;
  /** undefined until the first read; null once the shard is closed. */
  iterator: string | null | undefined;
  /** Read but not yet delivered successfully, oldest first. */
  readonly pending: DynamoDBRecord[];
  /** Size of the batch being retried: a retry sends the same records. */
  retrying: number;
  attempts: number;
  readonly initialPosition: 'TRIM_HORIZON' | 'LATEST';
}

class ShardPoller extends PollingLoop implements StreamPoller {
  private readonly client: DynamoDBStreamsClient;
  private readonly shards = new Map<string, ShardState>();
  private readonly batchSize: number;
  private readonly maxRetries: number;
  private discovered = false;

  constructor(private readonly options: StreamPollerOptions) {
    super(options.tableStreamArn, options.pollMs ?? 200, options.log ?? (() => {}));
    this.client = new DynamoDBStreamsClient(options.local.clientConfig);
    this.batchSize = options.batchSize ?? 100;
    this.maxRetries = options.maxRetries ?? 3;
    this.start();
  }

  protected close(): void {
    this.client.destroy();
  }

  /** As Lambda does, wait longer after each failed attempt of a batch: a slow dependency gets time to recover. */
  protected override backoffMs(): number {
    const attempts = Math.max(0, ...[...this.shards.values()].map((shard) => shard.attempts));
    return Math.min(MAX_BACKOFF_MS, this.pollMs * 2 ** Math.max(0, attempts - 1));
  }

  /** One poll of every open shard: read what is new, deliver at most one batch per shard. */
  protected async pass(): Promise<PassResult> {
    if (!this.discovered || [...this.shards.values()].every((shard) => shard.iterator === null)) {
      await this.discoverShards();
    }
    let result: PassResult = 'idle';
    for (const shard of this.shards.values()) {
      if (this.isStopped) break;
      const parent = shard.parentShardId ? this.shards.get(shard.parentShardId) : undefined;
      if (parent && (parent.iterator !== null || parent.pending.length > 0)) continue;
      const shardResult = await this.pollShard(shard);
      // A shard waiting to retry sets the pace; otherwise keep going while any shard had work.
      if (shardResult === 'backoff' || (shardResult === 'busy' && result === 'idle')) result = shardResult;
    }
    return result;
  }

  private async discoverShards(): Promise<void> {
    const shards: Shard[] = [];
    let exclusiveStartShardId: string | undefined;
    do {
      const page = await this.client.send(
        new DescribeStreamCommand({
          StreamArn: this.options.tableStreamArn,
          ExclusiveStartShardId: exclusiveStartShardId,
        }),
      );
      shards.push(...(page.StreamDescription?.Shards ?? []));
      exclusiveStartShardId = page.StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId);
    for (const shard of shards) {
      if (!shard.ShardId || this.shards.has(shard.ShardId)) continue;
      this.shards.set(shard.ShardId, {
        shardId: shard.ShardId,
        parentShardId: shard.ParentShardId,
        iterator: undefined,
        pending: [],
        retrying: 0,
        attempts: 0,
        // Shards split off later are read from their start, so nothing written after startup is missed.
        initialPosition: this.discovered ? 'TRIM_HORIZON' : (this.options.startingPosition ?? 'TRIM_HORIZON'),
      });
    }
    this.discovered = true;
  }

  private async pollShard(shard: ShardState): Promise<PassResult> {
    let read = 0;
    if (shard.retrying === 0 && shard.pending.length < this.batchSize) {
      read = await this.read(shard);
    }
    if (shard.pending.length === 0) return read > 0 ? 'busy' : 'idle';
    const size = shard.retrying || Math.min(shard.pending.length, this.batchSize);
    const records = shard.pending.slice(0, size);
    const delivered = records.filter((record) => passesFilters(this.options.filterPatterns ?? [], record));
    if (delivered.length === 0) {
      shard.pending.splice(0, size);
      return 'busy';
    }
    const failure = await this.deliver(delivered);
    if (failure === undefined) {
      shard.pending.splice(0, size);
      shard.retrying = 0;
      shard.attempts = 0;
      return 'busy';
    }
    return this.afterFailure(shard, records, failure);
  }

  private async read(shard: ShardState): Promise<number> {
    if (shard.iterator === null) return 0;
    if (shard.iterator === undefined) {
      const started = await this.client.send(
        new GetShardIteratorCommand({
          StreamArn: this.options.tableStreamArn,
          ShardId: shard.shardId,
          ShardIteratorType: shard.initialPosition,
        }),
      );
      shard.iterator = started.ShardIterator ?? null;
    }
    const iterator = shard.iterator;
    if (iterator === null) return 0;
    const page = await this.client.send(
      new GetRecordsCommand({ ShardIterator: iterator, Limit: this.batchSize - shard.pending.length }),
    );
    shard.iterator = page.NextShardIterator ?? null;
    const records = (page.Records ?? []).map((record) => toLambdaRecord(record, this.options.tableStreamArn));
    shard.pending.push(...records);
    return records.length;
  }

  /** Invokes the handler; undefined when the whole batch succeeded, else what failed. */
  private async deliver(records: DynamoDBRecord[]): Promise<Failure | undefined> {
    this.deliveries++;
    let response: unknown;
    try {
      response = await this.options.handler({ Records: records });
    } catch (error) {
      return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
    if (this.options.reportBatchItemFailures === false) return undefined;
    const failed = batchItemFailures(response);
    if (failed === undefined || failed.length === 0) return undefined;
    // As Lambda does: the batch resumes at the earliest failed record; an unknown identifier fails it all.
    const positions = failed.map((id) => records.findIndex((record) => record.dynamodb?.SequenceNumber === id));
    const error = `batchItemFailures: ${failed.join(', ')}`;
    if (positions.some((position) => position < 0)) return { error };
    return { error, resumeAt: records[Math.min(...positions)]?.dynamodb?.SequenceNumber };
  }

  private async afterFailure(shard: ShardState, batch: DynamoDBRecord[], failure: Failure): Promise<PassResult> {
    const succeeded = failure.resumeAt
      ? Math.max(
          0,
          batch.findIndex((record) => record.dynamodb?.SequenceNumber === failure.resumeAt),
        )
      : 0;
    if (succeeded > 0) {
      shard.pending.splice(0, succeeded);
      shard.attempts = 0;
    }
    shard.retrying = batch.length - succeeded;
    shard.attempts++;
    const retriesLeft = this.maxRetries < 0 || shard.attempts <= this.maxRetries;
    this.log(
      `stream ${this.options.tableStreamArn} ${shard.shardId}: attempt ${shard.attempts} failed (${failure.error})` +
        (retriesLeft ? '; retrying' : '; giving up on the batch'),
    );
    if (retriesLeft) return 'backoff';
    const skipped = shard.pending.splice(0, shard.retrying);
    const attempts = shard.attempts;
    shard.retrying = 0;
    shard.attempts = 0;
    await this.options.onFailure?.({
      streamArn: this.options.tableStreamArn,
      shardId: shard.shardId,
      records: skipped,
      error: failure.error,
      attempts,
    });
    return 'busy';
  }
}

interface Failure {
  readonly error: string;
  /** Sequence number of the earliest failed record; the whole batch when absent. */
  readonly resumeAt?: string | undefined;
}

function batchItemFailures(response: unknown): string[] | undefined {
  if (typeof response !== 'object' || response === null) return undefined;
  const failures: unknown = Reflect.get(response, 'batchItemFailures');
  if (!Array.isArray(failures)) return undefined;
  return failures.map((failure: unknown) =>
    typeof failure === 'object' && failure !== null ? String(Reflect.get(failure, 'itemIdentifier') ?? '') : '',
  );
}

/** The SDK's record, in the JSON shape Lambda delivers (epoch-second times, base64 binaries). */
function toLambdaRecord(record: SdkRecord, streamArn: string): DynamoDBRecord {
  const stream = record.dynamodb ?? {};
  const time = stream.ApproximateCreationDateTime;
  return {
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: record.awsRegion,
    eventSourceARN: streamArn,
    dynamodb: {
      ...(time ? { ApproximateCreationDateTime: Math.floor(new Date(time).getTime() / 1000) } : {}),
      ...(stream.Keys ? { Keys: toLambdaImage(stream.Keys) } : {}),
      ...(stream.NewImage ? { NewImage: toLambdaImage(stream.NewImage) } : {}),
      ...(stream.OldImage ? { OldImage: toLambdaImage(stream.OldImage) } : {}),
      SequenceNumber: stream.SequenceNumber,
      SizeBytes: stream.SizeBytes,
      StreamViewType: stream.StreamViewType,
    },
    ...(record.userIdentity
      ? { userIdentity: { type: record.userIdentity.Type, principalId: record.userIdentity.PrincipalId } }
      : {}),
  };
}

function toLambdaImage(image: Record<string, SdkAttributeValue>): Record<string, AttributeValue> {
  return Object.fromEntries(Object.entries(image).map(([name, value]) => [name, toLambdaValue(value)]));
}

function toLambdaValue(value: SdkAttributeValue): AttributeValue {
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.B !== undefined) return { B: base64(value.B) };
  if (value.SS !== undefined) return { SS: value.SS };
  if (value.NS !== undefined) return { NS: value.NS };
  if (value.BS !== undefined) return { BS: value.BS.map(base64) };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  if (value.NULL !== undefined) return { NULL: value.NULL };
  if (value.L !== undefined) return { L: value.L.map(toLambdaValue) };
  if (value.M !== undefined) return { M: toLambdaImage(value.M) };
  throw new StreamPollerError(`unknown attribute value: ${JSON.stringify(value)}`);
}

// --- event source mappings from a deployment ----------------------------------------------------------------

export interface EventSourceMappings {
  readonly pollers: Readonly<Record<string, StreamPoller>>;
  /** Resolves once every mapping is drained and a full round delivered nothing new (handlers may write too). */
  drain(options?: { readonly timeoutMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs the deployment's DynamoDB stream and Kinesis stream event source mappings as pollers that invoke the
 * registered functions, with their batch size, retries, filters (DynamoDB), bisection and batching window
 * (Kinesis), partial batch responses and on-failure destination (SQS or SNS).
 */
export function startEventSourceMappings(
  local: LocalAws,
  deployment: Deployment,
  options: { readonly pollMs?: number; readonly log?: (line: string) => void } = {},
): EventSourceMappings {
  const log = options.log ?? (() => {});
  const sqs = new SQSClient(local.clientConfig);
  const sns = new SNSClient(local.clientConfig);
  const pollers: Record<string, StreamPoller> = {};
  for (const mapping of deployment.eventSourceMappings) {
    const destination = mapping.onFailureDestinationArn;
    if (mapping.enabled && /^arn:aws:kinesis:/.test(mapping.eventSourceArn)) {
      pollers[mapping.logicalId] = startKinesisMapping(local, deployment, mapping, options, { sqs, sns });
      continue;
    }
    if (!mapping.enabled || !/^arn:aws:dynamodb:.*\/stream\//.test(mapping.eventSourceArn)) {
      // An SQS mapping is LocalStack's own queue poller's.
      log(`event source ${mapping.logicalId} (${mapping.eventSourceArn}) is not run by the stream mappings`);
      continue;
    }
    pollers[mapping.logicalId] = startStreamPoller({
      local,
      tableStreamArn: mapping.eventSourceArn,
      handler: (event) => local.invoke(mapping.functionName, event),
      batchSize: mapping.batchSize,
      maxRetries: mapping.maximumRetryAttempts,
      startingPosition: mapping.startingPosition,
      reportBatchItemFailures: mapping.reportBatchItemFailures,
      filterPatterns: mapping.filterPatterns,
      ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
      log,
      onFailure: destination
        ? (failure) => sendToDestination(destination, failureRecord(failure, mapping.functionName), sqs, sns)
        : undefined,
    });
  }
  const all = Object.values(pollers);
  return {
    pollers,
    async drain(drainOptions = {}) {
      for (;;) {
        const before = all.reduce((sum, poller) => sum + poller.deliveries, 0);
        await Promise.all(all.map((poller) => poller.drain(drainOptions)));
        if (all.reduce((sum, poller) => sum + poller.deliveries, 0) === before) return;
      }
    },
    async stop() {
      await Promise.all(all.map((poller) => poller.stop()));
      sqs.destroy();
      sns.destroy();
    },
  };
}

function startKinesisMapping(
  local: LocalAws,
  deployment: Deployment,
  mapping: Deployment['eventSourceMappings'][number],
  options: { readonly pollMs?: number; readonly log?: (line: string) => void },
  clients: { readonly sqs: SQSClient; readonly sns: SNSClient },
): StreamPoller {
  if (mapping.filterPatterns.length > 0) {
    throw new StreamPollerError(`${mapping.logicalId}: FilterCriteria on a Kinesis mapping is not emulated locally`);
  }
  if (mapping.parallelizationFactor !== 1) {
    options.log?.(`${mapping.logicalId}: ParallelizationFactor ${mapping.parallelizationFactor} runs as 1 locally`);
  }
  const fn = Object.values(deployment.functions).find((f) => f.name === mapping.functionName);
  const destination = mapping.onFailureDestinationArn;
  options.log?.(
    `event source ${mapping.logicalId}: ${mapping.functionName} polls ${mapping.eventSourceArn}, batches of ` +
      `${mapping.batchSize} within ${mapping.maximumBatchingWindowInSeconds} s, ${mapping.maximumRetryAttempts} ` +
      `retries${mapping.bisectBatchOnFunctionError ? ', bisected on error' : ''}, on failure to ${destination ?? 'nowhere'}`,
  );
  return startKinesisPoller({
    local,
    streamArn: mapping.eventSourceArn,
    handler: (event) => local.invoke(mapping.functionName, event),
    batchSize: mapping.batchSize,
    batchWindowMs: mapping.maximumBatchingWindowInSeconds * 1000,
    maxRetries: mapping.maximumRetryAttempts,
    bisectOnError: mapping.bisectBatchOnFunctionError,
    reportBatchItemFailures: mapping.reportBatchItemFailures,
    startingPosition: mapping.startingPosition,
    ...(fn?.roleArn ? { invokeIdentityArn: fn.roleArn } : {}),
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
    ...(options.log ? { log: options.log } : {}),
    onFailure: destination
      ? (failure) =>
          sendToDestination(
            destination,
            kinesisFailureRecord(failure, fn?.arn ?? mapping.functionName),
            clients.sqs,
            clients.sns,
          )
      : undefined,
  });
}

/** The message an on-failure destination receives for a DynamoDB stream batch that ran out of retries. */
function failureRecord(failure: StreamBatchFailure, functionName: string): unknown {
  const end = (record: (typeof failure.records)[number] | undefined) => ({
    sequenceNumber: record?.dynamodb?.SequenceNumber,
    arrivalSeconds: record?.dynamodb?.ApproximateCreationDateTime,
  });
  return batchFailureMessage(failure, functionName, 'DDBStreamBatchInfo', {
    size: failure.records.length,
    first: end(failure.records[0]),
    last: end(failure.records[failure.records.length - 1]),
  });
}

async function sendToDestination(arn: string, message: unknown, sqs: SQSClient, sns: SNSClient): Promise<void> {
  const body = JSON.stringify(message);
  if (arn.startsWith('arn:aws:sns:')) {
    await sns.send(new PublishCommand({ TopicArn: arn, Message: body }));
    return;
  }
  const [, , , , accountId, queueName] = arn.split(':');
  const { QueueUrl } = await sqs.send(
    new GetQueueUrlCommand({ QueueName: queueName, QueueOwnerAWSAccountId: accountId }),
  );
  await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
}
