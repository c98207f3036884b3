// Durable consumers on a real database: resuming after unsubscribe and after a restart, out-of-order acks,
// redelivery, nack, dead letters, message status, queue groups, ordering keys, in-flight limits, replay and
// the per-consumer stats.
import Database from 'better-sqlite3';
import { describe, expect, test, vi } from 'vitest';
import type { Broker } from '../../src/core/broker.js';
import { LocalSubscriber } from '../../src/embed/local-subscriber.js';
import type { Delivery, Sink } from '../../src/core/types.js';
import { onPostgres, type TestDb, type TestDir } from '../helpers/broker.js';
import { positionReaches, query, sleep, takeExactly, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const { start, dir, open, subscribe, defer } = testScope();

async function publishN(broker: Broker, topic: string, n: number, orderingKey?: (i: number) => string): Promise<number[]> {
  const inputs = Array.from({ length: n }, (_, i) => ({ topic, payload: `${topic}#${i}`, orderingKey: orderingKey?.(i) }));
  return (await broker.publishBatch(inputs))._unsafeUnwrap().map((p) => p.seq);
}

const statusOf = (db: TestDb): Record<number, string> =>
  Object.fromEntries(query<{ seq: number; status: string }>(db, 'SELECT seq, status FROM messages ORDER BY seq').map((r) => [r.seq, r.status]));

const seqsOf = (ds: readonly Delivery[]): number[] => ds.map((d) => d.message.seq);
const deadLettersOf = async (broker: Broker, id: string): Promise<number> => (await broker.consumerReport(id))._unsafeUnwrap().deadLetters;

// The first delivery to a member that just subscribed: on PostgreSQL its consumer's partitions come with a
// heartbeat (the one its subscribe starts), which a loaded machine may take a while to finish.
const FIRST_DELIVERY_MS = 3000;

/**
 * What `sub` is sent before a fence: a message published on `topic` (one its consumer takes), acked here. A
 * consumer's deliveries come in seq order, so whatever was due to it before the fence has come by then.
 */
async function drain(broker: Broker, sub: LocalSubscriber, topic: string): Promise<Delivery[]> {
  const [fence] = await publishN(broker, topic, 1);
  const out: Delivery[] = [];
  for (;;) {
    const d = await sub.next(FIRST_DELIVERY_MS);
    if (d === undefined) throw new Error(`no fence (seq ${fence}) after ${JSON.stringify(seqsOf(out))}`);
    if (d.message.seq === fence) {
      sub.ack(fence);
      return out;
    }
    out.push(d);
  }
}

/**
 * Deliveries until `idleMs` passes with none (the first may take up to FIRST_DELIVERY_MS): for members of one
 * consumer, which a fence reaches only one of.
 */
async function takeUntilQuiet(sub: LocalSubscriber, idleMs: number): Promise<Delivery[]> {
  const out: Delivery[] = [];
  for (;;) {
    const d = await sub.next(out.length === 0 ? FIRST_DELIVERY_MS : idleMs);
    if (d === undefined) return out;
    out.push(d);
  }
}

describe('resuming', () => {
  test('a consumer that unsubscribes resumes after its last acked message', async () => {
    const { broker } = await start();
    const first = await subscribe(broker, { pattern: 'jobs', consumer: 'worker' });
    await publishN(broker, 'jobs', 5);
    const got = await first.take(5, 2000);
    expect(seqsOf(got)).toEqual([1, 2, 3, 4, 5]);
    for (const seq of [1, 2, 3]) first.ack(seq);
    first.close();
    await publishN(broker, 'jobs', 2);

    const second = await subscribe(broker, { pattern: 'jobs', consumer: 'worker' });
    const again = await drain(broker, second, 'jobs');
    expect(again.map((d) => [d.message.seq, d.delivery])).toEqual([
      [4, 2],
      [5, 2],
      [6, 1],
      [7, 1],
    ]);
  });

  test('a consumer resumes after its last acked message when the broker is closed and reopened', async () => {
    const d = await dir();
    const first = await open(d);
    const sub = await subscribe(first, { pattern: 'orders.*', consumer: 'billing' });
    await publishN(first, 'orders.created', 6);
    expect(seqsOf(await sub.take(6, 2000))).toEqual([1, 2, 3, 4, 5, 6]);
    for (const seq of [1, 2, 3, 4]) sub.ack(seq);
    await first.close(); // flushes the acks

    expect(query(d, `SELECT position FROM consumers WHERE id = 'billing'`)).toEqual([{ position: 4 }]);
    expect(query(d, `SELECT seq FROM processed_messages WHERE consumer = 'billing' ORDER BY seq`)).toEqual(
      [1, 2, 3, 4].map((seq) => ({ seq })),
    );

    const second = await open(d);
    expect(second.consumer('billing')).toMatchObject({ position: 4, patterns: ['orders.*'] });
    // Published while nobody is subscribed: still the consumer's.
    await publishN(second, 'orders.created', 1);
    const resumed = await subscribe(second, { pattern: 'orders.*', consumer: 'billing' });
    // 5 and 6 were delivered once before the restart: this is their second delivery.
    expect((await drain(second, resumed, 'orders.created')).map((x) => [x.message.seq, x.delivery])).toEqual([
      [5, 2],
      [6, 2],
      [7, 1],
    ]);
  });

  test('out-of-order acks survive a restart: only the unacked message and later ones come back', async () => {
    const d = await dir();
    const first = await open(d);
    const sub = await subscribe(first, { pattern: 'q', consumer: 'c1' });
    await publishN(first, 'q', 4);
    expect(seqsOf(await sub.take(4, 2000))).toEqual([1, 2, 3, 4]);
    sub.ack(1);
    sub.ack(3);
    await positionReaches(first, 'c1', 1);
    expect(first.consumer('c1')).toMatchObject({ position: 1, inFlight: 2 });
    await first.close();

    const second = await open(d);
    await publishN(second, 'q', 1);
    const resumed = await subscribe(second, { pattern: 'q', consumer: 'c1' });
    const got = await drain(second, resumed, 'q');
    expect(seqsOf(got)).toEqual([2, 4, 5]);
    for (const x of got) resumed.ack(x.message.seq);
    // Past the fence (6) too.
    await positionReaches(second, 'c1', 6);
    expect((await second.consumerReport('c1'))._unsafeUnwrap()).toMatchObject({ position: 6, inFlight: 0, lag: 0 });
    await second.close();
    expect(query(d, `SELECT position FROM consumers WHERE id = 'c1'`)).toEqual([{ position: 6 }]);
  });

  test('a new durable consumer starts at the head; an explicit start rewinds it', async () => {
    const { broker } = await start();
    await publishN(broker, 'h', 3);
    const sub = await subscribe(broker, { pattern: 'h', consumer: 'late' });
    await publishN(broker, 'h', 1);
    expect(seqsOf(await drain(broker, sub, 'h'))).toEqual([4]);
    sub.ack(4);
    sub.close();
    const rewound = await subscribe(broker, { pattern: 'h', consumer: 'late', start: { kind: 'seq', seq: 2 } });
    expect((await drain(broker, rewound, 'h')).map((d) => [d.message.seq, d.delivery])).toEqual([
      [2, 1],
      [3, 1],
      [4, 1],
      [5, 1], // the first drain's fence
    ]);
  });

  test('rewinding a consumer whose last member left with unacked messages delivers each message once, in order', async () => {
    const { broker } = await start();
    const sub = await subscribe(broker, { pattern: 'h', consumer: 'rw' });
    await publishN(broker, 'h', 4);
    expect(seqsOf(await sub.take(4, 2000))).toEqual([1, 2, 3, 4]);
    sub.ack(1);
    sub.ack(2);
    sub.close(); // 3 and 4 are unacked: they wait for the consumer's next member
    const rewound = await subscribe(broker, { pattern: 'h', consumer: 'rw', start: { kind: 'seq', seq: 2 } });
    expect(seqsOf(await drain(broker, rewound, 'h'))).toEqual([2, 3, 4]);
  });
});

describe('redelivery', () => {
  test('an unacked delivery is redelivered after the ack timeout with its delivery count raised', async () => {
    const { broker, db } = await start({ ackTimeoutMs: 150 });
    const sub = await subscribe(broker, { pattern: 'r', consumer: 'slow' });
    await publishN(broker, 'r', 2);
    const first = await sub.take(2, 2000);
    const deliveredAt = Date.now();
    expect(first.map((d) => [d.message.seq, d.delivery])).toEqual([
      [1, 1],
      [2, 1],
    ]);
    sub.ack(1);
    const again = await sub.next(2000);
    expect(Date.now() - deliveredAt).toBeGreaterThanOrEqual(140);
    expect(again && [again.message.seq, again.delivery]).toEqual([2, 2]);
    const third = await sub.next(2000);
    expect(third && [third.message.seq, third.delivery]).toEqual([2, 3]);
    sub.ack(2);
    // A fence left unacked comes again at its ack timeout, after 2's would have passed: 2 is not sent again.
    const [fence] = await publishN(broker, 'r', 1);
    expect((await sub.take(2, 2000)).map((d) => [d.message.seq, d.delivery])).toEqual([
      [fence, 1],
      [fence, 2],
    ]);
    sub.ack(fence!);
    await until('the acks stored', () => query(db, `SELECT seq FROM processed_messages WHERE consumer = 'slow'`).length === 3);
    expect(query(db, `SELECT seq, delivery FROM processed_messages WHERE consumer = 'slow' ORDER BY seq`)).toEqual([
      { seq: 1, delivery: 1 },
      { seq: 2, delivery: 3 },
      { seq: fence, delivery: 2 },
    ]);
  });

  test('a nack redelivers at once, or after its delay', async () => {
    const { broker } = await start();
    const sub = await subscribe(broker, { pattern: 'n', consumer: 'picky' });
    await publishN(broker, 'n', 1);
    const [d1] = await sub.take(1, 2000);
    expect(d1?.delivery).toBe(1);
    sub.nack(1);
    const d2 = await sub.next(100);
    expect(d2 && [d2.message.seq, d2.delivery]).toEqual([1, 2]);

    const nackedAt = Date.now();
    sub.nack(1, 300);
    // The first delivery after the nack is the redelivery, no sooner than its delay.
    const d3 = await sub.next(2000);
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(290);
    expect(d3 && [d3.message.seq, d3.delivery]).toEqual([1, 3]);
    sub.ack(1);
    // A fence nacked with the same delay comes again after any timer left for 1 would have fired: 1 does not.
    const [fence] = await publishN(broker, 'n', 1);
    expect((await sub.next(2000))?.message.seq).toBe(fence);
    sub.nack(fence!, 300);
    const fenceAgain = await sub.next(2000);
    expect(fenceAgain && [fenceAgain.message.seq, fenceAgain.delivery]).toEqual([fence, 2]);
    sub.ack(fence!);
  });

  test('a short nack delay is kept to about itself, not to the ack-deadline tick (up to 250 ms)', async () => {
    const { broker } = await start({ ackTimeoutMs: 30_000, maxDeliveries: 100 });
    const sub = await subscribe(broker, { pattern: 'quick', consumer: 'retrier' });
    await publishN(broker, 'quick', 1);
    expect((await sub.take(1, 2000)).length).toBe(1);
    // Ten nack-and-wait cycles of 20 ms: about 0.2 s if each delay is kept, 2.5 s if each waits for the tick.
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) {
      sub.nack(1, 20);
      const again = await sub.next(2000);
      expect(again?.delivery).toBe(i + 2);
    }
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(Date.now() - t0).toBeLessThan(1200);
  });

  test('nacking the same delivery twice redelivers it once, and never again after its ack', async () => {
    const { broker } = await start({ ackTimeoutMs: 200 });
    const sub = await subscribe(broker, { pattern: 'n2', consumer: 'twice' });
    await publishN(broker, 'n2', 1);
    const [first] = await sub.take(1, 2000);
    sub.nack(1, 50);
    sub.nack(1, 50); // e.g. a client that repeats its nack frame
    const [again] = await sub.take(1, 2000);
    sub.ack(1);
    // A new message, left unacked: it comes again at its ack timeout, after the second nack's delay and the
    // redelivery's ack timeout have passed, so 1 would have come a third time before it.
    await publishN(broker, 'n2', 1);
    const later = await sub.take(2, 2000);
    sub.ack(2); // its ack wakes the stream again
    expect([first, again, ...later].map((d) => [d!.message.seq, d!.delivery])).toEqual([
      [1, 1],
      [1, 2],
      [2, 1],
      [2, 2],
    ]);
    await positionReaches(broker, 'twice', 2);
    expect(broker.consumer('twice')).toMatchObject({ inFlight: 0, position: 2 });
  });

  test('after maxDeliveries a message goes to the dead letters and is marked dead', async () => {
    const { broker, db } = await start({ ackTimeoutMs: 100, maxDeliveries: 3 });
    const sub = await subscribe(broker, { pattern: 'pay.*', consumer: 'payments' });
    const [poison, good] = (
      await broker.publishBatch([
        { topic: 'pay.in', payload: 'poison', metadata: { k: 'v' } },
        { topic: 'pay.in', payload: 'good' },
      ])
    )._unsafeUnwrap();
    const deliveries: [number, number][] = [];
    for (;;) {
      const d = await sub.next(500);
      if (d === undefined) break;
      deliveries.push([d.message.seq, d.delivery]);
      if (d.message.seq === good!.seq) sub.ack(d.message.seq);
    }
    expect(deliveries).toEqual([
      [poison!.seq, 1],
      [good!.seq, 1],
      [poison!.seq, 2],
      [poison!.seq, 3],
    ]);
    await vi.waitFor(() => expect(statusOf(db)).toEqual({ [poison!.seq]: 'dead', [good!.seq]: 'processed' }), { timeout: 2000 });
    const letters = query<Record<string, unknown>>(db, 'SELECT consumer, seq, topic, payload, metadata, deliveries, reason FROM dead_letters');
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ consumer: 'payments', seq: poison!.seq, topic: 'pay.in', payload: 'poison', deliveries: 3 });
    expect(JSON.parse(letters[0]!.metadata as string)).toMatchObject({ k: 'v' });
    expect(letters[0]!.reason).toMatch(/3 deliveries/);
    expect((await broker.consumerReport('payments'))._unsafeUnwrap()).toMatchObject({ position: good!.seq, inFlight: 0, deadLetters: 1, lag: 0 });
    expect(query(db, `SELECT position FROM consumers WHERE id = 'payments'`)).toEqual([{ position: good!.seq }]);
  });
});

