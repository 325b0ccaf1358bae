import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import * as z from 'zod';
import { type BudgetItem, StoredBudgetItemSchema } from '../../shared/budgets/items';

/**
 * A Budgets stream record as Lambda delivers it, checked against the shape of a DynamoDB stream record (the same
 * fields as the Powertools parser's DynamoDBStreamRecord schema, written here: that module imports zod's `z`
 * namespace object, which bundles all of zod's locales, about 370 KB of this function) and the Budgets item schemas.
 * Images are unmarshalled here, with wrapNumbers: unmarshalling to JS numbers would round spend beyond 15 digits.
 * Records are parsed one by one, so one bad record is reported without failing the batch.
 */
const image = z.record(z.string(), z.any()).transform((raw, ctx) => {
  try {
    return unmarshall(raw as Record<string, AttributeValue>, { wrapNumbers: true });
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `could not unmarshall the image: ${(error as Error).message}` });
    return z.NEVER;
  }
});

export const BudgetsStreamRecordSchema = z.object({
  eventID: z.string(),
  eventName: z.enum(['INSERT', 'MODIFY', 'REMOVE']),
  eventVersion: z.string(),
  eventSource: z.literal('aws:dynamodb'),
  awsRegion: z.string(),
  eventSourceARN: z.string(),
  userIdentity: z.object({ type: z.enum(['Service']), principalId: z.literal('dynamodb.amazonaws.com') }).optional(),
  dynamodb: z.object({
    ApproximateCreationDateTime: z.number().optional(),
    Keys: z.record(z.string(), z.record(z.string(), z.any())),
    SequenceNumber: z.string(),
    SizeBytes: z.number(),
    StreamViewType: z.enum(['NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES', 'KEYS_ONLY']),
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
