export class StreamPollerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StreamPollerError';
  }
}

/** A running stream event source mapping. */
export interface StreamPoller {
  /** Resolves once a poll that began after this call found nothing left to deliver, retries included. */
  drain(options?: { readonly timeoutMs?: number }): Promise<void>;
  stop(): Promise<void>;
  /** Batches delivered so far (each attempt counts). */
  readonly deliveries: number;
}

/** What one pass over a stream's shards found: nothing to do, work done (go on at once), or a wait before a retry. */
export type PassResult = 'idle' | 'busy' | 'backoff';

interface DrainWaiter {
  readonly afterPass: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/**
 * The loop of a stream event source mapping (DynamoDB Streams in ./streams, Kinesis in ./kinesis): passes over the
 * shards until stopped, pausing when idle or backing off, and `drain` for whoever waits until everything read so far
 * was delivered. Subclasses give `pass` and call `start` at the end of their constructor.
 */
export abstract class PollingLoop {
  /** Invocations so far (each attempt counts). */
  deliveries = 0;
  private readonly waiters = new Set<DrainWaiter>();
  private passesStarted = 0;
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();

  protected constructor(
    /** The stream's ARN, for messages. */
    private readonly source: string,
    protected readonly pollMs: number,
    protected readonly log: (line: string) => void,
  ) {}

  protected start(): void {
    this.loop = this.run();
  }

  /** One poll of every shard. */
  protected abstract pass(): Promise<PassResult>;

  /** Releases the subclass's clients once the loop has ended. */
  protected abstract close(): void;

  /** How long to wait after a 'backoff' pass. */
  protected backoffMs(): number {
    return this.pollMs;
  }

  /** Somebody waits for a drain: batches waiting to fill up should go now. */
  protected get draining(): boolean {
    return this.waiters.size > 0;
  }

  protected get isStopped(): boolean {
    return this.stopped;
  }

  /** Resolves once a poll that began after this call found nothing left to deliver, retries included. */
  drain(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    if (this.stopped) return Promise.reject(new StreamPollerError('the stream poller is stopped'));
    const timeoutMs = options.timeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new StreamPollerError(`${this.source} not drained within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: DrainWaiter = {
        afterPass: this.passesStarted,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.add(waiter);
      this.wake?.();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    this.close();
    this.settleWaiters(() => true, new StreamPollerError('the stream poller stopped before draining'));
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const pass = ++this.passesStarted;
      let result: PassResult;
      try {
        result = await this.pass();
      } catch (error) {
        this.log(`stream ${this.source}: ${String(error)}`);
        this.settleWaiters(
          () => true,
          new StreamPollerError(`cannot read ${this.source}: ${(error as Error).message}`, { cause: error }),
        );
        result = 'backoff';
      }
      if (result === 'idle') this.settleWaiters((waiter) => waiter.afterPass < pass);
      if (result !== 'busy') await this.sleep(result === 'backoff' ? this.backoffMs() : this.pollMs);
    }
  }

  private settleWaiters(which: (waiter: DrainWaiter) => boolean, error?: Error): void {
    for (const waiter of [...this.waiters]) {
      if (!which(waiter)) continue;
      this.waiters.delete(waiter);
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      // Unreferenced: a poller somebody forgot to stop does not keep the process alive.
      const timer = setTimeout(done, ms).unref();
      this.wake = done;
    });
  }
}

/** A batch's first or last record, as a stream's on-failure message describes it. */
interface BatchEnd {
  readonly sequenceNumber?: string;
  /** When the record reached the stream, epoch seconds. */
  readonly arrivalSeconds?: number;
}

/**
 * The message an on-failure destination receives for a stream batch that ran out of retries, as Lambda sends it:
 * the invocation's context, and under `infoKey` (`DDBStreamBatchInfo`, `KinesisBatchInfo`) where the batch was.
 */
export function batchFailureMessage(
  failure: { readonly attempts: number; readonly error: string; readonly shardId: string; readonly streamArn: string },
  functionArn: string,
  infoKey: 'DDBStreamBatchInfo' | 'KinesisBatchInfo',
  batch: { readonly size: number; readonly first?: BatchEnd; readonly last?: BatchEnd },
): unknown {
  const arrival = (end: BatchEnd | undefined) =>
    end?.arrivalSeconds === undefined ? undefined : new Date(end.arrivalSeconds * 1000).toISOString();
  return {
    requestContext: {
      requestId: crypto.randomUUID(),
      functionArn,
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: failure.attempts,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: failure.error },
    version: '1.0',
    timestamp: new Date().toISOString(),
    [infoKey]: {
      shardId: failure.shardId,
      startSequenceNumber: batch.first?.sequenceNumber,
      endSequenceNumber: batch.last?.sequenceNumber,
      approximateArrivalOfFirstRecord: arrival(batch.first),
      approximateArrivalOfLastRecord: arrival(batch.last),
      batchSize: batch.size,
      streamArn: failure.streamArn,
    },
  };
}
