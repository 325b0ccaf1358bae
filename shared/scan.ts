import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';

/** Every item a Scan returns, page after page (`LastEvaluatedKey` followed until there is none). */
export async function* scanItems(
  documents: DynamoDBDocumentClient,
  input: Omit<ScanCommandInput, 'ExclusiveStartKey'>,
): AsyncGenerator<Record<string, unknown>> {
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await documents.send(new ScanCommand({ ...input, ExclusiveStartKey }));
    for (const item of page?.Items ?? []) yield item;
    ExclusiveStartKey = page?.LastEvaluatedKey;
  } while (ExclusiveStartKey);
}

/** Every item a Query returns, page after page, as `scanItems` does for a Scan. */
export async function* queryItems(
  documents: DynamoDBDocumentClient,
  input: Omit<QueryCommandInput, 'ExclusiveStartKey'>,
): AsyncGenerator<Record<string, unknown>> {
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await documents.send(new QueryCommand({ ...input, ExclusiveStartKey }));
    for (const item of page?.Items ?? []) yield item;
    ExclusiveStartKey = page?.LastEvaluatedKey;
  } while (ExclusiveStartKey);
}

/** BatchGetItem reads at most this many keys at once. */
export const BATCH_GET_KEYS = 100;

/**
 * Items by key, consistently, BATCH_GET_KEYS keys a request; keys DynamoDB left unprocessed are asked again, backing
 * off.
 */
export async function batchGetItems(
  documents: DynamoDBDocumentClient,
  table: string,
  keys: Record<string, unknown>[],
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for (let start = 0; start < keys.length; start += BATCH_GET_KEYS) {
    items.push(...(await batchGetChunk(documents, table, keys.slice(start, start + BATCH_GET_KEYS))));
  }
  return items;
}

async function batchGetChunk(
  documents: DynamoDBDocumentClient,
  table: string,
  keys: Record<string, unknown>[],
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let left = keys;
  for (let attempt = 0; left.length > 0; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
    const { Responses, UnprocessedKeys } = await documents.send(
      new BatchGetCommand({ RequestItems: { [table]: { Keys: left, ConsistentRead: true } } }),
    );
    items.push(...(Responses?.[table] ?? []));
    left = UnprocessedKeys?.[table]?.Keys ?? [];
  }
  return items;
}
