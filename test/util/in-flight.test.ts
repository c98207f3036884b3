// InFlight (a stream's unacked deliveries, the client's unanswered requests): lookups by key and iteration in
// (re)insertion order must behave exactly like the insertion-ordered Map they replace, through holes,
// wrap-around, growth and shrinking.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { InFlight } from '../../src/util/in-flight.js';

type Op = { kind: 'push'; seq: number } | { kind: 'delete'; seq: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), seq: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ kind: fc.constant('delete' as const), seq: fc.integer({ min: 1, max: 300 }) }),
);

test('behaves like an insertion-ordered Map whose set moves a key to the end', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 600 }), (ops) => {
      const inFlight = new InFlight<{ seq: number; n: number }>();
      const reference = new Map<number, { seq: number; n: number }>();
      ops.forEach((o, n) => {
        if (o.kind === 'push') {
          const value = { seq: o.seq, n };
          inFlight.push(o.seq, value);
          reference.delete(o.seq);
          reference.set(o.seq, value);
        } else {
          expect(inFlight.delete(o.seq)).toBe(reference.delete(o.seq));
        }
        expect(inFlight.size).toBe(reference.size);
      });
      expect([...inFlight.entries()]).toEqual([...reference.entries()]);
      expect([...inFlight.values()]).toEqual([...reference.values()]);
      expect(inFlight.minSeq()).toBe(reference.size === 0 ? Infinity : Math.min(...reference.keys()));
      for (let seq = 1; seq <= 300; seq++) {
        expect(inFlight.has(seq)).toBe(reference.has(seq));
        expect(inFlight.get(seq)).toBe(reference.get(seq));
      }
    }),
    { numRuns: 300 },
  );
});

test('a window that slides far past its ring size keeps its order and its lowest seq', () => {
  const inFlight = new InFlight<{ seq: number }>();
  for (let seq = 1; seq <= 100_000; seq++) {
    inFlight.push(seq, { seq });
    if (seq > 1000 && !inFlight.delete(seq - 1000)) throw new Error(`seq ${seq - 1000} was lost`);
  }
  expect(inFlight.size).toBe(1000);
  expect(inFlight.minSeq()).toBe(99_001);
  const seqs = [...inFlight.entries()].map(([seq]) => seq);
  expect(seqs[0]).toBe(99_001);
  expect(seqs.at(-1)).toBe(100_000);
});

test('deleting while iterating skips what was deleted and visits the rest once', () => {
  const inFlight = new InFlight<{ seq: number }>();
  for (let seq = 1; seq <= 40; seq++) inFlight.push(seq, { seq });
  const seen: number[] = [];
  for (const [seq] of inFlight.entries()) {
    seen.push(seq);
    inFlight.delete(seq);
    inFlight.delete(seq + 1);
  }
  expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i + 1));
  expect(inFlight.size).toBe(0);
});
