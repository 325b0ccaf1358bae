/**
 * Write capacity as DynamoDB bills it, computed from item sizes: moto returns no `ConsumedCapacity` for
 * TransactWriteItems (and a constant for the other writes), so the bench reads each written item before and after
 * the request on a client of its own and applies DynamoDB's rules:
 * - an item's size is the sum of its attribute names and values (string: UTF-8 bytes; number: 1 byte per two
 *   significant digits + 1; binary: bytes; boolean and null: 1; list and map: 3 + each element + 1 per element);
 * - a write costs 1 unit per started KB of the larger of the item before and after; in a transaction, 2 units
 *   (every action: Put, Update, Delete and ConditionCheck);
 * - a global secondary index costs 1 unit per started KB of the projected item for an item entering or leaving
 *   it, 2 for one that moves to another index key, 1 for one that stays under its key while an attribute the index
 *   projects changes, none otherwise (a keys-only index is not written when only other attributes change); these
 *   are counted at the standard rate, not doubled, as the index is updated asynchronously outside the transaction
 *   (an assumption: AWS documents no doubling for index writes).
 */
import { type AttributeValue, BatchGetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

type Item = Record<string, AttributeValue>;

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

function numberSize(text: string): number {
  const digits = text
    .replace(/^[-+]/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
}

function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS) return value.SS.reduce((sum, s) => sum + utf8(s), 0);
  if (value.NS) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS) return value.BS.reduce((sum, b) => sum + b.byteLength, 0);
  if (value.L) return 3 + value.L.reduce((sum, v) => sum + valueSize(v) + 1, 0);
  if (value.M) return 3 + Object.entries(value.M).reduce((sum, [k, v]) => sum + utf8(k) + valueSize(v) + 1, 0);
  return 0;
}

/** An item's size in bytes as DynamoDB counts it. */
export const itemSize = (item: Item | undefined): number =>
  item ? Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + valueSize(value), 0) : 0;

/** Write units of one write: 1 per started KB of the larger image, at least 1; doubled in a transaction. */
export const writeUnits = (before: number, after: number, transactional: boolean) =>
  Math.max(1, Math.ceil(Math.max(before, after) / 1024)) * (transactional ? 2 : 1);

/** A global secondary index as DescribeTable gives it: its key attributes and what it projects. */
export interface IndexShape {
  readonly keys: readonly string[];
  readonly projection: 'ALL' | 'KEYS_ONLY' | 'INCLUDE';
  /** INCLUDE's non-key attributes. */
  readonly include?: readonly string[];
  /** The table's own key attributes, which every index projects. */
  readonly tableKeys: readonly string[];
}

/** The part of an item an index holds (undefined when the item is not in it: a key attribute missing). */
function projected(index: IndexShape, item: Item | undefined): Item | undefined {
  if (!item || !index.keys.every((name) => item[name])) return undefined;
  if (index.projection === 'ALL') return item;
  const names = new Set([...index.keys, ...index.tableKeys, ...(index.include ?? [])]);
  return Object.fromEntries(Object.entries(item).filter(([name]) => names.has(name)));
}

/** Write units an index consumes when an item changes from `old` to `now` (see the rules above). */
export function indexWriteUnits(index: IndexShape, old: Item | undefined, now: Item | undefined): number {
  const [was, is] = [projected(index, old), projected(index, now)];
  if (!was && !is) return 0;
  const sameKeys = index.keys.every((name) => JSON.stringify(old?.[name]) === JSON.stringify(now?.[name]));
  if (was && is && sameKeys) {
    return JSON.stringify(was) === JSON.stringify(is) ? 0 : writeUnits(itemSize(was), itemSize(is), false);
  }
  // Moving to another key deletes and puts; leaving deletes; entering puts.
  return (was ? writeUnits(itemSize(was), 0, false) : 0) + (is ? writeUnits(0, itemSize(is), false) : 0);
}

interface KeyedWrite {
  readonly table: string;
  readonly key: Item;
}

interface TransactAction {
  readonly Put?: { TableName?: string; Item?: Item };
  readonly Update?: { TableName?: string; Key?: Item };
  readonly Delete?: { TableName?: string; Key?: Item };
  readonly ConditionCheck?: { TableName?: string; Key?: Item };
}

