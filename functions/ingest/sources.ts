import { MAX_EVENT_BYTES } from '../../shared/events/limits';
import {
  decodeLogsSubscription,
  EnvelopeError,
  expandDocument,
  PayloadError,
  type RawRecord,
  type TrustedSources,
} from '../../shared/events/parse';
import type { Rejection } from './ingest';

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Turns whatever invoked ingest into records: an SQS batch of EventBridge events (CloudTrail route), a CloudWatch
 * Logs subscription payload (invocation log route), a Kinesis batch of subscription deliveries (an organization's
 * invocation logs, through the central Logs destination), or one EventBridge event delivered directly. The route is what
 * invoked ingest, never what a message says of itself: an SQS message carries one EventBridge event, so a Logs
 * payload put in one is not unpacked (parsing rejects it as off its route). A delivery whose envelope is not from
 * `trusted` is rejected whole, with its reason.
 */
export function recordsOf(event: unknown, trusted?: TrustedSources): { records: RawRecord[]; rejected: Rejection[] } {
  const records: RawRecord[] = [];
  const rejected: Rejection[] = [];
  if (isObject(event) && Array.isArray(event.Records)) {
    for (const message of event.Records) {
      if (isObject(message) && message.eventSource === 'aws:kinesis') {
        const kinesis = isObject(message.kinesis) ? message.kinesis : {};
        const id = typeof kinesis.sequenceNumber === 'string' ? kinesis.sequenceNumber : 'unknown';
        const data = typeof kinesis.data === 'string' ? kinesis.data : '';
        // A Logs destination puts each subscription delivery as one record, gzip JSON as `awslogs.data` holds it.
        expandInto(records, rejected, id, message, () => decodeLogsSubscription(data, trusted));
        continue;
      }
      const id = isObject(message) && typeof message.messageId === 'string' ? message.messageId : 'unknown';
      const body = isObject(message) ? message.body : undefined;
      if (typeof body !== 'string') {
        rejected.push({ id, error: 'SQS record has no body', kind: 'unreadable-payload', body: message });
        continue;
      }
      const bytes = Buffer.byteLength(body, 'utf8');
      if (bytes > MAX_EVENT_BYTES) {
        const error = `SQS message body is ${bytes} bytes; EventBridge events are at most ${MAX_EVENT_BYTES}`;
        rejected.push({ id, error, kind: 'over-limit', body: `${body.slice(0, 1000)}…(truncated)` });
        continue;
      }
      try {
        records.push({ id, body: JSON.parse(body), route: 'eventbridge' });
      } catch {
        rejected.push({ id, error: 'SQS message body is not JSON', kind: 'not-json', body });
      }
    }
    return { records, rejected };
  }
  const id = isObject(event) && typeof event.id === 'string' ? event.id : 'event';
  expandInto(records, rejected, id, event, () => expandDocument(event, id, trusted));
  return { records, rejected };
}

/** The records a delivery holds, or its rejection whole: an envelope not from `trusted`, or a payload not read. */
function expandInto(
  records: RawRecord[],
  rejected: Rejection[],
  id: string,
  delivery: unknown,
  expand: () => RawRecord[],
): void {
  try {
    records.push(...expand());
  } catch (error) {
    if (error instanceof EnvelopeError) {
      rejected.push({ id, error: error.message, kind: 'untrusted-envelope', body: error.payload });
    } else if (error instanceof PayloadError) {
      rejected.push({ id, error: error.message, kind: 'unreadable-payload', body: delivery });
    } else throw error;
  }
}
