import { DynamoDBStreamChangeRecordBase, DynamoDBStreamRecord } from '@aws-lambda-powertools/parser/schemas/dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { z } from 'zod';
import { type BudgetItem, StoredBudgetItemSchema } from '../../shared/budgets/items';

/**
 * A Budgets stream record as Lambda delivers it, checked with the Powertools parser's DynamoDB stream record schema
 * and the Budgets item schemas. Images are unmarshalled here, with wrapNumbers: Powertools' own unmarshalling (its
 * DynamoDBStreamEnvelope and DynamoDBMarshalled helper) turns numbers into JS numbers, which would round spend
 * beyond 15 digits. Records are parsed one by one, so one bad record is reported without failing the batch (the
 * envelope's safeParse returns nothing when any record fails).
 */
const image = z.record(z.string(), z.any()).transform((raw, ctx) => {
  try {
    return unmarshall(raw as Record<string, AttributeValue>, { wrapNumbers: true });
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `could not unmarshall the image: ${(error as Error).message}` });
    return z.NEVER;
  }
});

export const BudgetsStreamRecordSchema = DynamoDBStreamRecord.extend({
  dynamodb: DynamoDBStreamChangeRecordBase.extend({
    // The item as it is now is judged: it must be a valid item of its kind. The image before only tells what
    // changed, so it is read as it is.
    NewImage: image.pipe(StoredBudgetItemSchema).optional(),
    OldImage: image.optional(),
  }),
});

export type BudgetsStreamRecord = z.infer<typeof BudgetsStreamRecordSchema>;

export type ParsedRecord =
  | {
      readonly ok: true;
      readonly record: BudgetsStreamRecord;
      readonly newImage?: BudgetItem;
      readonly oldImage?: Record<string, unknown>;
    }
  | {
      readonly ok: false;
      /** What identifies the record in the stream, as far as it could be read. */
      readonly eventID?: string;
      readonly sequenceNumber?: string;
      readonly keys?: unknown;
      readonly error: string;
    };

export function parseStreamRecord(raw: unknown): ParsedRecord {
  const parsed = BudgetsStreamRecordSchema.safeParse(raw);
  if (parsed.success) {
    const { NewImage, OldImage } = parsed.data.dynamodb;
    return {
      ok: true,
      record: parsed.data,
      ...(NewImage ? { newImage: NewImage } : {}),
      ...(OldImage ? { oldImage: OldImage } : {}),
    };
  }
  const record = (raw ?? {}) as { eventID?: unknown; dynamodb?: { SequenceNumber?: unknown; Keys?: unknown } };
  return {
    ok: false,
    ...(typeof record.eventID === 'string' ? { eventID: record.eventID } : {}),
    ...(typeof record.dynamodb?.SequenceNumber === 'string' ? { sequenceNumber: record.dynamodb.SequenceNumber } : {}),
    ...(record.dynamodb?.Keys === undefined ? {} : { keys: record.dynamodb.Keys }),
    error: z.prettifyError(parsed.error),
  };
}
