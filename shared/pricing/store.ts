import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { scanItems } from '../scan';
import { PriceBook, type PriceVersion, priceVersionSchema, versionKey } from './versions';

/** The variable that names the Prices table in a function's environment. */
export const PRICES_TABLE_ENV = 'PRICES_TABLE';
/** The variable that names the Price List fetch function, for the admin function's `prices refresh`. */
export const PRICES_FUNCTION_ENV = 'PRICES_FUNCTION';
/** The variable that says how long a function prices with the versions it read before reading them again. */
export const PRICE_CACHE_SECONDS_ENV = 'PRICE_CACHE_SECONDS';
export const PRICE_CACHE_TTL_MS = 60_000;

export class PriceStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PriceStoreError';
  }
}

const isConditionalCheckFailed = (error: unknown) =>
  (error as { name?: unknown } | undefined)?.name === 'ConditionalCheckFailedException';

/**
 * The Prices table: one item per price version, keyed by model and `versionKey`. Items are only ever added (a
 * change is a new version), so a version that priced a call can always be read back.
 */
export class PriceStore {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /** Every version (the table holds a few per model: one Scan of a few pages). */
  async all(): Promise<PriceVersion[]> {
    const versions: PriceVersion[] = [];
    for await (const item of scanItems(this.documents, { TableName: this.table, ConsistentRead: true })) {
      const { version: _key, ...fields } = item;
      const parsed = priceVersionSchema.safeParse(fields);
      // A malformed item is a defect of whoever wrote it; pricing from it could charge anything.
      if (!parsed.success) throw new PriceStoreError(`price version ${String(item.version)} is malformed`);
      versions.push(parsed.data);
    }
    return versions;
  }

  /** Adds a version; false when the very same version (model, layer, times) is already there. */
  async add(version: PriceVersion): Promise<boolean> {
    const checked = priceVersionSchema.parse(version);
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...checked, version: versionKey(checked) },
          ConditionExpression: 'attribute_not_exists(version)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }
}

/**
 * The versions a running function prices with: read at most once per `ttlMs` (not per call, nor per batch), so a
 * change reaches a warm function within `ttlMs` of being written. A failed re-read keeps the versions read before;
 * only a function that never read them fails (and its batch is retried).
 */
export class PriceBookCache {
  private book: PriceBook | undefined;
  private readAt = 0;

  constructor(
    private readonly store: Pick<PriceStore, 'all'>,
    private readonly ttlMs: number = PRICE_CACHE_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The versions, and how many DynamoDB requests reading them took (0 from the cache). */
  async current(): Promise<{ book: PriceBook; requests: number }> {
    if (this.book && this.now() - this.readAt < this.ttlMs) return { book: this.book, requests: 0 };
    try {
      this.book = new PriceBook(await this.store.all());
      this.readAt = this.now();
      return { book: this.book, requests: 1 };
    } catch (error) {
      if (this.book) return { book: this.book, requests: 1 };
      throw error;
    }
  }
}
