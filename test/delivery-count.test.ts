// The delivery count of PROTOCOL.md §5 across broker restarts, as a WebSocket consumer meets it: a message
// received twice without an ack per broker lifetime, with the broker stopped (SIGTERM) or killed (SIGKILL)
// in between, is delivered EVENTBUS_MAX_DELIVERIES times in all and then dead-lettered, not once more per
// lifetime; a kill counts as one more delivery of what the broker may have been delivering. And after a kill
// in the middle of a stream of deliveries, a message that may have been delivered before never comes again
// as `delivery: 1` (on PostgreSQL also from another broker that takes the dead one's partitions).
import { afterEach, describe, expect, test } from 'vitest';
import { MAX_GROWTH } from '../src/core/reservation.js';
import { killIfRunning, startBrokerProcess, type BrokerProcess } from './helpers/broker-process.js';
import { onPostgres, tempDir, type TestDb, type TestDir } from './helpers/broker.js';
import { pgBrokers } from './helpers/pg-brokers.js';
import { query } from './helpers/scope.js';
import { until } from './helpers/until.js';
import { wsConnect, type Frame, type MessageFrame, type WsClient } from './helpers/ws-client.js';

let dir: TestDir | undefined;
let bus: BrokerProcess | undefined;
afterEach(async () => {
  await killIfRunning(bus);
  await dir?.cleanup();
});

/**
 * One broker lifetime: subscribes as the consumer, takes up to two deliveries of the poison message without
 * acking either (the first, and any at the cap, are nacked), then ends the broker with `signal`. Returns the
 * delivery counts seen.
 */
async function lifetime(db: TestDb, signal: NodeJS.Signals, publish: boolean): Promise<number[]> {
  bus = await startBrokerProcess({ ...db.env, EVENTBUS_MAX_DELIVERIES: '3' });
  const ws = await wsConnect(bus.ports.http);
  const sub = await ws.subscribe({ pattern: 'poison.*', consumer: 'poisoned' });
  if (publish) await ws.publish({ topic: 'poison.pill', payload: 'boom' });
  const seen: number[] = [];
  for (let i = 0; i < 2; i++) {
    let m: MessageFrame;
    try {
      [m] = (await ws.messages(sub, 1, 1000)) as [MessageFrame];
    } catch {
      break; // nothing (more) comes
    }
    seen.push(m.delivery);
    // The consumer crashes on it, every time: a nack, which counts as a failed attempt.
    if (i === 0 || m.delivery >= 3) ws.send({ type: 'nack', subscription: sub, seq: m.seq });
  }
  // What a kill must find written: the last delivery's count (written once it stays unacked through a flush),
  // or, at the cap, its dead letter.
  const last = Math.max(0, ...seen);
  if (last >= 3) await until('the dead letter written', () => Number(query<{ n: number }>(db, 'SELECT count(*) AS n FROM dead_letters')[0]?.n) === 1);
  else if (last > 0) {
    const counted = () => query<{ deliveries: number }>(db, "SELECT deliveries FROM delivery_counts WHERE consumer = 'poisoned'")[0]?.deliveries ?? 0;
    await until(() => `delivery ${last}'s count written (the store holds ${counted()})`, () => counted() >= last);
  }
  await ws.close();
  bus.signal(signal);
  const exit = await bus.exited();
  expect(exit).toEqual(signal === 'SIGKILL' ? { code: null, signal: 'SIGKILL' } : { code: 0, signal: null });
  return seen;
}

describe.each(['SIGTERM', 'SIGKILL'] as const)('restarts by %s', (signal) => {
  // A kill counts as the third delivery: the second was unacked when the broker died, and a third may have
  // gone out after its count was written. A clean stop writes every count, so the third is delivered.
  const expected = signal === 'SIGKILL' ? [[1, 2], [], [], []] : [[1, 2], [3], [], []];
  const lifetimesSeen = signal === 'SIGKILL' ? '1, 2 | the kill as the 3rd' : '1, 2 | 3';
  test(`EVENTBUS_MAX_DELIVERIES=3 holds across broker lifetimes: ${lifetimesSeen}, then the dead letters`, async () => {
    dir = await tempDir();
    const lifetimes: number[][] = [];
    for (let i = 0; i < 4; i++) lifetimes.push(await lifetime(dir, signal, i === 0));
    expect(lifetimes).toEqual(expected);
    expect(query(dir, 'SELECT consumer, payload, deliveries FROM dead_letters')).toEqual([{ consumer: 'poisoned', payload: 'boom', deliveries: 3 }]);
    expect(query(dir, "SELECT status FROM messages WHERE topic = 'poison.pill'")).toEqual([{ status: 'dead' }]);
    expect(query(dir, 'SELECT count(*) AS n FROM delivery_counts')).toEqual([{ n: 0 }]);
  }, 120_000);
});

