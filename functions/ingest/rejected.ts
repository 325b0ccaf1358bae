import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Rejection } from './ingest';

/** SQS caps a message at 256 KiB; a rejected record is kept whole up to well below that. */
const MAX_REJECTED_BODY = 200_000;

/** How deep a rejected record is kept when it is nested deeper than JSON.stringify can recurse. */
const KEPT_DEPTH = 32;

/** A value with what lies below `depth` levels replaced by a note (a walk that depth bounds, so it cannot overflow). */
function pruned(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth === 0) return '…(nested too deeply: not kept)';
  if (Array.isArray(value)) return value.map((item) => pruned(item, depth - 1));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, pruned(item, depth - 1)]));
}

/** A rejected record as text; one nested too deeply to serialise is kept to KEPT_DEPTH levels, so its fields stay. */
function serialised(body: unknown): string {
  try {
    return JSON.stringify(body) ?? 'undefined';
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return JSON.stringify(pruned(body, KEPT_DEPTH));
  }
}

/**
 * Keeps rejected records in the rejected-records queue, ten a message batch, each with its id, reason, kind and
 * body. Nothing is lost on a fault: a rejection that cannot be kept fails the call, so the whole batch is delivered
 * again.
 */
export async function deadLetter(sqs: SQSClient, queueUrl: string, rejections: readonly Rejection[]): Promise<void> {
  for (let i = 0; i < rejections.length; i += 10) {
    const entries = rejections.slice(i, i + 10).map((rejection, index) => {
      const body = serialised(rejection.body);
      return {
        Id: String(index),
        MessageBody: JSON.stringify({
          recordId: rejection.id,
          error: rejection.error,
          kind: rejection.kind,
          body: body.length > MAX_REJECTED_BODY ? `${body.slice(0, MAX_REJECTED_BODY)}…(truncated)` : body,
        }),
      };
    });
    const sent = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    if (sent.Failed?.length) throw new Error(`could not dead-letter ${sent.Failed.length} rejected records`);
  }
}
