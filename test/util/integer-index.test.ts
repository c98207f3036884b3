// IntegerIndex (InFlight's key → position index): it must answer exactly as a Map would through inserts,
// overwrites, deletes that shift later entries back, growth, shrinking and clear, for keys that collide on
// purpose (a stride of a power of two, keys past 2^32) as for consecutive ones; and a stream's churn (one in,
// one out) must not allocate.
import fc from 'fast-check';
import v8 from 'node:v8';
import { expect, test } from 'vitest';
import { IntegerIndex } from '../../src/util/integer-index.js';

type Op = { kind: 'set' | 'delete' | 'get'; key: number } | { kind: 'clear' };

const key = fc.oneof(
  fc.integer({ min: 0, max: 400 }),
  fc.integer({ min: 0, max: 400 }).map((k) => k * 1024),
  fc.integer({ min: 0, max: 400 }).map((k) => 2 ** 40 + k * 4096),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constantFrom('set' as const, 'delete' as const, 'get' as const), key }), weight: 30 },
  { arbitrary: fc.constant({ kind: 'clear' as const }), weight: 1 },
);

test('answers as a Map does', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 2000 }), (ops) => {
      const index = new IntegerIndex();
      const reference = new Map<number, number>();
      ops.forEach((o, n) => {
        if (o.kind === 'clear') {
          index.clear();
          reference.clear();
        } else if (o.kind === 'set') {
          index.set(o.key, n);
          reference.set(o.key, n);
        } else if (o.kind === 'delete') {
          expect(index.delete(o.key)).toBe(reference.delete(o.key));
        } else {
          expect(index.get(o.key)).toBe(reference.get(o.key));
          expect(index.has(o.key)).toBe(reference.has(o.key));
        }
        expect(index.size).toBe(reference.size);
      });
      for (const [k, v] of reference) expect(index.get(k)).toBe(v);
    }),
    { numRuns: 300 },
  );
});

test('grows past thousands of entries and empties again', () => {
  const index = new IntegerIndex();
  for (let k = 1; k <= 50_000; k++) index.set(k * 7, k);
  expect(index.size).toBe(50_000);
  let wrong = 0;
  for (let k = 1; k <= 50_000; k++) if (index.get(k * 7) !== k) wrong++;
  for (let k = 1; k <= 50_000; k++) if (!index.delete(k * 7)) wrong++;
  expect(wrong).toBe(0);
  expect(index.size).toBe(0);
  expect(index.get(7)).toBeUndefined();
});

test("a window of a thousand keys sliding along the log allocates nothing in V8's old generation", () => {
  const oldSpace = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;
  const index = new IntegerIndex();
  for (let seq = 1; seq <= 1000; seq++) index.set(seq, seq);
  // Long-lived, as a stream's is: young-generation collections move it to the old generation.
  for (let i = 0; i < 2000; i++) new Array(10_000).fill(i);
  const before = oldSpace();
  for (let seq = 1001; seq <= 500_000; seq++) {
    index.set(seq, seq);
    index.delete(seq - 1000);
  }
  // A Map in its place grows the old generation by about 50 bytes per step here (some 25 MB).
  expect(oldSpace() - before).toBeLessThan(2_000_000);
  expect(index.size).toBe(1000);
});