describe('redelivery backoff', () => {
  /** The next delivery, with how long after `since` it came. */
  async function nextAfter(sub: LocalSubscriber, since: number): Promise<{ seq: number; delivery: number; waitedMs: number }> {
    const d = await sub.next(5000);
    if (d === undefined) throw new Error('no delivery within 5 s');
    return { seq: d.message.seq, delivery: d.delivery, waitedMs: Date.now() - since };
  }

  test("a nack without delay_ms waits the backoff's k-th wait before the k-th redelivery, the last one repeating", async () => {
    const { broker } = await start({ maxDeliveries: 10 });
    const sub = await subscribe(broker, { pattern: 'bo', consumer: 'patient', backoffMs: [100, 400] });
    const [x, y] = await publishN(broker, 'bo', 2);
    expect(seqsOf(await sub.take(2, FIRST_DELIVERY_MS))).toEqual([x, y]);
    // Each round nacks x without a delay and y with one between x's two waits: which comes back first tells
    // which wait x was given, with no upper bound on a clock.
    const rounds: [number, number][] = [];
    for (const [yDelayMs, xWaitMs] of [
      [250, 100],
      [150, 400],
      [150, 400],
    ] as const) {
      const nackedAt = Date.now();
      sub.nack(x!);
      sub.nack(y!, yDelayMs);
      const first = await nextAfter(sub, nackedAt);
      const second = await nextAfter(sub, nackedAt);
      const ofX = first.seq === x ? first : second;
      expect(ofX.waitedMs).toBeGreaterThanOrEqual(xWaitMs - 2); // timers may fire a millisecond early on Node
      rounds.push([first.seq, second.seq]);
    }
    expect(rounds).toEqual([
      [x, y],
      [y, x],
      [y, x],
    ]);
    sub.ack(x!);
    sub.ack(y!);
    await positionReaches(broker, 'patient', y!);
  });

  test('an ack timeout waits the backoff before the redelivery, while later messages of other ordering keys flow', async () => {
    const { broker } = await start({ ackTimeoutMs: 100 });
    const sub = await subscribe(broker, { pattern: 'slow', consumer: 'sleepy', backoffMs: [400] });
    const [first] = await publishN(broker, 'slow', 1, () => 'a');
    const [d1] = await sub.take(1, FIRST_DELIVERY_MS);
    const sentAt = Date.now();
    expect(d1 && [d1.message.seq, d1.delivery]).toEqual([first, 1]);
    // Timed out: no longer awaiting its ack, waiting for its redelivery instead.
    await until('the ack timeout', () => broker.consumer('sleepy')?.inFlight === 0);
    const [other] = await publishN(broker, 'slow', 1, () => 'b');
    const d2 = await sub.next(5000);
    expect(d2 && [d2.message.seq, d2.delivery]).toEqual([other, 1]);
    sub.ack(other!);
    const d3 = await sub.next(5000);
    expect(d3 && [d3.message.seq, d3.delivery]).toEqual([first, 2]);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(100 + 400 - 2);
    sub.ack(first!);
    await positionReaches(broker, 'sleepy', other!);
  });

  test('a consumer saved with a backoff keeps it across a restart, and its redeliveries wait it; a save without one keeps it, null removes it', async () => {
    const d = await dir();
    const first = await open(d);
    (await first.saveConsumer({ id: 'kept', address: null, patterns: ['k'], backoffMs: [300] }))._unsafeUnwrap();
    expect(first.consumer('kept')?.backoffMs).toEqual([300]);
    await first.close();

    const second = await open(d);
    expect((await second.consumerReport('kept'))._unsafeUnwrap().backoffMs).toEqual([300]);
    const sub = await subscribe(second, { pattern: 'k', consumer: 'kept' });
    const [seq] = await publishN(second, 'k', 1);
    expect(seqsOf(await sub.take(1, FIRST_DELIVERY_MS))).toEqual([seq]);
    const nackedAt = Date.now();
    sub.nack(seq!);
    const again = await sub.next(5000);
    expect(again?.delivery).toBe(2);
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(300 - 2);
    sub.ack(seq!);

    (await second.saveConsumer({ id: 'kept', address: null, patterns: ['k'] }))._unsafeUnwrap();
    expect(second.consumer('kept')?.backoffMs).toEqual([300]);
    (await second.saveConsumer({ id: 'kept', address: null, patterns: ['k'], backoffMs: null }))._unsafeUnwrap();
    expect(second.consumer('kept')?.backoffMs).toBeNull();
    await second.close();
    const third = await open(d);
    expect(third.consumer('kept')?.backoffMs).toBeNull();
  });

  test('a bad backoff is refused with BAD_ARGS and stores nothing', async () => {
    const { broker } = await start();
    const rule = /^backoff_ms must be an array of 1 to 32 whole numbers of ms, each from 0 to 86400000$/;
    for (const backoffMs of [[], [-1], [1.5], [86_400_001], Array.from({ length: 33 }, () => 10)]) {
      expect((await broker.saveConsumer({ id: 'bad', address: null, patterns: ['b'], backoffMs }))._unsafeUnwrapErr()).toMatchObject({ code: 'BAD_ARGS', message: expect.stringMatching(rule) as string });
      expect((await broker.subscribe({ pattern: 'b', consumer: 'bad', backoffMs }, { deliver: () => true }))._unsafeUnwrapErr()).toMatchObject({ code: 'BAD_ARGS' });
    }
    expect(broker.consumer('bad')).toBeUndefined();
    // Without a consumer nothing is redelivered, so a backoff means nothing there.
    expect((await broker.subscribe({ pattern: 'b', backoffMs: [10] }, { deliver: () => true }))._unsafeUnwrapErr()).toMatchObject({ code: 'BAD_ARGS', message: expect.stringMatching(/needs a consumer/) as string });
    (await broker.saveConsumer({ id: 'good', address: null, patterns: ['b'], backoffMs: [10] }))._unsafeUnwrap();
    expect((await broker.saveConsumer({ id: 'good', address: null, patterns: ['b'], backoffMs: [-10] })).isErr()).toBe(true);
    expect(broker.consumer('good')?.backoffMs).toEqual([10]);
    expect(broker.stats().subscriptions).toBe(0);
  });
});

