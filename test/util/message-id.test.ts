// timeOrderedId(): UUIDv7 ids from pooled random bytes. Enough of them to cross several pool refills (256 ids
// per 4 KiB) and many milliseconds: each is a well-formed v7 id carrying the time it was made, and each sorts
// after the one before, as uuid's own v7() guarantees.
import { validate, version } from 'uuid';
import { expect, test } from 'vitest';
import { timeOrderedId } from '../../src/util/message-id.js';

test('ids are valid UUIDv7s of the current millisecond, unique and strictly increasing', () => {
  const before = Date.now();
  const ids = Array.from({ length: 20_000 }, () => timeOrderedId());
  const after = Date.now();
  for (const id of ids.slice(0, 100)) {
    expect(validate(id), id).toBe(true);
    expect(version(id), id).toBe(7);
    expect('89ab', `variant of ${id}`).toContain(id[19]);
  }
  const msOf = (id: string): number => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
  expect(msOf(ids[0]!)).toBeGreaterThanOrEqual(before);
  expect(msOf(ids.at(-1)!)).toBeLessThanOrEqual(after + 1);
  for (let i = 1; i < ids.length; i++) if (!(ids[i - 1]! < ids[i]!)) expect.fail(`id ${i} does not sort after the one before: ${ids[i - 1]} ${ids[i]}`);
  expect(new Set(ids).size).toBe(ids.length);
});

test('the random part differs between ids of one millisecond: the pool is not reused', () => {
  const ids = Array.from({ length: 600 }, () => timeOrderedId());
  const tails = new Set(ids.map((id) => id.slice(-12)));
  expect(tails.size).toBe(ids.length);
});