// Small, so that a test can publish past it; the broker writes one reservation per this many seqs.
const RESERVATION = 50;

/** Every delivery a connection receives, by seq (the last delivery count seen); acks every third seq when asked. */
async function recordingConsumer(port: number, seen: Map<number, number>, ackSome: boolean): Promise<WsClient> {
  const ws: WsClient = await wsConnect(port, {
    consume: (f: Frame) => {
      if (f.type !== 'message') return false;
      const seq = f['seq'] as number;
      seen.set(seq, f['delivery'] as number);
      if (ackSome && seq % 3 === 0) ws.send({ type: 'ack', subscription: f['subscription'], seq });
      return true;
    },
  });
  return ws;
}

/** Publishes batches until stopped or the connection fails (a kill). */
function keepPublishing(ws: WsClient, topic: string): { stop(): Promise<void> } {
  let alive = true;
  const loop = (async () => {
    try {
      while (alive) {
        const reply = await ws.request({ type: 'publish_batch', messages: Array.from({ length: 20 }, (_, i) => ({ topic, payload: `m${i}` })) }, 10_000);
        if (reply.type !== 'published') throw new Error(`unexpected ${JSON.stringify(reply)}`);
      }
    } catch {
      // the kill
    }
  })();
  return {
    stop: async () => {
      alive = false;
      await loop;
    },
  };
}

/** The stored reservation that covers each seq, per the store (PostgreSQL keeps one per partition, seq % 16 without a key). */
function reservationOf(db: TestDb, consumer: string): (seq: number) => number {
  if (db.pgSchema === undefined) {
    const [row] = query<{ r: number }>(db, 'SELECT reserved_seq AS r FROM consumers WHERE id = ?', consumer);
    return () => row!.r;
  }
  const rows = query<{ p: number; r: number }>(db, 'SELECT partition AS p, reserved_seq AS r FROM consumer_partitions WHERE consumer = ?', consumer);
  const byPartition = new Map(rows.map((row) => [row.p, row.r]));
  return (seq) => byPartition.get(seq % rows.length) ?? 0;
}

/** Publishes a fence and waits for its delivery: a lone member receives first deliveries in seq order. */
async function everythingThroughFence(publisher: WsClient, seen: Map<number, number>, topic: string): Promise<void> {
  const { seq: fence } = await publisher.publish({ topic, payload: 'fence' });
  await until(() => `the deliveries through the fence ${fence} (${seen.size} so far)`, () => seen.has(fence), 60_000);
}

