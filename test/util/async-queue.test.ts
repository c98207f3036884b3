// The bounded queue behind in-process subscribers and client subscriptions: order, the full/room hooks,
// waiting readers (several at once, with timeouts), and how it ends.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { AsyncQueue } from '../../src/util/async-queue.js';

function queue(limit = 4): { q: AsyncQueue<number>; events: string[] } {
  const events: string[] = [];
  const q = new AsyncQueue<number>(limit, { onFull: () => events.push('full'), onRoom: () => events.push('room') });
  return { q, events };
}

describe('AsyncQueue', () => {
  test('items come out in order; full at the limit, room again once down to half', async () => {
    const { q, events } = queue(4);
    expect([1, 2, 3].map((n) => q.push(n))).toEqual([true, true, true]);
    expect(q.push(4)).toBe(false);
    expect(q.push(5)).toBe(false);
    expect(events).toEqual(['full']);
    expect(await q.next()).toBe(1);
    expect(await q.next()).toBe(2);
    expect(await q.next()).toBe(3);
    expect(events).toEqual(['full']); // 2 of 5 left: not under half of 4 yet
    expect(await q.next()).toBe(4);
    expect(events).toEqual(['full', 'room']);
    expect(await q.next()).toBe(5);
  });

  test('poll takes a queued item at once, in order with next, and reports room like next', async () => {
    const { q, events } = queue(2);
    expect(q.poll()).toBeUndefined();
    q.push(1);
    q.push(2);
    q.push(3);
    expect(q.poll()).toBe(1);
    expect(await q.next()).toBe(2);
    expect(events).toEqual(['full']);
    expect(q.poll()).toBe(3);
    expect(events).toEqual(['full', 'room']);
    expect(q.poll()).toBeUndefined();
  });

  test('first in, first out through wrap-around, growth and clear, like an array', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constant(0), fc.constant(-1)), { maxLength: 200 }), (steps) => {
        const { q } = queue(1000);
        const reference: number[] = [];
        let next = 0;
        for (const step of steps) {
          if (step === -1) {
            q.clear();
            reference.length = 0;
          } else if (step === 0) {
            expect(q.poll()).toBe(reference.shift());
          } else {
            for (let i = 0; i < step; i++) q.push(next++);
            for (let i = 0; i < step; i++) reference.push(next - step + i);
          }
        }
        const rest: (number | undefined)[] = [];
        for (let item = q.poll(); item !== undefined; item = q.poll()) rest.push(item);
        expect(rest).toEqual(reference);
      }),
    );
  });

  test('waiting readers are served first come first served, each once', async () => {
    const { q } = queue();
    const a = q.next();
    const b = q.next();
    q.push(1);
    q.push(2);
    expect(await Promise.all([a, b])).toEqual([1, 2]);
  });

  test('a reader that times out gets undefined and does not take a later item', async () => {
    const { q } = queue();
    expect(await q.next(20)).toBeUndefined();
    q.push(7);
    expect(await q.next(20)).toBe(7);
  });

  test('ended cleanly: queued items first, then undefined; waiting readers get undefined', async () => {
    const { q } = queue();
    const waiting = q.next();
    q.end();
    expect(await waiting).toBeUndefined();
    const { q: r } = queue();
    r.push(1);
    r.end();
    expect(await r.next()).toBe(1);
    expect(await r.next()).toBeUndefined();
  });

  test('ended with an error: queued items first, then the error; a full queue reports room', async () => {
    const { q, events } = queue(2);
    q.push(1);
    q.push(2);
    q.end(new Error('gone'));
    expect(events).toEqual(['full', 'room']);
    expect(await q.next()).toBe(1);
    expect(await q.next()).toBe(2);
    await expect(q.next()).rejects.toThrow('gone');
  });

  test('clear drops the queued items and reports room', async () => {
    const { q, events } = queue(2);
    q.push(1);
    q.push(2);
    q.clear();
    expect(events).toEqual(['full', 'room']);
    expect(await q.next(10)).toBeUndefined();
  });
});
