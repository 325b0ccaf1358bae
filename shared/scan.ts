import { type DynamoDBDocumentClient, ScanCommand, type ScanCommandInput } from '@aws-sdk/lib-dynamodb';

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