describe('the delivery count across restarts', () => {
  const counts = (db: TestDb, consumer: string): { seq: number; deliveries: number }[] =>
    query(db, 'SELECT seq, deliveries FROM delivery_counts WHERE consumer = ? ORDER BY seq', consumer);

  /**
   * One broker lifetime on `db`: subscribes, takes `n` deliveries (nacking each but the last), closes. A
   * delivery is waited for as long as a loaded machine may take while the message is not dead-lettered; once
   * it is, nothing more is due, and a short wait only guards against one coming all the same.
   */
  async function lifetime(db: TestDb, n: number, overrides = {}): Promise<{ got: [number, number][]; deadLetters: number }> {
    const broker = await open(db, { maxDeliveries: 3, ...overrides });
    const sub = await subscribe(broker, { pattern: 'poison', consumer: 'worker' });
    const got: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      const d = await sub.next((await deadLettersOf(broker, 'worker')) === 0 ? FIRST_DELIVERY_MS : 400);
      if (d === undefined) break;
      got.push([d.message.seq, d.delivery]);
      if (i < n - 1) sub.nack(d.message.seq);
    }
    const deadLetters = await deadLettersOf(broker, 'worker');
    sub.close();
    await broker.close();
    return { got, deadLetters };
  }

  /** A database holding consumer `worker` and one message for it that it will never ack. */
  async function poisoned(): Promise<{ d: TestDir; seq: number }> {
    const d = await dir();
    const broker = await open(d);
    (await subscribe(broker, { pattern: 'poison', consumer: 'worker' })).close();
    const [seq] = await publishN(broker, 'poison', 1);
    await broker.close();
    return { d, seq: seq! };
  }

  test('the count goes on after each restart, so EVENTBUS_MAX_DELIVERIES caps all lifetimes together', async () => {
    const { d, seq } = await poisoned();

    // Twice per lifetime without an ack, as the defect report did: 1, 2 | 3, then the dead letters.
    expect(await lifetime(d, 2)).toEqual({ got: [[seq, 1], [seq, 2]], deadLetters: 0 });
    expect(counts(d, 'worker')).toEqual([{ seq, deliveries: 2 }]);
    const second = await lifetime(d, 2);
    expect(second.got).toEqual([[seq, 3]]); // its nack was the third failed attempt
    expect(second.deadLetters).toBe(1);
    expect(await lifetime(d, 2)).toEqual({ got: [], deadLetters: 1 });
    expect(query(d, 'SELECT seq, deliveries FROM dead_letters')).toEqual([{ seq, deliveries: 3 }]);
    expect(statusOf(d)[seq]).toBe('dead');
    expect(counts(d, 'worker')).toEqual([]);
  });

  test('a message whose last allowed delivery was unacked at the restart goes to the dead letters without being sent again', async () => {
    const { d, seq } = await poisoned();
    expect((await lifetime(d, 3)).got).toEqual([[seq, 1], [seq, 2], [seq, 3]]);
    expect(await lifetime(d, 1)).toEqual({ got: [], deadLetters: 1 });
    const [letter] = query<{ deliveries: number; reason: string }>(d, 'SELECT deliveries, reason FROM dead_letters');
    expect(letter).toEqual({ deliveries: 3, reason: 'not acked after 3 deliveries (the last before a restart)' });
  });

  test('a rewind starts the count over, and the new count is what carries over a restart', async () => {
    const d = await dir();
    const first = await open(d);
    const sub = await subscribe(first, { pattern: 'again', consumer: 'rewound' });
    const [seq] = await publishN(first, 'again', 1);
    expect((await sub.next(2000))?.delivery).toBe(1);
    sub.nack(seq!);
    expect((await sub.next(2000))?.delivery).toBe(2);
    await until('the count of 2 written', () => counts(d, 'rewound')[0]?.deliveries === 2);
    (await first.replay('rewound', seq!))._unsafeUnwrap();
    expect((await sub.next(2000))?.delivery).toBe(1);
    sub.close();
    await first.close();
    expect(counts(d, 'rewound')).toEqual([{ seq, deliveries: 1 }]);
    const second = await open(d);
    const resumed = await subscribe(second, { pattern: 'again', consumer: 'rewound' });
    expect((await resumed.next(2000))?.delivery).toBe(2);
  });

  test('a consumer removed and created again starts its counts afresh', async () => {
    const d = await dir();
    const first = await open(d);
    const sub = await subscribe(first, { pattern: 'gone', consumer: 'phoenix' });
    const [seq] = await publishN(first, 'gone', 1);
    await sub.next(2000);
    await until('the count written', () => counts(d, 'phoenix').length === 1);
    expect(counts(d, 'phoenix')).toEqual([{ seq, deliveries: 1 }]);
    sub.close();
    (await first.removeConsumer('phoenix'))._unsafeUnwrap();
    expect(counts(d, 'phoenix')).toEqual([]);
    const reborn = await subscribe(first, { pattern: 'gone', consumer: 'phoenix', start: { kind: 'seq', seq: 1 } });
    expect((await reborn.next(2000))?.delivery).toBe(1);
  });

  test('a delivery unacked through a flush is written; acked ones leave no row once the position passes them', async () => {
    const { broker, db } = await start();
    const sub = await subscribe(broker, { pattern: 'fast', consumer: 'quick' });
    await publishN(broker, 'fast', 2000);
    for (let i = 0; i < 2000; i++) sub.ack((await sub.next(2000))!.message.seq);
    await positionReaches(broker, 'quick', 2000);
    await until('no count left of the acked deliveries', () => counts(db, 'quick').length === 0);

    await publishN(broker, 'fast', 3);
    const slow = await sub.take(3, 2000);
    // Unacked through a flush: written.
    await until('three counts written', () => counts(db, 'quick').length === 3);
    expect(counts(db, 'quick').map((r) => r.deliveries)).toEqual([1, 1, 1]);
    sub.ack(slow[2]!.message.seq);
    sub.ack(slow[0]!.message.seq);
    // On SQLite an ack above the position keeps its row until the position passes it; on PostgreSQL, whose
    // positions are per partition and move at heartbeats, an ack clears its own row.
    const left = (onPostgres ? [slow[1]!] : [slow[1]!, slow[2]!]).map((d) => d.message.seq);
    await until('the counts of the acked deliveries gone', () => counts(db, 'quick').length === left.length);
    expect(counts(db, 'quick').map((r) => r.seq)).toEqual(left);
    sub.ack(slow[1]!.message.seq);
    await until('every count gone', () => counts(db, 'quick').length === 0);
  });
});

