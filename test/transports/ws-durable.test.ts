// Durable consumers over the WebSocket API (PROTOCOL.md §5): resuming after the last ack on a new connection
// and across a broker restart, redelivery after the ack timeout, nack with a delay, prk_eventbus's ack without
// subscription, queue groups (a member leaving or unsubscribing hands its unacked messages on), dead letters,
// rewinding with starting_seq, max_in_flight, and acks or nacks of a seq not delivered yet.
import { describe, expect, test } from 'vitest';
import type { TestDb } from '../helpers/broker.js';
import { query, sleep, testScope } from '../helpers/scope.js';
import { type MessageFrame, type WsClient } from '../helpers/ws-client.js';
import { until } from '../helpers/until.js';
import { startBus as startBusIn, type Bus, expectError, expectNoMoreMessages, publishBatch, range, seqs } from '../helpers/ws-bus.js';

const scope = testScope();
const startBus = (env?: Record<string, string>, db?: TestDb): Promise<Bus> => startBusIn(scope, env, db);

/** Two connections, each subscribed to `pattern` as a member of group g of `consumer`: [client, subscription]. */
async function twoMembers(bus: Bus, pattern: string, consumer: string): Promise<[[WsClient, string], [WsClient, string]]> {
  const member = async (): Promise<[WsClient, string]> => {
    const client = await bus.connect();
    return [client, await client.subscribe({ pattern, consumer, group: 'g' })];
  };
  return [await member(), await member()];
}

