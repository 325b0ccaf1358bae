import { itemSize, writeUnits } from '../../bench/capacity';

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
});
