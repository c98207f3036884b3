// The acks buffer the dispatcher fills between writes: columns per ack, consumers named once per batch.
import { expect, test } from 'vitest';
import { PendingAcks } from '../../src/core/pending-acks.js';

test('acks of interleaved consumers come out in order, past the initial capacity, and take() starts a new batch', () => {
  const acks = new PendingAcks();
  for (let seq = 1; seq <= 3000; seq++) acks.push(seq % 3 === 0 ? 'b' : 'a', seq, seq % 5 === 0 ? 2 : 1, 1_000 + seq, 500 + seq);
  expect(acks.length).toBe(3000);

  const batch = acks.take();
  expect(acks.length).toBe(0);
  expect(batch.consumers).toEqual(['a', 'b']);
  const rows = Array.from(batch.seqs, (seq, i) => [batch.consumers[batch.consumerOf[i]!], seq, batch.deliveries[i], batch.ats[i], batch.sentAts[i]]);
  expect(rows).toHaveLength(3000);
  expect(rows.slice(0, 5)).toEqual([
    ['a', 1, 1, 1_001, 501],
    ['a', 2, 1, 1_002, 502],
    ['b', 3, 1, 1_003, 503],
    ['a', 4, 1, 1_004, 504],
    ['a', 5, 2, 1_005, 505],
  ]);
  expect(rows[2999]).toEqual(['b', 3000, 2, 4_000, 3_500]);

  acks.push('c', 7, 1, 9, 8);
  const next = acks.take();
  expect(next.consumers).toEqual(['c']);
  expect([...next.consumerOf, ...next.seqs]).toEqual([0, 7]);
  expect(batch.seqs[0]).toBe(1); // the first batch kept its own copy

  // The consumer of the last push before a take(), pushed again: named anew in the new batch.
  acks.push('c', 8, 1, 10, 9);
  const again = acks.take();
  expect(again.consumers).toEqual(['c']);
  expect([...again.consumerOf]).toEqual([0]);
});
