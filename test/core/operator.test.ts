// The broker's operator surface, in-process on a real SQLite file: pausing and resuming a durable consumer,
// its dead letters (list, requeue, delete), and the figures people read (lag, in-flight, dead letters).
import { describe, expect, test } from 'vitest';
import type { Broker } from '../../src/core/broker.js';
import type { Delivery } from '../../src/core/types.js';
import type { LocalSubscriber } from '../../src/embed/local-subscriber.js';
import type { TestDb } from '../helpers/broker.js';
import { query, sleep, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const { start, dir, open, subscribe } = testScope();

async function publish(broker: Broker, topic: string, payloads: readonly string[]): Promise<number[]> {
  const seqs: number[] = [];
  for (const payload of payloads) seqs.push((await broker.publish({ topic, payload }))._unsafeUnwrap().seq);
  return seqs;
}

async function drain(sub: LocalSubscriber, idleMs = 200): Promise<Delivery[]> {
  const out: Delivery[] = [];
  for (let d = await sub.next(idleMs); d !== undefined; d = await sub.next(idleMs)) out.push(d);
  return out;
}

const seqAndDelivery = (ds: readonly Delivery[]): [number, number][] => ds.map((d) => [d.message.seq, d.delivery]);
const report = async (broker: Broker, id: string) => (await broker.consumerReport(id))._unsafeUnwrap();

/** Publishes `n` messages to `topic` and has `consumer` dead-letter them all (max deliveries 1: each is nacked once). */
async function deadLettered(broker: Broker, db: TestDb, consumer: string, topic: string, n: number): Promise<LocalSubscriber> {
  const sub = await subscribe(broker, { pattern: topic, consumer, start: { kind: 'seq', seq: 1 } });
  await publish(broker, topic, Array.from({ length: n }, (_, i) => `{"n":${i + 1}}`));
  for (const d of await sub.take(n, 2000)) sub.nack(d.message.seq);
  await until(`${n} dead letters of ${consumer}`, () => query<{ n: number }>(db, 'SELECT count(*) AS n FROM dead_letters WHERE consumer = ?', consumer)[0]!.n === n);
  return sub;
}

describe('pause and resume', () => {
  test('a paused consumer gets nothing on any member until resumed, then everything it missed, in order', async () => {
    const { broker } = await start();
    const a = await subscribe(broker, { pattern: 'jobs', consumer: 'workers', group: 'g' });
    const b = await subscribe(broker, { pattern: 'jobs', consumer: 'workers', group: 'g' });
    await publish(broker, 'jobs', ['1', '2']);
    const before = [...(await drain(a)), ...(await drain(b))];
    for (const d of before) (d.subscriptionId === (before[0]!.subscriptionId) ? a : b).ack(d.message.seq);
    expect((await broker.pauseConsumer('workers'))._unsafeUnwrap()).toMatchObject({ paused: true });
    await publish(broker, 'jobs', ['3', '4', '5']);
    expect([...(await drain(a, 300)), ...(await drain(b, 100))]).toEqual([]);
    expect(await report(broker, 'workers')).toMatchObject({ paused: true, lag: 3, inFlight: 0 });
    (await broker.resumeConsumer('workers'))._unsafeUnwrap();
    const after = [...(await drain(a)), ...(await drain(b))];
    expect(after.map((d) => d.message.seq).sort()).toEqual([3, 4, 5]);
    expect(after.every((d) => d.delivery === 1)).toBe(true);
  });

  test('a pause survives a restart; acks of deliveries sent before it still count, and a timed-out one waits for the resume', async () => {
    const d = await dir();
    const first = await open(d, { ackTimeoutMs: 100 });
    const sub = await subscribe(first, { pattern: 'jobs', consumer: 'worker' });
    await publish(first, 'jobs', ['1', '2']);
    expect((await sub.take(2, 2000)).map((x) => x.message.seq)).toEqual([1, 2]);
    (await first.pauseConsumer('worker'))._unsafeUnwrap();
    sub.ack(1);
    expect(await drain(sub, 400)).toEqual([]); // 2 timed out, and is not sent again while paused
    expect(await report(first, 'worker')).toMatchObject({ position: 1, lag: 1, inFlight: 0 });
    sub.close();
    await first.close();

    const second = await open(d, { ackTimeoutMs: 100 });
    expect(second.consumer('worker')).toMatchObject({ paused: true, position: 1 });
    const again = await subscribe(second, { pattern: 'jobs', consumer: 'worker' });
    await publish(second, 'jobs', ['3']);
    expect(await drain(again, 300)).toEqual([]);
    (await second.resumeConsumer('worker'))._unsafeUnwrap();
    const resumed = await again.take(2, 2000);
    expect(seqAndDelivery(resumed)).toEqual([
      [2, 2],
      [3, 1],
    ]);
    for (const x of resumed) again.ack(x.message.seq);
    expect(await drain(again)).toEqual([]);
  });

  test('pausing or resuming a consumer that does not exist is UNKNOWN_CONSUMER', async () => {
    const { broker } = await start();
    expect((await broker.pauseConsumer('nobody'))._unsafeUnwrapErr().code).toBe('UNKNOWN_CONSUMER');
    expect((await broker.resumeConsumer('nobody'))._unsafeUnwrapErr().code).toBe('UNKNOWN_CONSUMER');
  });
});

describe('dead letters', () => {
  test('requeued dead letters leave dead_letters and are delivered again from a first attempt, in seq order; their status follows', async () => {
    const { broker, db } = await start({ maxDeliveries: 1 });
    const sub = await deadLettered(broker, db, 'billing', 'pay', 3);
    await until('status dead', () => query<{ status: string }>(db, 'SELECT DISTINCT status FROM messages').map((r) => r.status).join() === 'dead');
    expect(await report(broker, 'billing')).toMatchObject({ deadLetters: 3, lag: 0, position: 3 });

    expect((await broker.requeueDeadLetters('billing', {}))._unsafeUnwrap()).toBe(3);
    expect(query(db, 'SELECT * FROM dead_letters')).toEqual([]);
    expect(query(db, 'SELECT seq, status FROM messages ORDER BY seq')).toEqual([1, 2, 3].map((seq) => ({ seq, status: 'pending' })));
    const again = await sub.take(3, 2000);
    expect(seqAndDelivery(again)).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    expect(await report(broker, 'billing')).toMatchObject({ deadLetters: 0, lag: 3, inFlight: 3 });
    for (const x of again) sub.ack(x.message.seq);
    await until('status processed', () => query<{ status: string }>(db, 'SELECT DISTINCT status FROM messages').map((r) => r.status).join() === 'processed');
    await until('the acks to end the requeue', () => query(db, 'SELECT * FROM requeued_messages').length === 0);
    expect(await report(broker, 'billing')).toMatchObject({ deadLetters: 0, lag: 0, inFlight: 0 });
  });

  test('dead letters are listed a page at a time; requeue and delete take those chosen by seq, by a filter, or all', async () => {
    const { broker, db } = await start({ maxDeliveries: 1 });
    const sub = await deadLettered(broker, db, 'billing', 'pay', 5);
    const page = (await broker.deadLetters('billing', 1, 2))._unsafeUnwrap();
    expect(page.deadLetters.map((x) => [x.seq, x.payload, x.deliveries])).toEqual([
      [1, '{"n":1}', 1],
      [2, '{"n":2}', 1],
    ]);
    expect(page.nextSeq).toBe(3);
    expect((await broker.deadLetters('billing', 5, 2))._unsafeUnwrap()).toMatchObject({ nextSeq: 6 });

    expect((await broker.requeueDeadLetters('billing', { seqs: [2, 9] }))._unsafeUnwrap()).toBe(1);
    expect((await broker.requeueDeadLetters('billing', { filter: { 'payload.n': { $in: [4, 5] } }, seqs: [1, 4] }))._unsafeUnwrap()).toBe(1);
    expect(seqAndDelivery(await sub.take(2, 2000))).toEqual([
      [2, 1],
      [4, 1],
    ]);
    expect((await broker.deleteDeadLetters('billing', { seqs: [1] }))._unsafeUnwrap()).toBe(1);
    expect((await broker.deadLetters('billing', 1, 100))._unsafeUnwrap().deadLetters.map((x) => x.seq)).toEqual([3, 5]);
    expect((await broker.deleteDeadLetters('billing', {}))._unsafeUnwrap()).toBe(2);
    expect((await broker.deadLetters('billing', 1, 100))._unsafeUnwrap().deadLetters).toEqual([]);
    expect(await drain(sub)).toEqual([]);

    expect((await broker.requeueDeadLetters('billing', { filter: { 'payload.x': { $bad: 1 } } }))._unsafeUnwrapErr().code).toBe('BAD_ARGS');
    expect((await broker.requeueDeadLetters('billing', { seqs: [0] }))._unsafeUnwrapErr().code).toBe('BAD_ARGS');
    expect((await broker.deadLetters('nobody', 1, 10))._unsafeUnwrapErr().code).toBe('UNKNOWN_CONSUMER');
    expect((await broker.deleteDeadLetters('nobody', {}))._unsafeUnwrapErr().code).toBe('UNKNOWN_CONSUMER');
  });

  test('a requeued dead letter not yet acked is delivered again after a restart, though the position has passed it', async () => {
    const d = await dir();
    const first = await open(d, { maxDeliveries: 1 });
    const sub = await deadLettered(first, d, 'billing', 'pay', 2);
    await publish(first, 'pay', ['m3']);
    const third = await sub.take(1, 2000);
    sub.ack(third[0]!.message.seq);
    (await first.requeueDeadLetters('billing', { seqs: [1] }))._unsafeUnwrap();
    sub.close();
    await until('the position at 3', () => query<{ position: number }>(d, 'SELECT position FROM consumers')[0]!.position === 3);
    await first.close();

    const second = await open(d, { maxDeliveries: 1 });
    expect(await report(second, 'billing')).toMatchObject({ position: 3, lag: 1, deadLetters: 1 });
    const again = await subscribe(second, { pattern: 'pay', consumer: 'billing' });
    expect(seqAndDelivery(await drain(again))).toEqual([[1, 1]]);
    again.ack(1);
    await until('the requeue to end with the ack', () => query(d, 'SELECT * FROM requeued_messages').length === 0);
    expect(await report(second, 'billing')).toMatchObject({ lag: 0, deadLetters: 1 });
  });

  test('deleted dead letters are not delivered again, also after a restart', async () => {
    const d = await dir();
    const first = await open(d, { ackTimeoutMs: 60, maxDeliveries: 1 });
    const sub = await subscribe(first, { pattern: 'pay', consumer: 'billing' });
    await publish(first, 'pay', ['m1', 'm2']);
    const [one] = await sub.take(2, 2000);
    expect(one!.message.seq).toBe(1);
    sub.ack(2); // 1 dies above nothing: the position stays at 0 until it does
    await until('a dead letter', () => query(d, 'SELECT * FROM dead_letters').length === 1);
    expect((await first.deleteDeadLetters('billing', {}))._unsafeUnwrap()).toBe(1);
    sub.close();
    await first.close();
    const second = await open(d);
    const again = await subscribe(second, { pattern: 'pay', consumer: 'billing' });
    expect(await drain(again)).toEqual([]);
    expect(await report(second, 'billing')).toMatchObject({ lag: 0, deadLetters: 0, position: 2 });
  });
});

describe('lag and in-flight', () => {
  test('lag counts the messages of its own topics and filter that the consumer has neither acked nor dead-lettered', async () => {
    const { broker } = await start({ ackTimeoutMs: 60, maxDeliveries: 1 });
    await publish(broker, 'orders.eu', ['{"n":1}', '{"n":2}']);
    await publish(broker, 'refunds', ['r1', 'r2', 'r3']);
    (await broker.saveConsumer({ id: 'orders', address: null, patterns: ['orders.*'] }))._unsafeUnwrap();
    (await broker.saveConsumer({ id: 'big', address: null, patterns: ['orders.#'], filter: { 'payload.n': { $gt: 1 } } }))._unsafeUnwrap();
    expect(await report(broker, 'orders')).toMatchObject({ lag: 0, position: 5 }); // new consumers start at the head
    await publish(broker, 'orders.eu', ['{"n":3}', '{"n":1}']);
    await publish(broker, 'refunds', ['r4']);
    await publish(broker, 'orders.us', ['{"n":5}']);
    expect(await report(broker, 'orders')).toMatchObject({ lag: 3 });
    expect(await report(broker, 'big')).toMatchObject({ lag: 2 });
    const sub = await subscribe(broker, { pattern: 'orders.*', consumer: 'orders' });
    const got = await sub.take(3, 2000);
    sub.ack(got[0]!.message.seq);
    sub.ack(got[2]!.message.seq); // acked above the floor: done, though the position stays below it
    await sleep(30);
    expect(await report(broker, 'orders')).toMatchObject({ lag: 1, inFlight: 1 });
    await until('the unacked one to die', async () => (await report(broker, 'orders')).deadLetters === 1);
    expect(await report(broker, 'orders')).toMatchObject({ lag: 0, inFlight: 0, position: 9 });
  });

  test('in_flight counts deliveries awaiting an ack now: not those left behind by a subscriber that went away', async () => {
    const { broker } = await start();
    const sub = await subscribe(broker, { pattern: 'jobs', consumer: 'worker' });
    await publish(broker, 'jobs', ['1', '2', '3', '4', '5', '6']);
    await sub.take(6, 2000);
    expect(await report(broker, 'worker')).toMatchObject({ inFlight: 6, lag: 6 });
    sub.close();
    await sleep(20);
    expect(await report(broker, 'worker')).toMatchObject({ inFlight: 0, lag: 6, subscribers: 0 });
  });
});
