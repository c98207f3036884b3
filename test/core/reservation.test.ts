// A durable stream's delivery reservation follows its pace: a stream that goes through its chunks quickly (a
// replay of a big backlog) reserves more at a time, so that it does not wait on a write per thousand seqs; a
// slow one comes back to EVENTBUS_DELIVERY_RESERVATION, and a rewind starts over from it.
import { describe, expect, test } from 'vitest';
import { DeliveryReservation, MAX_GROWTH } from '../../src/core/reservation.js';
import { LogMessage } from '../../src/core/store-port.js';

const CHUNK = 1000;

function reservation(): { r: DeliveryReservation; clock: { now: number }; written: () => number } {
  const clock = { now: 0 };
  const r = new DeliveryReservation({ startSeq: 1, storedSeq: 0, partitions: undefined, chunk: CHUNK, now: () => clock.now, want: () => undefined, written: () => undefined });
  // What the progress writer does: takes the wanted reservation and tells it written.
  const written = (): number => {
    const taken = r.take();
    if (taken === undefined) return 0;
    r.written(taken);
    return taken.upTo;
  };
  return { r, clock, written };
}

const message = (seq: number) => new LogMessage(seq, null, 't', 'p', '{}', 0, null, 0);

/** Delivers from `from` until the reservation no longer covers, writing each reservation asked for; the sizes reserved. */
function deliverThrough(r: DeliveryReservation, written: () => number, from: number, to: number, clock: { now: number }, msPerSeq: number): number[] {
  const sizes: number[] = [];
  let last = 0;
  const write = (): number => {
    const upTo = written();
    if (upTo > 0) {
      if (last > 0) sizes.push(upTo - last);
      last = upTo;
    }
    return upTo;
  };
  for (let seq = from; seq <= to; seq++) {
    clock.now += msPerSeq;
    while (!r.covers(message(seq))) if (write() === 0) throw new Error(`nothing reserved for ${seq}`);
    write();
  }
  return sizes;
}

describe('the delivery reservation follows the stream', () => {
  test('a fast stream reserves more at a time, up to MAX_GROWTH times the setting; a slow one comes back to it', () => {
    const { r, clock, written } = reservation();
    // 1,000,000 seqs a second: each chunk of 1,000 lasts a millisecond.
    const fast = deliverThrough(r, written, 1, 500_000, clock, 0.001);
    expect(fast[0]).toBe(2 * CHUNK);
    expect(Math.max(...fast)).toBe(MAX_GROWTH * CHUNK);
    expect(fast.at(-1)).toBe(MAX_GROWTH * CHUNK);
    // Then 1,000 a second: every chunk lasts seconds, each one halves the next, down to the setting (the first
    // halved one is the one the sizes are counted from).
    const slow = deliverThrough(r, written, 500_001, 700_000, clock, 1);
    const halving = Array.from({ length: Math.log2(MAX_GROWTH) - 1 }, (_, k) => (MAX_GROWTH / 2 ** (k + 2)) * CHUNK);
    expect(slow.slice(0, halving.length + 1)).toEqual([...halving, CHUNK]);
    expect(slow.at(-1)).toBe(CHUNK);
  });

  test('a rewind starts over from the setting', () => {
    const { r, clock, written } = reservation();
    deliverThrough(r, written, 1, 100_000, clock, 0.01);
    r.rewind(1);
    clock.now += 5000;
    expect(deliverThrough(r, written, 1, 10_000, clock, 0.5)[0]).toBe(CHUNK);
  });
});