describe('a kill in the middle of deliveries', () => {
  test('every message delivered before the kill that comes again carries delivery >= 2; one past the reservation carries 1', async () => {
    dir = await tempDir();
    const env = { ...dir.env, EVENTBUS_DELIVERY_RESERVATION: String(RESERVATION), EVENTBUS_ACK_TIMEOUT_MS: '120000' };
    bus = await startBrokerProcess(env);
    const before = new Map<number, number>();
    let consumer = await recordingConsumer(bus.ports.http, before, true);
    await consumer.subscribe({ pattern: 'crash.*', consumer: 'crashy', max_in_flight: 1_000_000 });
    let publisher = await wsConnect(bus.ports.http);
    const publishing = keepPublishing(publisher, 'crash.stream');
    // Killed while messages keep being delivered: the last ones went out moments before.
    await until(() => `500 deliveries (${before.size} so far)`, () => before.size >= 500, 60_000);
    bus.signal('SIGKILL');
    await bus.exited();
    await publishing.stop();
    await consumer.close();
    await publisher.close();
    const reserved = reservationOf(dir, 'crashy');

    bus = await startBrokerProcess(env);
    publisher = await wsConnect(bus.ports.http);
    // Published after the kill, most of them past every reservation: never delivered, so first deliveries. The
    // reservation may have grown to MAX_GROWTH chunks (the stream went fast): 120 past a chunk and a half of those.
    const later = 120 + RESERVATION * MAX_GROWTH * 1.5;
    for (let i = 0; i < later; i += 40) await publisher.request({ type: 'publish_batch', messages: Array.from({ length: 40 }, () => ({ topic: 'crash.later', payload: 'later' })) });
    const after = new Map<number, number>();
    consumer = await recordingConsumer(bus.ports.http, after, false);
    await consumer.subscribe({ pattern: 'crash.*', consumer: 'crashy', max_in_flight: 1_000_000 });
    await everythingThroughFence(publisher, after, 'crash.fence');

    const again = [...after].filter(([seq]) => before.has(seq));
    expect(again.length, 'messages delivered before the kill and again after it').toBeGreaterThan(0);
    expect(again.filter(([, delivery]) => delivery < 2), 'delivered before the kill, and again as a first delivery').toEqual([]);
    const fresh = [...after].filter(([seq]) => !before.has(seq) && seq > reserved(seq));
    // A reservation is asked for half a chunk ahead of need, a chunk past the last: at the kill it reached less
    // than a chunk and a half past the last seq stored, which the first of those published later may fall under.
    expect(fresh.length).toBeGreaterThanOrEqual(120);
    expect(fresh.filter(([, delivery]) => delivery !== 1), 'never delivered before, past the reservation').toEqual([]);
  }, 180_000);

  test('a clean stop (SIGTERM) counts nothing again: what was delivered once comes as 2, the rest as 1', async () => {
    dir = await tempDir();
    bus = await startBrokerProcess({ ...dir.env, EVENTBUS_DELIVERY_RESERVATION: '1000' });
    const before = new Map<number, number>();
    let consumer = await recordingConsumer(bus.ports.http, before, false);
    await consumer.subscribe({ pattern: 'calm.*', consumer: 'calm', max_in_flight: 10 });
    let publisher = await wsConnect(bus.ports.http);
    await publisher.request({ type: 'publish_batch', messages: Array.from({ length: 100 }, (_, i) => ({ topic: 'calm.t', payload: `m${i}` })) });
    await until(() => `10 deliveries (${before.size} so far)`, () => before.size === 10, 30_000);
    await consumer.close();
    await publisher.close();
    bus.signal('SIGTERM');
    expect(await bus.exited()).toEqual({ code: 0, signal: null });

    bus = await startBrokerProcess(dir.env);
    publisher = await wsConnect(bus.ports.http);
    const after = new Map<number, number>();
    consumer = await recordingConsumer(bus.ports.http, after, false);
    await consumer.subscribe({ pattern: 'calm.*', consumer: 'calm', max_in_flight: 1000 });
    await everythingThroughFence(publisher, after, 'calm.fence');
    expect(after.size).toBe(101);
    const counts = [...after].filter(([seq]) => seq <= 100);
    expect(counts.filter(([seq]) => before.has(seq)).map(([, d]) => d)).toEqual(Array.from({ length: 10 }, () => 2));
    expect(counts.filter(([seq]) => !before.has(seq)).map(([, d]) => d)).toEqual(Array.from({ length: 90 }, () => 1));
  }, 120_000);
});

describe.runIf(onPostgres)('PostgreSQL: a broker killed while delivering a shared consumer', () => {
  const brokers = pgBrokers();
  test("the member on another broker gets the dead broker's unacked deliveries with delivery >= 2", async () => {
    // Leases of half the ack timeout: the survivor takes the dead broker's partitions within a second or two,
    // well before any delivery's ack timeout would have the dead broker's deliveries counted anyway.
    const env = { EVENTBUS_DELIVERY_RESERVATION: String(RESERVATION), EVENTBUS_ACK_TIMEOUT_MS: '3000' };
    const { nodes } = await brokers.start(2, env);
    const [a, b] = nodes as [BrokerProcess, BrokerProcess];
    const before = new Map<number, number>();
    const onA = await recordingConsumer(a.ports.http, before, true);
    await onA.subscribe({ pattern: 'shared.*', consumer: 'shared', max_in_flight: 1_000_000 });
    const publisher = await wsConnect(b.ports.http);
    // Every partition on A: it is the only broker with a member.
    await until('the first deliveries on A', async () => {
      await publisher.publish({ topic: 'shared.probe', payload: 'probe' });
      return before.size > 0;
    }, 30_000);
    const publishing = keepPublishing(publisher, 'shared.stream');
    await until(() => `500 deliveries on A (${before.size} so far)`, () => before.size >= 500, 60_000);
    a.signal('SIGKILL');
    await a.exited();
    await publishing.stop();
    await onA.close();

    const after = new Map<number, number>();
    const onB = await recordingConsumer(b.ports.http, after, false);
    await onB.subscribe({ pattern: 'shared.*', consumer: 'shared', max_in_flight: 1_000_000 });
    await everythingThroughFence(publisher, after, 'shared.fence');
    const again = [...after].filter(([seq]) => before.has(seq));
    expect(again.length, 'messages delivered on A and again on B').toBeGreaterThan(0);
    expect(again.filter(([, delivery]) => delivery < 2), 'delivered on A, and again on B as a first delivery').toEqual([]);
    await publisher.close();
    await onB.close();
  }, 180_000);
});
