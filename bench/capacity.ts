/**
 * Write capacity as DynamoDB bills it, computed from item sizes: moto returns no `ConsumedCapacity` for
 * TransactWriteItems (and a constant for the other writes), so the bench reads each written item before and after
 * the request on a client of its own and applies DynamoDB's rules:
 * - an item's size is the sum of its attribute names and values (string: UTF-8 bytes; number: 1 byte per two
 *   significant digits + 1; binary: bytes; boolean and null: 1; list and map: 3 + each element + 1 per element);
 * - a write costs 1 unit per started KB of the larger of the item before and after; in a transaction, 2 units
 *   (every action: Put, Update, Delete and ConditionCheck);
 * - a global secondary index (projection ALL) costs 1 unit per started KB for an item entering or leaving it, 2 for
 *   one that changes in it; these are counted at the standard rate, not doubled, as the index is updated
 *   asynchronously outside the transaction (an assumption: AWS documents no doubling for index writes).
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
  /** Each global secondary index's key attributes: an item is in the index when it has them all. */
  indexKeys: (table: string) => readonly (readonly string[])[],
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
          let index = 0;
          for (const names of indexKeys(write.table)) {
            const inIndex = (item: Item | undefined) => item !== undefined && names.every((name) => item[name]);
            const sameKeys = names.every((name) => JSON.stringify(old?.[name]) === JSON.stringify(now?.[name]));
            // Staying under the same index key is one index write; moving or leaving deletes, entering puts.
            if (inIndex(old) && inIndex(now) && sameKeys) index += writeUnits(was, is, false);
            else {
              if (inIndex(old)) index += writeUnits(was, 0, false);
              if (inIndex(now)) index += writeUnits(0, is, false);
            }
          }
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