describe('message status', () => {
  test("'processed' once every durable consumer whose patterns match has acked; 'pending' before", async () => {
    const { broker, db } = await start();
    const a = await subscribe(broker, { pattern: 'orders.*', consumer: 'a' });
    const b = await subscribe(broker, { pattern: 'orders.#', consumer: 'b' });
    const unrelated = await subscribe(broker, { pattern: 'other.*', consumer: 'c' });
    const [s1, s2] = await publishN(broker, 'orders.created', 2);

    expect(seqsOf(await a.take(2, 2000))).toEqual([s1, s2]);
    a.ack(s1!);
    a.ack(s2!);
    await until("a's acks stored", () => query(db, `SELECT seq FROM processed_messages WHERE consumer = 'a'`).length === 2);
    expect(statusOf(db)).toEqual({ [s1!]: 'pending', [s2!]: 'pending' });
    expect(query(db, 'SELECT consumer, seq FROM processed_messages ORDER BY consumer, seq')).toEqual([
      { consumer: 'a', seq: s1 },
      { consumer: 'a', seq: s2 },
    ]);

    expect(seqsOf(await b.take(2, 2000))).toEqual([s1, s2]);
    b.ack(s2!);
    await vi.waitFor(() => expect(statusOf(db)).toEqual({ [s1!]: 'pending', [s2!]: 'processed' }), { timeout: 2000 });
    b.ack(s1!);
    await vi.waitFor(() => expect(statusOf(db)).toEqual({ [s1!]: 'processed', [s2!]: 'processed' }), { timeout: 2000 });
    // The unrelated consumer's first delivery is a fence of its own: no orders.* message came before it.
    const [fence] = await publishN(broker, 'other.fence', 1);
    expect((await unrelated.next(2000))?.message.seq).toBe(fence);
  });

  test("a matching consumer that is not subscribed right now keeps the message 'pending'", async () => {
    const { broker, db } = await start();
    const away = await subscribe(broker, { pattern: 'ev', consumer: 'away' });
    away.close();
    const here = await subscribe(broker, { pattern: 'ev', consumer: 'here' });
    const [seq] = await publishN(broker, 'ev', 1);
    expect(seqsOf(await here.take(1, 2000))).toEqual([seq]);
    here.ack(seq!);
    // A fence acked by a consumer of its own is marked processed by the status writes that follow here's ack:
    // by then here's ack alone has still not made the message processed.
    const fencing = await subscribe(broker, { pattern: 'fence', consumer: 'fencing' });
    const [fence] = await publishN(broker, 'fence', 1);
    fencing.ack((await fencing.next(2000))!.message.seq);
    await until('the fence processed', () => statusOf(db)[fence!] === 'processed');
    expect(statusOf(db)).toEqual({ [seq!]: 'pending', [fence!]: 'processed' });

    const back = await subscribe(broker, { pattern: 'ev', consumer: 'away' });
    expect(seqsOf(await back.take(1, 2000))).toEqual([seq]);
    back.ack(seq!);
    await vi.waitFor(() => expect(statusOf(db)).toEqual({ [seq!]: 'processed', [fence!]: 'processed' }), { timeout: 2000 });
  });
});

