import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AuditLog } from '../audit/log';
import { decimalOf } from '../budgets';
import { usd } from '../money';
import { scanItems } from '../scan';
import { type AuditedEvent, type ChargedCall, isMarked } from './report';

/**
 * The calls charged in [start, end) as the Usage table holds them. It scans the table: meant for a person's report
 * or a once-a-day digest, not a loop.
 */
export async function chargedCalls(
  documents: DynamoDBDocumentClient,
  table: string,
  start: Date,
  end: Date,
): Promise<ChargedCall[]> {
  const calls: ChargedCall[] = [];
  for await (const item of scanItems(documents, {
    TableName: table,
    ProjectionExpression: 'principal, callTime, costUsd, model',
    FilterExpression: 'attribute_exists(costUsd) AND callTime >= :start AND callTime < :end',
    ExpressionAttributeValues: { ':start': start.toISOString(), ':end': end.toISOString() },
  })) {
    calls.push({
      at: String(item.callTime),
      principal: String(item.principal),
      model: String(item.model),
      costUsd: usd(decimalOf(item.costUsd)),
    });
  }
  return calls;
}

/** The audited events of [since, until] (inclusive) that mark a principal's chart: alerts, suspensions, lifts, ... */
export async function markedEvents(audit: AuditLog, since: Date, until: Date): Promise<AuditedEvent[]> {
  const events: AuditedEvent[] = [];
  for await (const entry of audit.query({ since, until })) {
    if (isMarked(entry.action)) {
      events.push({ at: entry.at, subject: entry.subject, action: entry.action, details: entry.details });
    }
  }
  return events;
}