/** What one write request did: the items it wrote, each with its table and units. */
export interface MeteredWrite {
  readonly operation: string;
  readonly items: readonly {
    readonly table: string;
    readonly writeUnits: number;
    readonly plainWriteUnits: number;
    /** Of the units, those the table's global secondary indexes consumed. */
    readonly indexWriteUnits: number;
  }[];
}

/**
 * Adds a middleware to `client` (the SDK client the handlers share) that reports every write request to `record`
 * (a refused one, such as a cancelled transaction, with no items). `reader` reads the items before and after; it must be another
 * client, so its reads are not counted. Keys are taken from the marshalled input (Put's key is its whole item:
 * the extra attributes do not change the lookup).
 */
export function meterWrites(
  client: DynamoDBClient,
  reader: DynamoDBClient,
  keyNames: (table: string) => readonly string[],
  /** Each global secondary index of a table: an item is in an index when it has all its key attributes. */
  indexes: (table: string) => readonly IndexShape[],
  record: (write: MeteredWrite) => void,
): void {
  const keyOf = (table: string, item: Item | undefined): Item =>
    Object.fromEntries(keyNames(table).flatMap((name) => (item?.[name] ? [[name, item[name]]] : [])));
  const read = async (writes: readonly KeyedWrite[]): Promise<Map<string, Item>> => {
    const sizes = new Map<string, Item>();
    const byTable = new Map<string, Item[]>();
    for (const { table, key } of writes) byTable.set(table, [...(byTable.get(table) ?? []), key]);
    for (const [table, keys] of byTable) {
      const unique = [...new Map(keys.map((k) => [JSON.stringify(k), k])).values()];
      for (let i = 0; i < unique.length; i += 100) {
        let request: Record<string, { Keys: Item[]; ConsistentRead: boolean }> | undefined = {
          [table]: { Keys: unique.slice(i, i + 100), ConsistentRead: true },
        };
        while (request && Object.keys(request).length > 0) {
          const page = await reader.send(new BatchGetItemCommand({ RequestItems: request }));
          for (const item of page.Responses?.[table] ?? []) {
            sizes.set(`${table}\u0000${JSON.stringify(keyOf(table, item))}`, item);
          }
          request = page.UnprocessedKeys as typeof request;
        }
      }
    }
    return sizes;
  };
  const idOf = (w: KeyedWrite) => `${w.table}\u0000${JSON.stringify(keyOf(w.table, w.key))}`;

  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = String(context.commandName ?? '').replace(/Command$/, '');
      const input = args.input as {
        TableName?: string;
        Key?: Item;
        Item?: Item;
        TransactItems?: TransactAction[];
      };
      let writes: KeyedWrite[];
      let transactional = false;
      if (operation === 'TransactWriteItems' || operation === 'TransactWrite') {
        transactional = true;
        writes = (input.TransactItems ?? []).map((action) => {
          const put = action.Put;
          if (put) return { table: put.TableName ?? '', key: keyOf(put.TableName ?? '', put.Item) };
          const keyed = action.Update ?? action.Delete ?? action.ConditionCheck;
          return { table: keyed?.TableName ?? '', key: keyed?.Key ?? {} };
        });
      } else if (['PutItem', 'Put', 'UpdateItem', 'Update', 'DeleteItem', 'Delete'].includes(operation)) {
        const table = input.TableName ?? '';
        writes = [{ table, key: input.Key ?? keyOf(table, input.Item) }];
      } else {
        return next(args);
      }
      const before = await read(writes);
      let result: Awaited<ReturnType<typeof next>>;
      try {
        result = await next(args);
      } catch (error) {
        record({ operation, items: [] });
        throw error;
      }
      const after = await read(writes);
      record({
        operation,
        items: writes.map((write) => {
          const [old, now] = [before.get(idOf(write)), after.get(idOf(write))];
          const [was, is] = [itemSize(old), itemSize(now)];
          const index = indexes(write.table).reduce((sum, shape) => sum + indexWriteUnits(shape, old, now), 0);
          return {
            table: write.table,
            writeUnits: writeUnits(was, is, transactional) + index,
            plainWriteUnits: writeUnits(was, is, false) + index,
            indexWriteUnits: index,
          };
        }),
      });
      return result;
    },
    // At the build step the document client has marshalled the input (its middleware runs before serializing).
    { step: 'build', name: 'benchWriteMeter' },
  );
}