describe('queue groups', () => {
  test('a group without a consumer is refused with BAD_ARGS, rather than silently delivering everything to each', async () => {
    const { broker } = await start();
    const refused = await broker.subscribe({ pattern: 'work', group: 'g' }, { deliver: () => true });
    expect(refused._unsafeUnwrapErr()).toMatchObject({ code: 'BAD_ARGS', message: expect.stringContaining('group needs a consumer') });
  });

  /** Three members, subscribed one after the other (or all at once), acking what they get. */
  async function splitAmongThree(concurrently: boolean): Promise<void> {
    const { broker } = await start();
    const options = { pattern: 'work', consumer: 'pool', group: 'g' };
    const members: LocalSubscriber[] = [];
    if (concurrently) members.push(...(await Promise.all([1, 2, 3].map(() => subscribe(broker, options)))));
    else for (let i = 0; i < 3; i++) members.push(await subscribe(broker, options));
    await until('all three attached', () => broker.consumer('pool')?.subscribers === 3);
    const published = await publishN(broker, 'work', 90);
    const received = await Promise.all(
      members.map(async (m) => {
        const seqs: number[] = [];
        for (;;) {
          const d = await m.next(300);
          if (d === undefined) return seqs;
          seqs.push(d.message.seq);
          m.ack(d.message.seq);
        }
      }),
    );
    for (const seqs of received) {
      expect(seqs.length).toBeGreaterThan(0);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    }
    const all = received.flat();
    expect(all).toHaveLength(90);
    expect([...all].sort((x, y) => x - y)).toEqual(published);
    expect(broker.consumer('pool')).toMatchObject({ subscribers: 3, inFlight: 0 });
  }

  test('members split the messages: every message to exactly one member', async () => {
    await splitAmongThree(false);
  });

  test('two first subscribes of one consumer in the same moment keep the later start, as one after the other would', async () => {
    const { broker } = await start();
    await publishN(broker, 'race', 5);
    const delivered: number[] = [];
    const sink = (): Sink => ({ deliver: (d) => (delivered.push(d.message.seq), true) });
    const both = await Promise.all([
      broker.subscribe({ pattern: 'race', consumer: 'racer', start: { kind: 'seq', seq: 1 } }, sink()),
      broker.subscribe({ pattern: 'race', consumer: 'racer', start: { kind: 'seq', seq: 4 } }, sink()),
    ]);
    for (const r of both) r._unsafeUnwrap();
    // A fence comes after whatever else the consumer had to deliver.
    const [fence] = await publishN(broker, 'race', 1);
    await vi.waitFor(() => expect(delivered).toContain(fence), { timeout: 2000 });
    expect(delivered.sort((a, b) => a - b)).toEqual([4, 5, fence]);
    expect(broker.consumer('racer')?.position).toBe(3);
  });

  test('members that subscribe at the same moment still split the messages', async () => {
    await splitAmongThree(true);
  });

  test('a member that leaves gives its unacked messages back to the others', async () => {
    const { broker, db } = await start();
    const leaver = await subscribe(broker, { pattern: 'tasks', consumer: 'crew', maxInFlight: 10 });
    const stayers = await Promise.all([1, 2].map(() => subscribe(broker, { pattern: 'tasks', consumer: 'crew', maxInFlight: 10 })));
    await until('all three attached', () => broker.consumer('crew')?.subscribers === 3);
    const published = await publishN(broker, 'tasks', 60);

    // The leaver takes what it is given and acks none of it.
    const held = seqsOf(await takeExactly(leaver, 10));
    expect(held).toHaveLength(10);
    const acked: number[] = [];
    const redelivered: number[] = [];
    const work = stayers.map(async (m) => {
      for (;;) {
        const d = await m.next(400);
        if (d === undefined) return;
        if (d.delivery > 1) redelivered.push(d.message.seq);
        acked.push(d.message.seq);
        m.ack(d.message.seq);
      }
    });
    await sleep(50);
    leaver.close();
    await Promise.all(work);

    expect([...acked].sort((x, y) => x - y)).toEqual(published);
    expect([...redelivered].sort((x, y) => x - y)).toEqual(held);
    await positionReaches(broker, 'crew', published[published.length - 1]!);
    expect(broker.consumer('crew')).toMatchObject({ position: published[published.length - 1], inFlight: 0, subscribers: 2 });
    expect(Object.values(statusOf(db)).every((s) => s === 'processed')).toBe(true);
  });

  test('messages with one ordering key go to one member, in seq order', async () => {
    const { broker } = await start();
    const members: LocalSubscriber[] = [];
    for (let i = 0; i < 3; i++) members.push(await subscribe(broker, { pattern: 'acct.*', consumer: 'ledger', maxInFlight: 500 }));
    await until('all three attached', () => broker.consumer('ledger')?.subscribers === 3);
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];
    const published = await publishN(broker, 'acct.tx', 100, (i) => keys[(i * 7 + Math.floor(i / 3)) % keys.length]!);
    const perMember = await Promise.all(members.map((m) => takeUntilQuiet(m, 300)));

    expect(perMember.flat().map((d) => d.message.seq).sort((x, y) => x - y)).toEqual(published);
    const ownerOf = new Map<string, number>();
    const seqsByKey = new Map<string, number[]>();
    perMember.forEach((ds, member) => {
      for (const d of ds) {
        const key = d.message.orderingKey!;
        expect(ownerOf.get(key) ?? member, `key ${key}`).toBe(member);
        ownerOf.set(key, member);
        seqsByKey.set(key, [...(seqsByKey.get(key) ?? []), d.message.seq]);
      }
    });
    expect(new Set(ownerOf.values()).size).toBe(3); // the keys were spread over the members
    for (const [key, seqs] of seqsByKey) {
      expect(seqs, key).toEqual([...seqs].sort((x, y) => x - y));
    }
    expect([...seqsByKey.values()].reduce((n, s) => n + s.length, 0)).toBe(100);
  });

  test('a durable member with maxInFlight 5 that acks nothing receives exactly 5, then one per ack', async () => {
    const { broker } = await start();
    const sub = await subscribe(broker, { pattern: 'lim', consumer: 'limited', maxInFlight: 5 });
    await publishN(broker, 'lim', 20);
    expect(seqsOf(await takeExactly(sub, 5))).toEqual([1, 2, 3, 4, 5]);
    expect(broker.consumer('limited')).toMatchObject({ inFlight: 5, position: 0 });
    sub.ack(3);
    expect(seqsOf(await takeExactly(sub, 1))).toEqual([6]);
    sub.ack(1);
    sub.ack(2);
    expect(seqsOf(await takeExactly(sub, 2))).toEqual([7, 8]);
    await positionReaches(broker, 'limited', 3);
    expect(broker.consumer('limited')).toMatchObject({ inFlight: 5, position: 3 });
  });

  test('a replay while deliveries are unacked keeps the in-flight window intact', async () => {
    const { broker } = await start();
    const sub = await subscribe(broker, { pattern: 'win', consumer: 'windowed', maxInFlight: 4 });
    await publishN(broker, 'win', 4);
    expect(seqsOf(await sub.take(4, 2000))).toEqual([1, 2, 3, 4]);
    sub.ack(1);
    sub.ack(2);
    (await broker.replay('windowed', 1))._unsafeUnwrap();
    // On PostgreSQL a rewind gives the consumer's partitions back, and the next heartbeat takes them again.
    const replayed = seqsOf(await sub.take(4, 2000));
    for (const seq of replayed) sub.ack(seq);
    expect(replayed).toEqual([1, 2, 3, 4]);
    await positionReaches(broker, 'windowed', 4);
    expect(broker.consumer('windowed')).toMatchObject({ inFlight: 0, position: 4 });
    // Nothing is in flight, so a full window of new messages must arrive.
    await publishN(broker, 'win', 4);
    expect(seqsOf(await takeExactly(sub, 4))).toEqual([5, 6, 7, 8]);
  });
});