describe('durable consumers', () => {
  test('a consumer resumes after its last acked message on a new connection', async () => {
    const bus = await startBus();
    const publisher = await bus.connect();
    const first = await bus.connect();
    const sub = await first.subscribe({ pattern: 'jobs.#', consumer: 'worker' });
    await publishBatch(publisher, 'jobs.run', 10);
    const got = await first.messages(sub, 10);
    expect(seqs(got)).toEqual(range(1, 10));
    expect(got.every((m) => m.delivery === 1)).toBe(true);
    for (const m of got.slice(0, 6)) first.send({ type: 'ack', subscription: sub, seq: m.seq });
    // The acks are read before the close: the position is 6 once they are in.
    await until('the acks to move the position to 6', () => bus.app.broker.consumer('worker')?.position === 6);
    await first.close();
    await publishBatch(publisher, 'jobs.run', 2); // 11, 12 while nobody is subscribed

    const second = await bus.connect();
    const again = await second.subscribe({ pattern: 'jobs.#', consumer: 'worker' });
    const resumed = await second.messages(again, 6);
    expect(seqs(resumed)).toEqual([7, 8, 9, 10, 11, 12]);
    // 7..10 were delivered once already.
    expect(resumed.map((m) => m.delivery)).toEqual([2, 2, 2, 2, 1, 1]);
    await expectNoMoreMessages(second, again, 150);
    // The stored position follows the acks.
    for (const m of resumed) second.send({ type: 'ack', subscription: again, seq: m.seq });
    await until(
      'the consumers table to show position 12',
      () => query<{ position: number }>(bus, "SELECT position FROM consumers WHERE id = 'worker'")[0]?.position === 12,
    );
  });

  test("a subscribe's backoff_ms is set on its consumer, shown by GET /api/consumers, kept across a restart, and waited by a nack without delay_ms", async () => {
    const dir = await scope.dir();
    const bus1 = await startBus({}, dir);
    const c1 = await bus1.connect();
    await c1.subscribe({ pattern: 'bo.*', consumer: 'spaced', backoff_ms: [200, 300] });
    await bus1.app.stop();

    const bus2 = await startBus({}, dir);
    const listed = (await (await fetch(`http://127.0.0.1:${bus2.port}/api/consumers`)).json()) as { id: string; backoff_ms: number[] | null }[];
    expect(listed.map((c) => [c.id, c.backoff_ms])).toEqual([['spaced', [200, 300]]]);
    // A subscribe without backoff_ms leaves the consumer's as it is.
    const c2 = await bus2.connect();
    const sub = await c2.subscribe({ pattern: 'bo.*', consumer: 'spaced' });
    const [seq] = await publishBatch(c2, 'bo.x', 1);
    expect(seqs(await c2.messages(sub, 1))).toEqual([seq]);
    const nackedAt = Date.now();
    c2.send({ type: 'nack', subscription: sub, seq });
    const [again] = await c2.messages(sub, 1);
    expect(again && [again.seq, again.delivery]).toEqual([seq, 2]);
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(200 - 2);
    c2.send({ type: 'ack', subscription: sub, seq });
    const one = (await (await fetch(`http://127.0.0.1:${bus2.port}/api/consumers/spaced`)).json()) as { backoff_ms: number[] | null };
    expect(one.backoff_ms).toEqual([200, 300]);
  });

  test('a bad backoff_ms is a BAD_FRAME and makes no consumer', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const e = await expectError(c, { type: 'subscribe', id: 'b', pattern: 'x', consumer: 'never', backoff_ms: [100, -5] }, 'BAD_FRAME');
    expect(e['message']).toMatch(/^backoff_ms must be an array of 1 to 32 whole numbers of ms, each from 0 to 86400000$/);
    await expectError(c, { type: 'subscribe', id: 'b', pattern: 'x', backoff_ms: [100] }, 'BAD_FRAME');
    expect(bus.app.broker.consumer('never')).toBeUndefined();
  });

  test('a consumer resumes after its last ack across a broker restart on the same file', async () => {
    const dir = await scope.dir();
    const bus1 = await startBus({}, dir);
    const c1 = await bus1.connect();
    const sub = await c1.subscribe({ pattern: 'orders.*', consumer: 'billing' });
    await publishBatch(c1, 'orders.created', 10);
    const got = await c1.messages(sub, 10);
    for (const m of got.slice(0, 4)) c1.send({ type: 'ack', subscription: sub, seq: m.seq });
    await until('the acks to be taken', () => bus1.app.broker.consumer('billing')?.position === 4);
    await bus1.app.stop();
    expect(c1.isClosed || (await c1.closed()).code > 0).toBe(true);

    const bus2 = await startBus({}, dir);
    const c2 = await bus2.connect();
    const again = await c2.subscribe({ pattern: 'orders.*', consumer: 'billing' });
    expect(seqs(await c2.messages(again, 6))).toEqual([5, 6, 7, 8, 9, 10]);
    // The log goes on from where it was: seqs are never reused.
    expect(await c2.publish({ topic: 'orders.created', payload: 'after restart' })).toMatchObject({ seq: 11 });
    expect(seqs(await c2.messages(again, 1))).toEqual([11]);
  });

  test('an unacked delivery is redelivered with delivery 2 after EVENTBUS_ACK_TIMEOUT_MS; an acked one is not', async () => {
    const ACK_TIMEOUT_MS = 300;
    const bus = await startBus({ EVENTBUS_ACK_TIMEOUT_MS: String(ACK_TIMEOUT_MS) });
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'retry.*', consumer: 'retrier' });
    await c.publish({ topic: 'retry.me', payload: 'a' });
    await c.publish({ topic: 'retry.me', payload: 'b' });
    const [a, b] = await c.messages(sub, 2);
    const deliveredAt = Date.now();
    expect([a!.delivery, b!.delivery]).toEqual([1, 1]);
    c.send({ type: 'ack', subscription: sub, seq: b!.seq });
    const [again] = await c.messages(sub, 1, 10_000);
    const waited = Date.now() - deliveredAt;
    expect(again).toMatchObject({ seq: a!.seq, payload: 'a', delivery: 2 });
    // Loose: the first delivery may have reached this client late.
    expect(waited).toBeGreaterThanOrEqual(ACK_TIMEOUT_MS / 2);
    c.send({ type: 'ack', subscription: sub, seq: again!.seq });
    // Acked now: nothing comes back after another two timeouts.
    await expectNoMoreMessages(c, sub, ACK_TIMEOUT_MS * 2 + 200);
    await until('the position to reach 2', () => bus.app.broker.consumer('retrier')?.position === 2);
  });

  test('nack with delay_ms: redelivered with delivery 2 after the delay', async () => {
    const bus = await startBus(); // ack timeout 30 s: a redelivery within the test is the nack's
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'n', consumer: 'nacker' });
    const { seq } = await c.publish({ topic: 'n', payload: 'try again' });
    const [first] = await c.messages(sub, 1);
    expect(first).toMatchObject({ seq, delivery: 1 });
    const DELAY = 400;
    const nackedAt = Date.now();
    c.send({ type: 'nack', subscription: sub, seq, delay_ms: DELAY });
    const [second] = await c.messages(sub, 1, 10_000);
    expect(second).toMatchObject({ seq, payload: 'try again', delivery: 2 });
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(DELAY - 20);
    // nack without delay: at once, delivery 3.
    c.send({ type: 'nack', subscription: sub, seq });
    const [third] = await c.messages(sub, 1, 5_000);
    expect(third).toMatchObject({ seq, delivery: 3 });
  });

  test('prk_eventbus ack without subscription ({"type":"ack","seq","message_id"}) acks the message', async () => {
    const ACK_TIMEOUT_MS = 250;
    const bus = await startBus({ EVENTBUS_ACK_TIMEOUT_MS: String(ACK_TIMEOUT_MS) });
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'prk', consumer: 'prk-consumer' });
    await c.publish({ topic: 'prk', payload: 'one', message_id: 'prk-1' });
    await c.publish({ topic: 'prk', payload: 'two', message_id: 'prk-2' });
    const got = await c.messages(sub, 2);
    c.send({ type: 'ack', seq: got[0]!.seq, message_id: 'prk-1' });
    // The unacked one comes back; the acked one does not.
    const [back] = await c.messages(sub, 1, 10_000);
    expect(back).toMatchObject({ seq: got[1]!.seq, delivery: 2 });
    c.send({ type: 'ack', seq: back!.seq, message_id: 'prk-2' });
    await expectNoMoreMessages(c, sub, ACK_TIMEOUT_MS * 2 + 200);
    expect(c.pending((f) => f.type === 'error')).toEqual([]);
    await until('the position to reach 2', () => bus.app.broker.consumer('prk-consumer')?.position === 2);
    await until(
      'processed_messages to record both acks',
      () => query<{ n: number }>(bus, "SELECT count(*) AS n FROM processed_messages WHERE consumer = 'prk-consumer'")[0]!.n === 2,
    );
  });

  test('two members of one consumer and group split the messages: each to exactly one', async () => {
    const bus = await startBus();
    const [[m1, s1], [m2, s2]] = await twoMembers(bus, 'work.*', 'pool');
    const publisher = await bus.connect();
    const N = 200;
    await publishBatch(publisher, 'work.item', N);
    const got: { member: number; seq: number }[] = [];
    const ackAll = (client: WsClient, sub: string, member: number): void => {
      for (const m of client.takeAll((f) => f.type === 'message' && f['subscription'] === sub) as MessageFrame[]) {
        got.push({ member, seq: m.seq });
        client.send({ type: 'ack', subscription: sub, seq: m.seq });
      }
    };
    await until(`${N} messages between the two members`, () => {
      // Drain what arrived on both, acking as a worker would.
      ackAll(m1, s1, 1);
      ackAll(m2, s2, 2);
      return new Set(got.map((g) => g.seq)).size >= N;
    });
    await sleep(200);
    ackAll(m1, s1, 1);
    ackAll(m2, s2, 2);
    const bySeq = new Map<number, number[]>();
    for (const g of got) bySeq.set(g.seq, [...(bySeq.get(g.seq) ?? []), g.member]);
    expect([...bySeq.keys()].sort((a, b) => a - b)).toEqual(range(1, N));
    const twice = [...bySeq].filter(([, members]) => members.length > 1);
    expect(twice, 'messages delivered to both members').toEqual([]);
    const n1 = got.filter((g) => g.member === 1).length;
    expect(n1, 'member 1 got some').toBeGreaterThan(0);
    expect(N - n1, 'member 2 got some').toBeGreaterThan(0);
  });

  test("a member that leaves with unacked messages: they go to the group's other member", async () => {
    const bus = await startBus();
    const leaver = await bus.connect();
    const stayer = await bus.connect();
    const s1 = await leaver.subscribe({ pattern: 'hand.off', consumer: 'team', group: 'g', max_in_flight: 3 });
    const publisher = await bus.connect();
    await publishBatch(publisher, 'hand.off', 3);
    const taken = await leaver.messages(s1, 3);
    expect(seqs(taken)).toEqual([1, 2, 3]);
    const s2 = await stayer.subscribe({ pattern: 'hand.off', consumer: 'team', group: 'g' });
    await leaver.close(); // without acking
    const handed = await stayer.messages(s2, 3);
    expect(handed.map((m) => [m.seq, m.delivery])).toEqual([
      [1, 2],
      [2, 2],
      [3, 2],
    ]);
  });

  test('unsubscribing a durable group member with unacked messages hands them to the other member (delivery 2)', async () => {
    const bus = await startBus();
    const [[a, subA], [b, subB]] = await twoMembers(bus, 'grp.*', 'grp');
    await sleep(20);
    const published: number[] = [];
    for (let i = 0; i < 6; i++) published.push((await a.publish({ topic: 'grp.x', payload: String(i) })).seq);
    await sleep(100);
    const toA = a.takeAll((f) => f.type === 'message' && f['subscription'] === subA).map((f) => f['seq'] as number);
    const toB = b.takeAll((f) => f.type === 'message' && f['subscription'] === subB).map((f) => f['seq'] as number);
    expect([...toA, ...toB].sort((x, y) => x - y)).toEqual(published);
    expect(toA.length).toBeGreaterThan(0);
    for (const s of toB) b.send({ type: 'ack', subscription: subB, seq: s });
    const un = await a.request({ type: 'unsubscribe', subscription: subA });
    expect(un.type).toBe('unsubscribed');
    const again = await b.messages(subB, toA.length, 3000);
    expect(again.map((m) => m.seq).sort((x, y) => x - y)).toEqual([...toA].sort((x, y) => x - y));
    expect(again.every((m) => m.delivery === 2)).toBe(true);
  });

  test('after EVENTBUS_MAX_DELIVERIES unacked deliveries a message goes to the dead letters and is not sent again', async () => {
    const bus = await startBus({ EVENTBUS_ACK_TIMEOUT_MS: '150', EVENTBUS_MAX_DELIVERIES: '2' });
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'doomed', consumer: 'dropper' });
    const { seq } = await c.publish({ topic: 'doomed', payload: 'never acked' });
    const got = await c.messages(sub, 2, 10_000);
    expect(got.map((m) => [m.seq, m.delivery])).toEqual([
      [seq, 1],
      [seq, 2],
    ]);
    await until(
      'a dead letter row for dropper',
      () => query<{ n: number }>(bus, "SELECT count(*) AS n FROM dead_letters WHERE consumer = 'dropper'")[0]!.n === 1,
    );
    const [dead] = query<{ seq: number; payload: string; deliveries: number }>(bus, 'SELECT seq, payload, deliveries FROM dead_letters');
    expect(dead).toEqual({ seq, payload: 'never acked', deliveries: 2 });
    await until('status dead', () => query<{ status: string }>(bus, 'SELECT status FROM messages WHERE seq = ?', seq)[0]?.status === 'dead');
    await expectNoMoreMessages(c, sub, 500);
    expect((await bus.app.broker.consumerReport('dropper'))._unsafeUnwrap().deadLetters).toBe(1);
  });

  test('a durable consumer that subscribes with starting_seq is rewound there', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'rw', consumer: 'rewinder' });
    await publishBatch(c, 'rw', 6);
    for (const m of await c.messages(sub, 6)) c.send({ type: 'ack', subscription: sub, seq: m.seq });
    await until('position 6', () => bus.app.broker.consumer('rewinder')?.position === 6);
    await c.request({ type: 'unsubscribe', subscription: sub });
    const again = await c.subscribe({ pattern: 'rw', consumer: 'rewinder', starting_seq: 3 });
    expect(seqs(await c.messages(again, 4))).toEqual([3, 4, 5, 6]);
    await expectNoMoreMessages(c, again, 150);
  });

  test('max_in_flight 5 without acks: exactly 5 arrive; each ack lets exactly one more through', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'slow', consumer: 'careful', max_in_flight: 5 });
    const publisher = await bus.connect();
    await publishBatch(publisher, 'slow', 20);
    const first = await c.messages(sub, 5);
    expect(seqs(first)).toEqual([1, 2, 3, 4, 5]);
    await expectNoMoreMessages(c, sub, 400);
    c.send({ type: 'ack', subscription: sub, seq: 1 });
    expect(seqs(await c.messages(sub, 1))).toEqual([6]);
    await expectNoMoreMessages(c, sub, 200);
    c.send({ type: 'ack', subscription: sub, seq: 3 });
    c.send({ type: 'ack', subscription: sub, seq: 4 });
    expect(seqs(await c.messages(sub, 2))).toEqual([7, 8]);
    await expectNoMoreMessages(c, sub, 200);
    expect(bus.app.broker.consumer('careful')?.inFlight).toBe(5);
  });

  test('max_in_flight holds on replay too: a durable consumer with history receives 5 until it acks', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    await publishBatch(c, 'hist', 50);
    const sub = await c.subscribe({ pattern: 'hist', consumer: 'replayer', starting_seq: 1, max_in_flight: 5 });
    expect(seqs(await c.messages(sub, 5))).toEqual([1, 2, 3, 4, 5]);
    await expectNoMoreMessages(c, sub, 300);
  });

  test('ack and nack of a seq never delivered change nothing: the message is still delivered', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'never.*', consumer: 'never', max_in_flight: 1 });
    const p1 = await c.publish({ topic: 'never.a', payload: '1' });
    const p2 = await c.publish({ topic: 'never.a', payload: '2' });
    const [m1] = await c.messages(sub, 1);
    expect(m1!.seq).toBe(p1.seq);
    c.send({ type: 'ack', subscription: sub, seq: p2.seq }); // not delivered yet
    c.send({ type: 'nack', subscription: sub, seq: p2.seq + 100 });
    c.send({ type: 'ack', subscription: sub, seq: p1.seq });
    const [m2] = await c.messages(sub, 1);
    expect(m2!.seq).toBe(p2.seq);
    expect(m2!.delivery).toBe(1);
    expect(c.pending((f) => f.type === 'error')).toEqual([]);
  });
});
