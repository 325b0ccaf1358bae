import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { decimalOf } from '../budgets/items';
import { bucketRange, bucketStartOfKey, HOUR_BUCKETS } from './buckets';
import { type Bucket, fallsBackAt, type RateRule } from './rules';

type Item = Record<string, unknown>;

/** A principal's buckets in the `count` buckets ending with the one holding `end`: one consistent Query. */
export async function readBuckets(
  documents: DynamoDBDocumentClient,
  table: string,
  principal: string,
  end: Date,
  count: number,
): Promise<Bucket[]> {
  const { from, to } = bucketRange(end, count);
  const buckets: Bucket[] = [];
  let ExclusiveStartKey: Item | undefined;
  do {
    const page = await documents.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: '#principal = :principal AND #period BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#principal': 'principal', '#period': 'period', '#spend': 'spendUsd' },
        ExpressionAttributeValues: { ':principal': principal, ':from': from, ':to': to },
        ProjectionExpression: '#period, #spend',
        ConsistentRead: true,
        ExclusiveStartKey,
      }),
    );
    for (const item of page.Items ?? []) {
      const start = bucketStartOfKey(String(item.period));
      if (start) buckets.push({ start, spendUsd: decimalOf(item.spendUsd) });
    }
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return buckets;
}

/**
 * When a principal suspended for its rate may spend again: when its rolling hour (measured to `now`, from its
 * buckets) falls back to its rule's rate, `now` if it has, or if it has no rule any more (an admin removed it).
 */
export async function rateFallsBackAt(
  documents: DynamoDBDocumentClient,
  table: string,
  principal: string,
  rule: RateRule | undefined,
  now: Date,
): Promise<Date> {
  if (!rule) return now;
  return fallsBackAt(await readBuckets(documents, table, principal, now, HOUR_BUCKETS), rule, now);
}
