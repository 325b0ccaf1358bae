import { expandDocument, PayloadError, type RawRecord } from '../../shared/events/parse';
import type { Rejection } from './ingest';

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Turns whatever invoked ingest into records: an SQS batch of EventBridge events (CloudTrail route), a CloudWatch
 * Logs subscription payload (invocation log route), or one EventBridge event delivered directly.
 */
export function recordsOf(event: unknown): { records: RawRecord[]; rejected: Rejection[] } {
  const records: RawRecord[] = [];
  const rejected: Rejection[] = [];
  const expand = (body: unknown, id: string) => {
    try {
      records.push(...expandDocument(body, id));
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      rejected.push({ id, error: error.message, kind: 'unreadable-payload', body });
    }
  };
  if (isObject(event) && Array.isArray(event.Records)) {
    for (const message of event.Records) {
      const id = isObject(message) && typeof message.messageId === 'string' ? message.messageId : 'unknown';
      const body = isObject(message) ? message.body : undefined;
      if (typeof body !== 'string') {
        rejected.push({ id, error: 'SQS record has no body', kind: 'unreadable-payload', body: message });
        continue;
      }
      let document: unknown;
      try {
        document = JSON.parse(body);
      } catch {
        rejected.push({ id, error: 'SQS message body is not JSON', kind: 'not-json', body });
        continue;
      }
      expand(document, id);
    }
  } else {
    expand(event, isObject(event) && typeof event.id === 'string' ? event.id : 'event');
  }
  return { records, rejected };
}
