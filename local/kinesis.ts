import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  type _Record as SdkRecord,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { LocalAws } from './aws';
import { Http1Handler } from './http1';
import { batchFailureMessage, type PassResult, PollingLoop, type StreamPoller } from './polling';

/** A Kinesis client on the local AWS (over HTTP/1.1: the SDK's default Kinesis handler speaks HTTP/2). */
export function localKinesisClient(clientConfig: LocalAws['clientConfig']): KinesisClient {
  return new KinesisClient({ ...clientConfig, requestHandler: new Http1Handler() });
}

/** The longest pause between retries of a failed batch. */
const MAX_BACKOFF_MS = 5_000;

export interface KinesisBatchFailure {
  readonly streamArn: string;
  readonly shardId: string;
  readonly records: readonly KinesisStreamRecord[];
  /** The last attempt's error, or which records it reported as failed. */
  readonly error: string;
  /** Invocations of the function with (part of) these records. */
  readonly attempts: number;
}

export interface KinesisPollerOptions {
  readonly local: Pick<LocalAws, 'clientConfig' | 'region'>;
  readonly streamArn: string;
  readonly handler: (event: KinesisStreamEvent) => Promise<unknown>;
  /** @default 100 */
  readonly batchSize?: number;
  /** MaximumBatchingWindowInSeconds, in ms: how long a batch short of the batch size may wait to fill. @default 0 */
  readonly batchWindowMs?: number;
  /** Pause between polls of an idle stream. @default 200 */
  readonly pollMs?: number;
  /** MaximumRetryAttempts: -1 retries until the records expire, as in AWS. @default -1 */
  readonly maxRetries?: number;
  /** BisectBatchOnFunctionError: a batch whose invocation threw is split in two and each half retried. */
  readonly bisectOnError?: boolean;
  /** Honour `{ batchItemFailures }` answers (FunctionResponseTypes: ReportBatchItemFailures). @default false */
  readonly reportBatchItemFailures?: boolean;
  /** @default 'TRIM_HORIZON' */
  readonly startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** The function's execution role, which Lambda names in every record (`invokeIdentityArn`). */
  readonly invokeIdentityArn?: string;
  /** A batch given up after its retries, as the on-failure destination receives it. */
  readonly onFailure?: (failure: KinesisBatchFailure) => void | Promise<void>;
  /** @default discard */
  readonly log?: (line: string) => void;
}

/** A batch on its way: its records and how many times it was tried (a bisected half starts again at 0). */
interface Batch {
  readonly records: KinesisStreamRecord[];
  attempts: number;
}

interface Shard {
  readonly shardId: string;
  /** undefined until the first read; null once the shard is closed and read to its end. */
  iterator: string | null | undefined;
  /** Read, not yet in a batch. */
  readonly pending: KinesisStreamRecord[];
  /** Batches to deliver, in order, before anything else of the shard: the one being retried and bisected halves. */
  readonly batches: Batch[];
  /** When the batch gathering in `pending` must go, whether full or not (the batching window, from its first record). */
  windowEnds: number;
  /** No invocation before this (backoff after a failure). */
  retryAt: number;
}

/**
 * Emulates a Lambda event source mapping on a Kinesis data stream as AWS runs one: every shard in order and one
 * batch at a time per shard (parallelization factor 1), shards concurrently; a batch is sent when it holds the batch
 * size or its batching window has passed; a failed batch is retried (bisected first when asked; partial batch
 * responses resume at the earliest failed sequence number) until MaximumRetryAttempts, then handed to `onFailure`
 * and skipped, so the shard goes on.
 */
export function startKinesisPoller(options: KinesisPollerOptions): StreamPoller {
  return new KinesisShardPoller(options);
}

class KinesisShardPoller extends PollingLoop implements StreamPoller {
  private readonly client: KinesisClient;
  private readonly shards = new Map<string, Shard>();
  private readonly batchSize: number;
  private readonly maxRetries: number;
  private discovered = false;

  constructor(private readonly options: KinesisPollerOptions) {
    super(options.streamArn, options.pollMs ?? 200, options.log ?? (() => {}));
    this.client = localKinesisClient(options.local.clientConfig);
    this.batchSize = options.batchSize ?? 100;
    this.maxRetries = options.maxRetries ?? -1;
    this.start();
  }