describe('replay and stats', () => {
  test('replay(consumer, seq) redelivers that consumer’s messages from seq, then continues live', async () => {
    const { broker, db } = await start();
    const sub = await subscribe(broker, { pattern: 'rp', consumer: 'auditor' });
    await publishN(broker, 'rp', 6);
    for (const d of await sub.take(6, 2000)) sub.ack(d.message.seq);
    await positionReaches(broker, 'auditor', 6);

    (await broker.replay('auditor', 3))._unsafeUnwrap();
    expect(broker.consumer('auditor')?.position).toBe(2);
    const storedPosition = (): unknown => query(db, `SELECT position FROM consumers WHERE id = 'auditor'`);
    await publishN(broker, 'rp', 1);
    // On PostgreSQL the rewind gives the partitions back, and the next heartbeat takes them again.
    const again = await sub.take(5, 3000);
    // A fence comes next: no copy beyond those five.
    const [fence] = await publishN(broker, 'rp', 1);
    expect((await sub.next(3000))?.message.seq).toBe(fence);
    // Nothing was acked since the replay: the stored position is the rewound one.
    expect(storedPosition()).toEqual([{ position: 2 }]);
    expect(again.map((d) => [d.message.seq, d.delivery])).toEqual([3, 4, 5, 6, 7].map((s) => [s, 1]));

    expect((await broker.replay('nobody', 1))._unsafeUnwrapErr().code).toBe('UNKNOWN_CONSUMER');
    expect((await broker.replay('auditor', 0))._unsafeUnwrapErr().code).toBe('BAD_ARGS');
  });

  test('a consumer in this process that catches up and acks as it goes lets the event loop turn between pages', async () => {
    // A reservation that never holds the stream up: nothing but the pages themselves would let the loop turn.
    const { broker } = await start({ deliveryReservation: 1_000_000 });
    await publishN(broker, 'turns', 5000);
    const sub = await subscribe(broker, { pattern: 'turns', consumer: 'turner', start: { kind: 'seq', seq: 1 } });
    let received = 0;
    let atTurn: number | undefined;
    for await (const d of sub) {
      sub.ack(d.message.seq);
      // From the first delivery on (the first reservation written, on PostgreSQL the partitions taken).
      if (++received === 1) setImmediate(() => (atTurn = received));
      if (received === 5000) break;
    }
    // Acks come in microtasks here: without a turn between pages, all 5,000 went before timers, sockets or the
    // writer thread's answers had theirs.
    expect(atTurn).toBeLessThan(2000);
  });

  test('a replay is kept across a restart', async () => {
    const d = await dir();
    const first = await open(d);
    const sub = await subscribe(first, { pattern: 'rp', consumer: 'auditor' });
    await publishN(first, 'rp', 4);
    for (const x of await sub.take(4, 2000)) sub.ack(x.message.seq);
    await until('the acks stored', () => query(d, `SELECT seq FROM processed_messages WHERE consumer = 'auditor'`).length === 4);
    (await first.replay('auditor', 2))._unsafeUnwrap();
    sub.close();
    await first.close();

    const second = await open(d);
    const resumed = await subscribe(second, { pattern: 'rp', consumer: 'auditor' });
    expect(seqsOf(await drain(second, resumed, 'rp'))).toEqual([2, 3, 4]);
  });

  test('a replay is kept across a restart even when the acks it undoes were made the same millisecond', async () => {
    // A frozen clock makes "the same millisecond" deterministic.
    const d = await dir();
    const frozen = Date.now();
    const first = await open(d, {}, () => frozen);
    const sub = await subscribe(first, { pattern: 'rp', consumer: 'auditor' });
    await publishN(first, 'rp', 4);
    for (const x of await sub.take(4, 2000)) sub.ack(x.message.seq);
    (await first.replay('auditor', 2))._unsafeUnwrap();
    sub.close();
    await first.close();

    const second = await open(d);
    const resumed = await subscribe(second, { pattern: 'rp', consumer: 'auditor' });
    expect(seqsOf(await drain(second, resumed, 'rp'))).toEqual([2, 3, 4]);
  });

  test('stats show per-topic counts; reports show per-consumer position, lag (its own topics only), in-flight and dead letters', async () => {
    // An ack timeout long enough to see the position move (a heartbeat on PostgreSQL) before it dead-letters.
    const { broker } = await start({ ackTimeoutMs: 1500, maxDeliveries: 1 });
    const sub = await subscribe(broker, { pattern: 'a.*', consumer: 'reader' });
    await publishN(broker, 'a.x', 3);
    await publishN(broker, 'b.y', 2);
    const got = await sub.take(3, 2000);
    expect(seqsOf(got)).toEqual([1, 2, 3]);
    sub.ack(1);
    await positionReaches(broker, 'reader', 1);

    const stats = broker.stats();
    expect(stats.headSeq).toBe(5);
    expect(stats.subscriptions).toBe(1);
    const topics = Object.fromEntries(stats.topics.map((t) => [t.topic, [t.stored, t.published]]));
    expect(topics).toEqual({ 'a.x': [3, 3], 'b.y': [2, 2] });
    // b.y's messages are not the consumer's: its lag is the two a.x messages it has not acked.
    expect((await broker.consumerReports())._unsafeUnwrap()).toEqual([
      {
        ...{ id: 'reader', address: null, patterns: ['a.*'], filter: null, paused: false, position: 1, lag: 2, inFlight: 2, subscribers: 1, deadLetters: 0, lastFailure: null, backoffMs: null, format: 'eventbus' },
        // The settings' limits: it has none of its own.
        ...{ ackTimeoutMs: 1500, maxDeliveries: 1, maxInFlight: 256, ownLimits: { ackTimeoutMs: null, maxDeliveries: null, maxInFlight: null } },
      },
    ]);

    // With maxDeliveries 1 the two unacked messages are dead-lettered at their first ack timeout.
    await vi.waitFor(async () => expect((await broker.consumerReport('reader'))._unsafeUnwrap()).toMatchObject({ position: 5, lag: 0, inFlight: 0, deadLetters: 2 }), {
      timeout: 5000,
    });
    sub.close();
    expect(broker.stats().subscriptions).toBe(0);
    expect(broker.consumer('reader')?.subscribers).toBe(0);
  });

  test('the dead-letter count in stats survives a restart', async () => {
    const d = await dir();
    const first = await open(d, { ackTimeoutMs: 100, maxDeliveries: 1 });
    const sub = await subscribe(first, { pattern: 'dl', consumer: 'fragile' });
    await publishN(first, 'dl', 2);
    expect(seqsOf(await sub.take(2, 2000))).toEqual([1, 2]);
    sub.ack(2);
    await vi.waitFor(async () => expect(await deadLettersOf(first, 'fragile')).toBe(1), { timeout: 2000 });
    await first.close();
    const second = await open(d);
    expect((await second.consumerReport('fragile'))._unsafeUnwrap()).toMatchObject({ deadLetters: 1, position: 2, inFlight: 0, lag: 0 });
  });
});

