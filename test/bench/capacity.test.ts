import { type IndexShape, indexWriteUnits, itemSize, writeUnits } from '../../bench/capacity';

describe('write units as DynamoDB bills them (the bench computes them: moto returns none for transactions)', () => {
  it('sizes an item by its attribute names and values', () => {
    // "requestId" (9) + "r-1" (3); "cost" (4) + 12.5 (3 significant digits: 2 + 1); "ok" (2) + true (1)
    expect(itemSize({ requestId: { S: 'r-1' }, cost: { N: '12.5' }, ok: { BOOL: true } })).toBe(12 + 7 + 3);
  });

  it('sizes a map with 3 bytes of overhead and 1 per element', () => {
    // "m" (1) + 3 + ("a" (1) + "xy" (2) + 1)
    expect(itemSize({ m: { M: { a: { S: 'xy' } } } })).toBe(1 + 3 + 4);
  });

  it('charges per started KB of the larger image, doubled in a transaction', () => {
    expect(writeUnits(0, 100, false)).toBe(1);
    expect(writeUnits(0, 100, true)).toBe(2);
    expect(writeUnits(1500, 900, true)).toBe(4);
    expect(writeUnits(0, 1024, false)).toBe(1);
    expect(writeUnits(0, 1025, false)).toBe(2);
  });

  describe('index writes', () => {
    const keysOnly: IndexShape = { keys: ['period'], projection: 'KEYS_ONLY', tableKeys: ['principal', 'period'] };
    const all: IndexShape = { keys: ['unmeteredShard'], projection: 'ALL', tableKeys: ['requestId'] };
    const counter = (spend: string) => ({
      principal: { S: 'user/a' },
      period: { S: '2026-12' },
      spendUsd: { N: spend },
    });

    it('writes nothing to a keys-only index when only other attributes change (a counter ADD)', () => {
      expect(indexWriteUnits(keysOnly, counter('1'), counter('2'))).toBe(0);
    });

    it('puts an item entering an index and deletes one leaving it, 1 unit per started KB', () => {
      expect(indexWriteUnits(keysOnly, undefined, counter('1'))).toBe(1);
      const sighted = { requestId: { S: 'r-1' }, unmeteredShard: { S: 'U1' } };
      const charged = { requestId: { S: 'r-1' }, costUsd: { N: '0.5' } };
      expect(indexWriteUnits(all, undefined, sighted)).toBe(1);
      expect(indexWriteUnits(all, sighted, charged)).toBe(1);
      expect(indexWriteUnits(all, undefined, charged)).toBe(0);
    });

    it('writes an index that projects every attribute when any changes, and moves an item whose key changes', () => {
      const row = (shard: string, note: string) => ({
        requestId: { S: 'r-1' },
        unmeteredShard: { S: shard },
        note: { S: note },
      });
      expect(indexWriteUnits(all, row('U1', 'a'), row('U1', 'b'))).toBe(1);
      expect(indexWriteUnits(all, row('U1', 'a'), row('U1', 'a'))).toBe(0);
      expect(indexWriteUnits(all, row('U1', 'a'), row('U2', 'a'))).toBe(2);
    });
  });
});