  protected close(): void {
    this.client.destroy();
  }

  /**
   * One poll of every shard, concurrently as Lambda's pollers do: busy when any shard delivered or read, waiting
   * ('backoff') while records wait for their batching window or a retry, idle when nothing is left.
   */
  protected async pass(): Promise<PassResult> {
    if (!this.discovered || [...this.shards.values()].every((shard) => shard.iterator === null)) {
      await this.discoverShards();
    }
    // Every shard's poll is let finish before a failure is reported: the next pass must not find a shard still
    // delivering (it would deliver its batch again, and drop the one after).
    const settled = await Promise.allSettled([...this.shards.values()].map((shard) => this.pollShard(shard)));
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    if (settled.some((result) => result.status === 'fulfilled' && result.value)) return 'busy';
    const waiting = [...this.shards.values()].some((shard) => shard.pending.length > 0 || shard.batches.length > 0);
    return waiting ? 'backoff' : 'idle';
  }

  private async discoverShards(): Promise<void> {
    let NextToken: string | undefined;
    do {
      const page = await this.client.send(
        NextToken ? new ListShardsCommand({ NextToken }) : new ListShardsCommand({ StreamARN: this.options.streamArn }),
      );
      for (const shard of page.Shards ?? []) {
        if (!shard.ShardId || this.shards.has(shard.ShardId)) continue;
        this.shards.set(shard.ShardId, {
          shardId: shard.ShardId,
          iterator: undefined,
          pending: [],
          batches: [],
          windowEnds: Number.POSITIVE_INFINITY,
          retryAt: 0,
        });
      }
      NextToken = page.NextToken;
    } while (NextToken);
    this.discovered = true;
  }

  private async pollShard(shard: Shard): Promise<boolean> {
    const retrying = shard.batches[0];
    if (retrying) {
      if (Date.now() < shard.retryAt) return false;
      await this.deliver(shard, retrying);
      return true;
    }
    const read = await this.read(shard);
    const batch = this.gathered(shard);
    if (!batch) return read > 0;
    shard.batches.push(batch);
    await this.deliver(shard, batch);
    return true;
  }

  /** The batch `pending` makes now, if it is full, its window has passed, or somebody waits for a drain. */
  private gathered(shard: Shard): Batch | undefined {
    if (shard.pending.length === 0) return undefined;
    const full = shard.pending.length >= this.batchSize;
    if (!full && Date.now() < shard.windowEnds && !this.draining) return undefined;
    shard.windowEnds = Number.POSITIVE_INFINITY;
    const records = shard.pending.splice(0, this.batchSize);
    if (shard.pending.length > 0) shard.windowEnds = Date.now() + (this.options.batchWindowMs ?? 0);
    return { records, attempts: 0 };
  }

  private async read(shard: Shard): Promise<number> {
    if (shard.iterator === null || shard.pending.length >= this.batchSize) return 0;
    if (shard.iterator === undefined) {
      const started = await this.client.send(
        new GetShardIteratorCommand({
          StreamARN: this.options.streamArn,
          ShardId: shard.shardId,
          ShardIteratorType: this.options.startingPosition ?? 'TRIM_HORIZON',
        }),
      );
      shard.iterator = started.ShardIterator ?? null;
    }
    if (shard.iterator === null) return 0;
    // The stream's ARN too, which AWS takes and moto needs (its iterators of a stream named by ARN omit the name).
    const page = await this.client.send(
      new GetRecordsCommand({
        StreamARN: this.options.streamArn,
        ShardIterator: shard.iterator,
        Limit: this.batchSize - shard.pending.length,
      }),
    );
    shard.iterator = page.NextShardIterator ?? null;
    const records = (page.Records ?? []).map((record) => this.lambdaRecord(record, shard.shardId));
    if (records.length > 0 && shard.pending.length === 0) {
      shard.windowEnds = Date.now() + (this.options.batchWindowMs ?? 0);
    }
    shard.pending.push(...records);
    return records.length;
  }