describe('removing a consumer', () => {
  test('a consumer removed while the reports are being counted is left out of them; its own report is UNKNOWN_CONSUMER', async () => {
    const { broker } = await start();
    for (const id of ['stays', 'goes']) (await broker.saveConsumer({ id, address: null, patterns: ['r'] }))._unsafeUnwrap();
    await publishN(broker, 'r', 2);
    const reports = broker.consumerReports();
    const report = broker.consumerReport('goes');
    (await broker.removeConsumer('goes'))._unsafeUnwrap();
    expect((await reports)._unsafeUnwrap().map((r) => [r.id, r.lag])).toEqual([['stays', 2]]);
    expect((await report)._unsafeUnwrapErr().code).toBe('UNKNOWN_CONSUMER');
  });

  test('a consumer created again under a removed one’s name inherits none of its acks or dead letters', async () => {
    const d = await dir();
    const first = await open(d, { ackTimeoutMs: 100, maxDeliveries: 1 });
    const old = await subscribe(first, { pattern: 'again', consumer: 'reborn' });
    await publishN(first, 'again', 4);
    const delivered = await old.take(4, 2000);
    for (const x of delivered.slice(2)) old.ack(x.message.seq); // acks 3 and 4 above the floor; 1 and 2 die
    await vi.waitFor(async () => expect(await deadLettersOf(first, 'reborn')).toBe(2), { timeout: 2000 });
    old.close();
    (await first.removeConsumer('reborn'))._unsafeUnwrap();
    await first.close();
    // The new consumer on the default ack timeout: what it takes and does not ack stays unacked, not dead.
    const again = await open(d);
    const fresh = await subscribe(again, { pattern: 'again', consumer: 'reborn', start: { kind: 'seq', seq: 1 } });
    expect(await deadLettersOf(again, 'reborn')).toBe(0);
    expect(seqsOf(await fresh.take(4, 2000))).toEqual([1, 2, 3, 4]);
    expect(await deadLettersOf(again, 'reborn')).toBe(0);
    fresh.close();
    await again.close();

    const second = await open(d);
    const resumed = await subscribe(second, { pattern: 'again', consumer: 'reborn' });
    expect(seqsOf(await drain(second, resumed, 'again'))).toEqual([1, 2, 3, 4]);
    expect(await deadLettersOf(second, 'reborn')).toBe(0);
  });

  test('a subscribe answered just before its consumer is removed ends with the removal reason', async () => {
    const { broker } = await start();
    (await subscribe(broker, { pattern: 'jobs', consumer: 'gone' })).close();
    const reasons: string[] = [];
    const delivered: number[] = [];
    const sink: Sink = { deliver: (d) => (delivered.push(d.message.seq), true), closed: (reason) => reasons.push(reason) };
    // Answered, not attached yet: attachment waits for the next macrotask, and the removal comes first.
    const subscribed = (await broker.subscribe({ pattern: 'jobs', consumer: 'gone' }, sink))._unsafeUnwrap();
    const removed = broker.removeConsumer('gone');
    (await removed)._unsafeUnwrap();
    await vi.waitFor(() => expect(reasons).toEqual(['consumer gone was removed']), { timeout: 2000 });
    expect(broker.stats().subscriptions).toBe(0);
    expect(broker.ack(subscribed.subscriptionId, 1).isErr()).toBe(true);
    // A subscriber of its own on the pattern has both messages: each commit's fan-out has reached every stream
    // on it, and the removed consumer's sink was given nothing.
    const witness = await subscribe(broker, { pattern: 'jobs' });
    await publishN(broker, 'jobs', 2);
    expect(await witness.take(2, 2000)).toHaveLength(2);
    expect(delivered).toEqual([]);
  });

  // SQLite's: a writer's lock held by another connection refuses the broker's write (SQLITE_BUSY) after its
  // busy timeout; PostgreSQL takes no table lock for an insert, so there is nothing a user's session holds
  // that refuses it.
  test.skipIf(onPostgres)('a new consumer the database refuses to store is not kept in memory either', async () => {
    const { broker, db } = await start();
    // A user's transaction in an SQLite shell holds the write lock past the broker's busy timeout (5 s).
    const user = new Database(db.dbPath);
    defer(() => user.close());
    user.exec('BEGIN IMMEDIATE');

    const refused = await LocalSubscriber.open(broker, { pattern: 'orders', consumer: 'billing' });
    expect(refused._unsafeUnwrapErr()).toMatchObject({ code: 'UNAVAILABLE', message: 'storage unavailable (SQLITE_BUSY)' });
    expect(broker.consumer('billing')).toBeUndefined();
    expect(broker.consumers().map((c) => c.id)).not.toContain('billing');
    user.exec('COMMIT');
    await publishN(broker, 'orders', 2);

    const sub = await subscribe(broker, { pattern: 'orders', consumer: 'billing', start: { kind: 'seq', seq: 1 } });
    expect(seqsOf(await sub.take(2, 2000))).toEqual([1, 2]);
    expect(query<{ id: string }>(db, 'SELECT id FROM consumers').map((r) => r.id)).toEqual(['billing']);
  });
});