  /** Invokes the function with `batch` (the first of the shard's batches) and settles what comes of it. */
  private async deliver(shard: Shard, batch: Batch): Promise<void> {
    this.deliveries++;
    batch.attempts++;
    let response: unknown;
    try {
      response = await this.options.handler({ Records: batch.records });
    } catch (error) {
      // The function's own error type (the local Lambda's invocation error carries it), as Lambda reports it.
      const type = error instanceof Error ? ((error as { errorType?: string }).errorType ?? error.name) : '';
      const message = error instanceof Error ? `${type}: ${error.message}` : String(error);
      if (this.options.bisectOnError && batch.records.length > 1) {
        // Each half starts with its retries unused: a bad record is isolated first, then retried alone
        // MaximumRetryAttempts times (AWS does not document how splits count; this reading gives up on the fewest
        // good records).
        const half = Math.ceil(batch.records.length / 2);
        shard.batches.splice(
          0,
          1,
          { records: batch.records.slice(0, half), attempts: 0 },
          { records: batch.records.slice(half), attempts: 0 },
        );
        this.log(`kinesis ${shard.shardId}: batch of ${batch.records.length} failed (${message}); bisected`);
        return;
      }
      return this.failed(shard, batch, message);
    }
    const failed = this.options.reportBatchItemFailures ? batchItemFailures(response) : [];
    if (failed.length === 0) {
      shard.batches.shift();
      return;
    }
    // As Lambda does: the batch resumes at the earliest failed record; an unknown identifier fails it all.
    const positions = failed.map((id) => batch.records.findIndex((r) => r.kinesis.sequenceNumber === id));
    const resumeAt = positions.some((position) => position < 0) ? 0 : Math.min(...positions);
    batch.records.splice(0, resumeAt);
    return this.failed(shard, batch, `batchItemFailures: ${failed.join(', ')}`);
  }

  private async failed(shard: Shard, batch: Batch, error: string): Promise<void> {
    const retriesLeft = this.maxRetries < 0 || batch.attempts <= this.maxRetries;
    this.log(
      `kinesis ${shard.shardId}: attempt ${batch.attempts} of a batch of ${batch.records.length} failed (${error})` +
        (retriesLeft ? '; retrying' : '; giving up on the batch'),
    );
    if (retriesLeft) {
      shard.retryAt = Date.now() + Math.min(MAX_BACKOFF_MS, this.pollMs * 2 ** Math.max(0, batch.attempts - 1));
      return;
    }
    shard.batches.shift();
    await this.options.onFailure?.({
      streamArn: this.options.streamArn,
      shardId: shard.shardId,
      records: batch.records,
      error,
      attempts: batch.attempts,
    });
  }

  /** The SDK's record, in the JSON shape Lambda delivers (base64 data, epoch-second arrival). */
  private lambdaRecord(record: SdkRecord, shardId: string): KinesisStreamRecord {
    const sequenceNumber = record.SequenceNumber ?? '';
    return {
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: record.PartitionKey ?? '',
        sequenceNumber,
        data: Buffer.from(record.Data ?? new Uint8Array()).toString('base64'),
        approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp ?? new Date()).getTime() / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${shardId}:${sequenceNumber}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: this.options.invokeIdentityArn ?? '',
      awsRegion: this.options.local.region,
      eventSourceARN: this.options.streamArn,
    };
  }
}

function batchItemFailures(response: unknown): string[] {
  if (typeof response !== 'object' || response === null) return [];
  const failures: unknown = Reflect.get(response, 'batchItemFailures');
  if (!Array.isArray(failures)) return [];
  return failures.map((failure: unknown) =>
    typeof failure === 'object' && failure !== null ? String(Reflect.get(failure, 'itemIdentifier') ?? '') : '',
  );
}

/** The message an on-failure destination receives for a Kinesis batch that ran out of retries. */
export function kinesisFailureRecord(failure: KinesisBatchFailure, functionArn: string): unknown {
  const end = (record: (typeof failure.records)[number] | undefined) => ({
    sequenceNumber: record?.kinesis.sequenceNumber,
    arrivalSeconds: record?.kinesis.approximateArrivalTimestamp,
  });
  return batchFailureMessage(failure, functionArn, 'KinesisBatchInfo', {
    size: failure.records.length,
    first: end(failure.records[0]),
    last: end(failure.records[failure.records.length - 1]),
  });
}
