// The WebSocket API (PROTOCOL.md §5, §7) over real sockets against the whole app on a temp database: every
// client frame and its answer, replay-then-live with no gap and no duplicate, durable consumers (resume after
// the last ack, on a new connection and after a restart; redelivery; nack; groups; max_in_flight), every error
// code a WebSocket client can get and that the socket survives it, auth, the connection limit, a subscriber
// that stops reading, and the plain HTTP routes next to /ws.
import http from 'node:http';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, test } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { silentLogger } from '../../src/logger.js';
import { testAppConfig } from '../helpers/broker.js';
import { query, sleep, testScope } from '../helpers/scope.js';
import { wsConnect, type ConnectOptions, type Frame, type MessageFrame, type WsClient } from '../helpers/ws-client.js';

const scope = testScope();

interface Bus {
  readonly app: App;
  readonly port: number;
  readonly dbPath: string;
  /** A WebSocket client on /ws, closed after the test. */
  connect(options?: ConnectOptions): Promise<WsClient>;
}

/** The whole app on `dbPath` (a fresh database unless given), every port 0; `env` overrides settings. */
async function startBus(env: Record<string, string> = {}, dbPath?: string): Promise<Bus> {
  const path = dbPath ?? (await scope.dir()).dbPath;
  const app = (await startApp(testAppConfig(path, env), silentLogger))._unsafeUnwrap();
  scope.defer(() => app.stop());
  const port = app.ports.http;
  return {
    app,
    port,
    dbPath: path,
    connect: async (options) => {
      const client = await wsConnect(port, options);
      scope.defer(() => client.close());
      return client;
    },
  };
}

interface MessageRow {
  seq: number;
  message_id: string | null;
  topic: string;
  payload: string;
  metadata: string;
  ttl: number;
  created_at: number;
}

const rows = (bus: Bus): MessageRow[] =>
  query<MessageRow>(bus.dbPath, 'SELECT seq, message_id, topic, payload, metadata, ttl, created_at FROM messages ORDER BY seq');
const count = (bus: Bus): number => query<{ n: number }>(bus.dbPath, 'SELECT count(*) AS n FROM messages')[0]!.n;

const seqs = (ms: readonly MessageFrame[]): number[] => ms.map((m) => m.seq);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Asserts that no further message for `subscription` arrives within `ms`. A negative can only be observed
 * by waiting; callers make sure everything that should have arrived has arrived first.
 */
async function expectNoMoreMessages(client: WsClient, subscription: string, ms = 300): Promise<void> {
  await sleep(ms);
  const extra = client.pending((f) => f.type === 'message' && f['subscription'] === subscription);
  expect(extra.map((f) => [f['seq'], f['delivery']]), `unexpected messages for ${subscription}`).toEqual([]);
}

/** Publishes `n` messages in one publish_batch; resolves with their seqs. */
async function publishBatch(client: WsClient, topic: string, n: number, payload = (i: number) => `${topic}#${i}`): Promise<number[]> {
  const reply = await client.request({
    type: 'publish_batch',
    messages: Array.from({ length: n }, (_, i) => ({ topic, payload: payload(i) })),
  });
  expect(reply.type, JSON.stringify(reply)).toBe('published');
  return reply['seqs'] as number[];
}

/** The error frame answering `frame`; the id is checked to be echoed. */
async function expectError(client: WsClient, frame: Record<string, unknown>, code: string): Promise<Frame> {
  const reply = await client.request(frame);
  expect(reply, `answer to ${JSON.stringify(frame).slice(0, 120)}`).toMatchObject({ type: 'error', code });
  expect(typeof reply['message']).toBe('string');
  return reply;
}

/** The same socket still serves a good publish after a bad frame. */
async function expectStillWorks(client: WsClient): Promise<void> {
  const reply = await client.request({ type: 'publish', data: { topic: 'still.alive', payload: 'yes' } });
  expect(reply).toMatchObject({ type: 'published', seq: expect.any(Number) });
  expect(client.isClosed).toBe(false);
}

describe('publish', () => {
  test('with an id: published with the same id and the seq, durable in the messages table', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const reply = await c.request({ type: 'publish', data: { topic: 'orders.created', payload: 'Hello from producer!' } });
    expect(reply).toEqual({ type: 'published', id: expect.stringMatching(/^r\d+$/), seq: 1, message_id: null });
    // Answered once durable: a reader of the file sees it as soon as the answer is in.
    expect(rows(bus).map((r) => [r.seq, r.topic, r.payload, r.message_id, r.ttl])).toEqual([[1, 'orders.created', 'Hello from producer!', null, 0]]);
    expect(JSON.parse(rows(bus)[0]!.metadata)).toMatchObject({ content_type: 'text/plain' });
  });

  test('without an id (prk_eventbus): published without id, seqs in order', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    c.send({ type: 'publish', data: { topic: 'user_message', payload: 'one' } });
    c.send({ type: 'publish', data: { topic: 'user_message', payload: 'two' } });
    const a = await c.next((f) => f.type === 'published');
    const b = await c.next((f) => f.type === 'published');
    expect(a).toEqual({ type: 'published', seq: 1, message_id: null });
    expect(b).toEqual({ type: 'published', seq: 2, message_id: null });
    expect(rows(bus).map((r) => r.payload)).toEqual(['one', 'two']);
  });

  test('a numeric id is echoed as it came', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    c.send({ type: 'publish', id: 41, data: { topic: 't', payload: 'x' } });
    expect(await c.next((f) => f['id'] === 41)).toMatchObject({ type: 'published', seq: 1 });
  });

  test('a repeated message_id answers the original seq with "duplicate":true and stores nothing', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const first = await c.publish({ topic: 't', payload: 'first', message_id: 'm-1' });
    expect(first).toMatchObject({ seq: 1, message_id: 'm-1' });
    expect(first['duplicate']).toBeUndefined();
    await c.publish({ topic: 't', payload: 'between' });
    const again = await c.publish({ topic: 'other', payload: 'second', message_id: 'm-1' });
    expect(again).toMatchObject({ type: 'published', seq: 1, message_id: 'm-1', duplicate: true });
    // From another connection too.
    const d = await bus.connect();
    expect(await d.publish({ topic: 't', payload: 'third', message_id: 'm-1' })).toMatchObject({ seq: 1, duplicate: true });
    expect(rows(bus).map((r) => [r.seq, r.payload, r.message_id])).toEqual([
      [1, 'first', 'm-1'],
      [2, 'between', null],
    ]);
  });

  test('metadata and ttl are stored; the broker adds timestamp and content_type', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const before = Date.now();
    await c.publish({ topic: 'orders.created', payload: 'p', metadata: { region: 'eu', priority: 3 } }, { ttl: 60 });
    await c.publish({ topic: 'orders.created', payload: 'q', ttl: 5 }, { ttl: 60 });
    const [a, b] = rows(bus);
    expect(a!.ttl).toBe(60);
    expect(b!.ttl).toBe(5);
    const meta = JSON.parse(a!.metadata) as Record<string, unknown>;
    expect(meta).toMatchObject({ region: 'eu', priority: 3, content_type: 'text/plain' });
    expect(a!.created_at).toBeGreaterThanOrEqual(before - 5);
    expect(a!.created_at).toBeLessThanOrEqual(Date.now() + 5);
  });

  test('a payload that is not a string is stored as its JSON text and delivered as that string', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'json.#' });
    const values: unknown[] = [{ id: 7, items: [1, 2], nested: { ok: true } }, [1, 'two'], 42, false, null];
    for (const v of values) await c.publish({ topic: 'json.value', payload: v });
    expect(rows(bus).map((r) => r.payload)).toEqual(values.map((v) => JSON.stringify(v)));
    expect(rows(bus).map((r) => (JSON.parse(r.metadata) as { content_type: string }).content_type)).toEqual(values.map(() => 'application/json'));
    const got = await c.messages(sub, values.length);
    expect(got.map((m) => m.payload)).toEqual(values.map((v) => JSON.stringify(v)));
    expect(got.every((m) => typeof m.payload === 'string')).toBe(true);
    expect(got[0]!.metadata.content_type).toBe('application/json');
  });

  test('the payload is stored and delivered verbatim: newlines, quotes, unicode, empty', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'text' });
    const payloads = ['line1\nline2', ' "quoted" \\ back', 'héllo 世界 🎉', '', '{"looks":"like json"}'];
    for (const p of payloads) await c.publish({ topic: 'text', payload: p });
    expect(rows(bus).map((r) => r.payload)).toEqual(payloads);
    expect((await c.messages(sub, payloads.length)).map((m) => m.payload)).toEqual(payloads);
  });
});

describe('publish_batch', () => {
  test('answers the seqs in order; every message stored with its id, metadata and the frame ttl', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    await c.publish({ topic: 'before', payload: 'x' });
    const reply = await c.request({
      type: 'publish_batch',
      messages: [
        { topic: 'a.one', payload: 'first', message_id: 'b-1' },
        { topic: 'a.two', payload: { n: 2 }, metadata: { k: 'v' } },
        { topic: 'a.three', payload: 'third' },
      ],
      ttl: 30,
    });
    expect(reply).toMatchObject({ type: 'published', id: expect.any(String), seqs: [2, 3, 4] });
    expect(rows(bus).map((r) => [r.seq, r.topic, r.payload, r.message_id, r.ttl])).toEqual([
      [1, 'before', 'x', null, 0],
      [2, 'a.one', 'first', 'b-1', 30],
      [3, 'a.two', '{"n":2}', null, 30],
      [4, 'a.three', 'third', null, 30],
    ]);
    expect(JSON.parse(rows(bus)[2]!.metadata)).toMatchObject({ k: 'v', content_type: 'application/json' });
  });

  test('one bad topic in the batch: BAD_TOPIC and nothing of the batch is stored', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    await c.publish({ topic: 'ok', payload: 'before' });
    const messages = [
      { topic: 'fine.one', payload: '1' },
      { topic: 'fine.two', payload: '2' },
      { topic: 'not a topic', payload: '3' },
      { topic: 'fine.four', payload: '4' },
    ];
    await expectError(c, { type: 'publish_batch', messages }, 'BAD_TOPIC');
    expect(query<{ n: number }>(bus.dbPath, "SELECT count(*) AS n FROM messages WHERE topic LIKE 'fine.%'")[0]!.n).toBe(0);
    expect(count(bus)).toBe(1);
    // The seqs the failed batch did not use are not skipped.
    expect(await c.publish({ topic: 'ok', payload: 'after' })).toMatchObject({ seq: 2 });
  });

  test('one payload over EVENTBUS_MAX_PAYLOAD in the batch: TOO_LARGE and nothing stored', async () => {
    const bus = await startBus({ EVENTBUS_MAX_PAYLOAD: '100' });
    const c = await bus.connect();
    const messages = [
      { topic: 'a', payload: 'small' },
      { topic: 'a', payload: 'x'.repeat(101) },
    ];
    await expectError(c, { type: 'publish_batch', messages }, 'TOO_LARGE');
    expect(count(bus)).toBe(0);
  });

  test('a subscriber sees a batch as consecutive seqs, in order', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'batch' });
    const published = await publishBatch(c, 'batch', 50);
    expect(published).toEqual(range(1, 50));
    const got = await c.messages(sub, 50);
    expect(seqs(got)).toEqual(range(1, 50));
    expect(got.map((m) => m.payload)).toEqual(range(0, 49).map((i) => `batch#${i}`));
  });
});

describe('subscribe', () => {
  test('subscribed carries the id, a subscription and head_seq; a message frame carries every field of §5', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    await c.publish({ topic: 'chat.user0', payload: 'old' });
    const reply = await c.request({ type: 'subscribe', pattern: 'chat.*' });
    expect(reply).toEqual({ type: 'subscribed', id: expect.any(String), subscription: expect.any(String), head_seq: 1 });
    const sub = reply['subscription'] as string;
    const before = Date.now();
    const p = await c.publish({ topic: 'chat.user1', payload: 'hello', message_id: 'mid-1', metadata: { user: 'u1' } });
    const [m] = await c.messages(sub, 1);
    expect(m).toEqual({
      type: 'message',
      subscription: sub,
      seq: p.seq,
      message_id: 'mid-1',
      topic: 'chat.user1',
      payload: 'hello',
      metadata: { timestamp: expect.any(Number), content_type: 'text/plain', user: 'u1' },
      delivery: 1,
    });
    expect(m!.metadata.timestamp).toBeGreaterThanOrEqual(before - 5);
    expect(m!.metadata.timestamp).toBeLessThanOrEqual(Date.now() + 5);
    // Without a start, the subscription began at the head: the older message was not replayed.
    await expectNoMoreMessages(c, sub, 100);
  });

  test('patterns: * is one segment, # (and >) zero or more at the end', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const patterns = ['chat.*', '*.created', 'orders.#', 'orders.>', '#', 'chat.user1', ['chat.*', 'orders']];
    const subs = new Map<string, string>();
    for (const p of patterns) subs.set(JSON.stringify(p), await c.subscribe({ pattern: p }));
    const topics = ['chat', 'chat.user1', 'chat.a.b', 'orders', 'orders.created', 'orders.eu.created', 'users.created', 'created', 'chatx.user1'];
    const seqOf = new Map<string, number>();
    for (const t of topics) seqOf.set(t, (await c.publish({ topic: t, payload: t })).seq);
    const expected: Record<string, string[]> = {
      '"chat.*"': ['chat.user1'],
      '"*.created"': ['orders.created', 'users.created'],
      '"orders.#"': ['orders', 'orders.created', 'orders.eu.created'],
      '"orders.>"': ['orders', 'orders.created', 'orders.eu.created'],
      '"#"': topics,
      '"chat.user1"': ['chat.user1'],
      '["chat.*","orders"]': ['chat.user1', 'orders'],
    };
    for (const [key, want] of Object.entries(expected)) {
      const got = await c.messages(subs.get(key)!, want.length);
      expect(got.map((m) => m.topic), `pattern ${key}`).toEqual(want);
      expect(seqs(got), `pattern ${key}`).toEqual(want.map((t) => seqOf.get(t)));
    }
    for (const sub of subs.values()) await expectNoMoreMessages(c, sub, 0);
    await sleep(200);
    for (const sub of subs.values()) await expectNoMoreMessages(c, sub, 0);
  });

  test('a message published on another connection reaches every subscriber of every connection once', async () => {
    const bus = await startBus();
    const subscribers = await Promise.all([bus.connect(), bus.connect(), bus.connect()]);
    const subs = await Promise.all(subscribers.map((s) => s.subscribe({ pattern: 'fan.out' })));
    const publisher = await bus.connect();
    await publishBatch(publisher, 'fan.out', 20);
    for (let i = 0; i < subscribers.length; i++) expect(seqs(await subscribers[i]!.messages(subs[i]!, 20))).toEqual(range(1, 20));
    await expectNoMoreMessages(subscribers[0]!, subs[0]!, 100);
  });

  test('starting_seq replays from there, then continues live with no gap and no duplicate at the switch', async () => {
    const bus = await startBus();
    const publisher = await bus.connect();
    // Enough history for several catch-up pages, and live publishes racing the catch-up.
    for (let i = 0; i < 3; i++) await publishBatch(publisher, i % 2 ? 'replay.b' : 'replay.a', 500);
    const LIVE = 3000;
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'replay.*', starting_seq: 1 });
    const other = await c.subscribe({ pattern: 'replay.a', starting_seq: 700 });
    let published = 1500;
    const live = (async () => {
      // 100 batches of 30, pipelined: they commit while the subscription is still reading the log.
      const replies: Promise<Frame>[] = [];
      for (let b = 0; b < LIVE / 30; b++) {
        replies.push(
          publisher.request({ type: 'publish_batch', messages: Array.from({ length: 30 }, (_, i) => ({ topic: i % 3 ? 'replay.a' : 'replay.b', payload: `live${b}.${i}` })) }),
        );
        if (b % 10 === 0) await sleep(1);
      }
      for (const r of await Promise.all(replies)) {
        expect(r.type).toBe('published');
        published += (r['seqs'] as number[]).length;
      }
    })();
    await live;
    const total = 1500 + LIVE;
    expect(published).toBe(total);
    const got = await c.messagesThrough(sub, total, 20_000);
    expect(got.length).toBe(total);
    const firstBad = got.findIndex((m, i) => m.seq !== i + 1);
    expect(firstBad, `seq ${got[firstBad]?.seq} at position ${firstBad}`).toBe(-1);
    expect(got.every((m) => m.delivery === 1)).toBe(true);
    // A second subscription on the same socket starting mid-log, one topic only.
    const wantA = rows(bus).filter((r) => r.seq >= 700 && r.topic === 'replay.a').map((r) => r.seq);
    const gotA = await c.messagesThrough(other, wantA.at(-1)!, 20_000);
    expect(seqs(gotA)).toEqual(wantA);
    await expectNoMoreMessages(c, sub, 100);
  });

  // A catch-up of many pages makes the session pause and resume its subscription many times over.
  test.each([
    ['1 KB messages, EVENTBUS_WS_BUFFER=65536', { EVENTBUS_WS_BUFFER: '65536' }, 5_000, 1000],
    ['4 KB messages, the default 1 MiB buffer', {}, 4_000, 4000],
  ])('a replay far larger than the socket buffer (%s) arrives in full and in order at a client that reads', async (_, env, n, size) => {
    const bus = await startBus(env);
    const publisher = await bus.connect();
    const body = 'r'.repeat(size);
    for (let b = 0; b < n / 500; b++) await publishBatch(publisher, 'big.replay', 500, (i) => `${b * 500 + i}:${body}`);
    let received = 0;
    let outOfOrder = 0;
    const c = await bus.connect({
      consume: (f) => {
        if (f.type !== 'message') return false;
        if (f['seq'] !== ++received) outOfOrder++;
        return true;
      },
    });
    await c.subscribe({ pattern: 'big.*', starting_seq: 1 });
    await until(() => received >= n, `${n} replayed messages (got ${received})`, 20_000);
    expect(received).toBe(n);
    expect(outOfOrder).toBe(0);
    // And it is live afterwards.
    await c.publish({ topic: 'big.replay', payload: 'live' });
    await until(() => received === n + 1, `the live message after the replay (got ${received - n})`);
  });

  test('starting_seq 0 replays from the first message; starting_seq past the head waits for it', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    await publishBatch(c, 't', 5);
    const fromZero = await c.subscribe({ pattern: 't', starting_seq: 0 });
    expect(seqs(await c.messages(fromZero, 5))).toEqual([1, 2, 3, 4, 5]);
    const ahead = await c.subscribe({ pattern: 't', starting_seq: 8 });
    await publishBatch(c, 't', 5); // seqs 6..10
    expect(seqs(await c.messages(fromZero, 5))).toEqual([6, 7, 8, 9, 10]);
    expect(seqs(await c.messages(ahead, 3))).toEqual([8, 9, 10]);
  });

  test('starting_time replays the messages published at or after that time, then continues live', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    await publishBatch(c, 'timed', 5);
    const lastOld = rows(bus)[4]!.created_at;
    await until(() => Date.now() > lastOld + 2, 'the clock to move past the first batch');
    await publishBatch(c, 'timed', 5);
    const firstNew = rows(bus)[5]!;
    expect(firstNew.created_at).toBeGreaterThan(lastOld);
    const sub = await c.subscribe({ pattern: 'timed', starting_time: firstNew.created_at });
    expect(seqs(await c.messages(sub, 5))).toEqual([6, 7, 8, 9, 10]);
    await c.publish({ topic: 'timed', payload: 'live' });
    expect(seqs(await c.messages(sub, 1))).toEqual([11]);
    // A time before everything replays everything; a time in the future starts at the head.
    const all = await c.subscribe({ pattern: 'timed', starting_time: 0 });
    expect(seqs(await c.messages(all, 11))).toEqual(range(1, 11));
    const future = await c.subscribe({ pattern: 'timed', starting_time: Date.now() + 3_600_000 });
    await c.publish({ topic: 'timed', payload: 'later' });
    expect(seqs(await c.messages(future, 1))).toEqual([12]);
  });
});

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
    await until(() => bus.app.broker.consumer('worker')?.position === 6, 'the acks to move the position to 6');
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
      () => query<{ position: number }>(bus.dbPath, "SELECT position FROM consumers WHERE id = 'worker'")[0]?.position === 12,
      'the consumers table to show position 12',
    );
  });

  test('a consumer resumes after its last ack across a broker restart on the same file', async () => {
    const dir = await scope.dir();
    const bus1 = await startBus({}, dir.dbPath);
    const c1 = await bus1.connect();
    const sub = await c1.subscribe({ pattern: 'orders.*', consumer: 'billing' });
    await publishBatch(c1, 'orders.created', 10);
    const got = await c1.messages(sub, 10);
    for (const m of got.slice(0, 4)) c1.send({ type: 'ack', subscription: sub, seq: m.seq });
    await until(() => bus1.app.broker.consumer('billing')?.position === 4, 'the acks to be taken');
    await bus1.app.stop();
    expect(c1.isClosed || (await c1.closed()).code > 0).toBe(true);

    const bus2 = await startBus({}, dir.dbPath);
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
    expect(waited).toBeGreaterThanOrEqual(ACK_TIMEOUT_MS - 50);
    c.send({ type: 'ack', subscription: sub, seq: again!.seq });
    // Acked now: nothing comes back after another two timeouts.
    await expectNoMoreMessages(c, sub, ACK_TIMEOUT_MS * 2 + 200);
    await until(() => bus.app.broker.consumer('retrier')?.position === 2, 'the position to reach 2');
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
    await until(() => bus.app.broker.consumer('prk-consumer')?.position === 2, 'the position to reach 2');
    await until(
      () => query<{ n: number }>(bus.dbPath, "SELECT count(*) AS n FROM processed_messages WHERE consumer = 'prk-consumer'")[0]!.n === 2,
      'processed_messages to record both acks',
    );
  });

  test('two members of one consumer and group split the messages: each to exactly one', async () => {
    const bus = await startBus();
    const m1 = await bus.connect();
    const m2 = await bus.connect();
    const s1 = await m1.subscribe({ pattern: 'work.*', consumer: 'pool', group: 'g' });
    const s2 = await m2.subscribe({ pattern: 'work.*', consumer: 'pool', group: 'g' });
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
    await until(() => {
      // Drain what arrived on both, acking as a worker would.
      ackAll(m1, s1, 1);
      ackAll(m2, s2, 2);
      return new Set(got.map((g) => g.seq)).size >= N;
    }, `${N} messages between the two members`);
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
});

describe('unsubscribe', () => {
  test('answers unsubscribed with the id and subscription; no message for it after that', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const gone = await c.subscribe({ pattern: 'u.#' });
    const stays = await c.subscribe({ pattern: 'u.#' });
    await c.publish({ topic: 'u.x', payload: 'before' });
    expect(seqs(await c.messages(gone, 1))).toEqual([1]);
    expect(seqs(await c.messages(stays, 1))).toEqual([1]);
    const reply = await c.request({ type: 'unsubscribe', subscription: gone });
    expect(reply).toEqual({ type: 'unsubscribed', id: expect.any(String), subscription: gone });
    const publisher = await bus.connect();
    await publishBatch(publisher, 'u.x', 10);
    // The other subscription of the same socket receives them; the unsubscribed one nothing.
    expect(seqs(await c.messages(stays, 10))).toEqual(range(2, 11));
    await expectNoMoreMessages(c, gone, 150);
    // Unsubscribing it again: it no longer exists.
    await expectError(c, { type: 'unsubscribe', subscription: gone }, 'UNKNOWN_SUBSCRIPTION');
  });

  test('a durable consumer that unsubscribes keeps its position for the next subscribe', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'k', consumer: 'keeper' });
    await publishBatch(c, 'k', 3);
    for (const m of await c.messages(sub, 3)) c.send({ type: 'ack', subscription: sub, seq: m.seq });
    expect(await c.request({ type: 'unsubscribe', subscription: sub })).toMatchObject({ type: 'unsubscribed', subscription: sub });
    await publishBatch(c, 'k', 2);
    await expectNoMoreMessages(c, sub, 100);
    const again = await c.subscribe({ pattern: 'k', consumer: 'keeper' });
    expect(seqs(await c.messages(again, 2))).toEqual([4, 5]);
  });
});

describe('errors a WebSocket client can get; a bad frame never closes the socket', () => {
  test('BAD_FRAME: not JSON, not an object, unknown or missing type, missing fields, binary', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    for (const text of ['not json', '{"type":"publish"', '[1,2,3]', '"publish"', '']) {
      c.send(text);
      const e = await c.next((f) => f.type === 'error', 5_000, `the error for ${JSON.stringify(text)}`);
      expect(e, `answer to ${JSON.stringify(text)}`).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
      await expectStillWorks(c);
    }
    const bad: Record<string, unknown>[] = [
      { type: 'teleport' },
      { nottype: 'publish' },
      { type: 'publish' },
      { type: 'publish', data: { payload: 'no topic' } },
      { type: 'publish', data: { topic: 't' } },
      { type: 'publish', data: { topic: 't', payload: 'x', metadata: 'not an object' } },
      { type: 'publish_batch' },
      { type: 'publish_batch', messages: [] },
      { type: 'subscribe' },
      { type: 'subscribe', pattern: 't', max_in_flight: 0 },
      { type: 'subscribe', pattern: 't', starting_seq: -1 },
      { type: 'ack' },
      { type: 'ack', seq: 'one' },
      { type: 'nack', subscription: 's' },
      { type: 'unsubscribe' },
    ];
    for (const frame of bad) {
      await expectError(c, frame, 'BAD_FRAME'); // also checks the id is echoed
      await expectStillWorks(c);
    }
    c.sendBinary(Buffer.from('{"type":"publish","data":{"topic":"t","payload":"x"}}'));
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'BAD_FRAME' });
    await expectStillWorks(c);
    // Nothing but the good publishes was stored.
    expect(new Set(rows(bus).map((r) => r.topic))).toEqual(new Set(['still.alive']));
  });

  test('BAD_FRAME for a bad value the broker refuses inside a valid frame (bad consumer name)', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    await expectError(c, { type: 'subscribe', pattern: 't', consumer: 'has spaces in it' }, 'BAD_FRAME');
    await expectError(c, { type: 'publish', data: { topic: 't', payload: 'x', message_id: '' } }, 'BAD_FRAME');
    await expectStillWorks(c);
  });

  test('BAD_TOPIC: empty, spaces, empty segment, wildcards, over 255 bytes; nothing stored', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    for (const topic of ['', 'has space', 'a..b', '.a', 'a.', 'chat.*', 'orders.#', 'é', 'x'.repeat(256)]) {
      await expectError(c, { type: 'publish', data: { topic, payload: 'x' } }, 'BAD_TOPIC');
      await expectStillWorks(c);
    }
    expect(rows(bus).every((r) => r.topic === 'still.alive')).toBe(true);
    // 255 bytes is still a topic.
    expect(await c.publish({ topic: 'x'.repeat(255), payload: 'ok' })).toMatchObject({ type: 'published' });
  });

  test('BAD_PATTERN: # not last, empty segments, bad characters, no pattern at all', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    for (const pattern of ['a.#.b', '#.a', 'a..b', '', 'bad pattern', 'a.b*', [], ['ok', 'a..b']]) {
      await expectError(c, { type: 'subscribe', pattern }, 'BAD_PATTERN');
      await expectStillWorks(c);
    }
    expect(bus.app.broker.stats().subscriptions).toBe(0);
  });

  test('TOO_LARGE: a payload over EVENTBUS_MAX_PAYLOAD bytes (UTF-8, and JSON text for other values)', async () => {
    const LIMIT = 1024;
    const bus = await startBus({ EVENTBUS_MAX_PAYLOAD: String(LIMIT) });
    const c = await bus.connect();
    expect(await c.publish({ topic: 'big', payload: 'x'.repeat(LIMIT) })).toMatchObject({ seq: 1 });
    await expectError(c, { type: 'publish', data: { topic: 'big', payload: 'x'.repeat(LIMIT + 1) } }, 'TOO_LARGE');
    await expectStillWorks(c);
    // 342 characters, 1026 bytes.
    await expectError(c, { type: 'publish', data: { topic: 'big', payload: '€'.repeat(342) } }, 'TOO_LARGE');
    await expectStillWorks(c);
    await expectError(c, { type: 'publish', data: { topic: 'big', payload: { blob: 'y'.repeat(LIMIT) } } }, 'TOO_LARGE');
    await expectStillWorks(c);
    expect(rows(bus).filter((r) => r.topic === 'big').map((r) => r.payload.length)).toEqual([LIMIT]);
  });

  test('UNKNOWN_SUBSCRIPTION: ack, nack and unsubscribe of a subscription this socket does not have', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    await expectError(c, { type: 'ack', subscription: 'sub-999', seq: 1 }, 'UNKNOWN_SUBSCRIPTION');
    await expectError(c, { type: 'nack', subscription: 'sub-999', seq: 1 }, 'UNKNOWN_SUBSCRIPTION');
    await expectError(c, { type: 'unsubscribe', subscription: 'sub-999' }, 'UNKNOWN_SUBSCRIPTION');
    await expectStillWorks(c);
    // Another connection's subscription is not this one's to end or ack.
    const other = await bus.connect();
    const theirs = await other.subscribe({ pattern: 'mine', consumer: 'owner' });
    await expectError(c, { type: 'unsubscribe', subscription: theirs }, 'UNKNOWN_SUBSCRIPTION');
    await expectError(c, { type: 'ack', subscription: theirs, seq: 1 }, 'UNKNOWN_SUBSCRIPTION');
    await other.publish({ topic: 'mine', payload: 'still theirs' });
    expect(seqs(await other.messages(theirs, 1))).toHaveLength(1);
    await expectStillWorks(c);
  });

  test('UNAUTHORIZED: with EVENTBUS_TOKEN, no or a wrong token gets an error frame and close 1008', async () => {
    const bus = await startBus({ EVENTBUS_TOKEN: 's3cret' });
    for (const options of [{}, { path: '/ws?token=wrong' }, { headers: { authorization: 'Bearer wrong' } }, { headers: { authorization: 's3cret' } }]) {
      const c = await bus.connect(options);
      const e = await c.next(() => true, 5_000, 'the refusal');
      expect(e, JSON.stringify(options)).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
      expect((await c.closed()).code, JSON.stringify(options)).toBe(1008);
    }
    expect(count(bus)).toBe(0);
  });

  test('with EVENTBUS_TOKEN, Authorization: Bearer and ?token= both work', async () => {
    const bus = await startBus({ EVENTBUS_TOKEN: 's3cret' });
    const byHeader = await bus.connect({ headers: { authorization: 'Bearer s3cret' } });
    expect(await byHeader.publish({ topic: 'auth', payload: 'header' })).toMatchObject({ seq: 1 });
    const byQuery = await bus.connect({ path: '/ws?token=s3cret' });
    expect(await byQuery.publish({ topic: 'auth', payload: 'query' })).toMatchObject({ seq: 2 });
    const sub = await byQuery.subscribe({ pattern: 'auth', starting_seq: 1 });
    expect(seqs(await byQuery.messages(sub, 2))).toEqual([1, 2]);
  });

  test('UNAVAILABLE: past EVENTBUS_MAX_CONNECTIONS the new socket gets an error frame and close 1013', async () => {
    const bus = await startBus({ EVENTBUS_MAX_CONNECTIONS: '1' });
    const first = await bus.connect();
    const second = await bus.connect();
    expect(await second.next(() => true, 5_000, 'the refusal')).toMatchObject({ type: 'error', code: 'UNAVAILABLE' });
    expect((await second.closed()).code).toBe(1013);
    // The first is unaffected.
    await expectStillWorks(first);
    // Once it goes, a new connection is taken.
    await first.close();
    let third: WsClient | undefined;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const attempt = await bus.connect();
      const reply = await attempt.request({ type: 'publish', data: { topic: 'again', payload: 'x' } }).catch((e: Error) => ({ type: 'failed', e }) as Frame);
      if (reply.type === 'published') {
        third = attempt;
        break;
      }
      expect(Date.now() < deadline, 'a new connection is still refused 10 s after the first closed').toBe(true);
      await sleep(20);
    }
    expect(third).toBeDefined();
  });
});

describe('a subscriber that stops reading', () => {
  test('does not hold up another subscriber, costs the broker at most about EVENTBUS_WS_BUFFER, and later gets every message in order', async () => {
    const BUFFER = 65_536;
    const N = 25_000;
    const PAYLOAD = 1000;
    const bus = await startBus({ EVENTBUS_WS_BUFFER: String(BUFFER) });
    // The fast subscriber only keeps seqs, so the test's own memory stays flat.
    const fastSeqs: number[] = [];
    let fastOutOfOrder = 0;
    const fast = await bus.connect({
      consume: (f) => {
        if (f.type !== 'message') return false;
        const seq = f['seq'] as number;
        if (seq !== fastSeqs.length + 1) fastOutOfOrder++;
        fastSeqs.push(seq);
        return true;
      },
    });
    const slow = await bus.connect();
    const fastSub = await fast.subscribe({ pattern: 'flood.#' });
    const slowSub = await slow.subscribe({ pattern: 'flood.#' });
    // The broker's end of the slow connection: its unsent bytes are what the slow client costs the broker.
    const slowLocalPort = (slow.ws as unknown as { _socket: net.Socket })._socket.localPort;
    const serverSide = (
      (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().filter((h) => h instanceof net.Socket) as net.Socket[]
    ).find((s) => s.localPort === bus.port && s.remotePort === slowLocalPort);
    expect(serverSide, "the broker's socket of the slow connection").toBeDefined();

    slow.ws.pause(); // stops reading: the kernel buffers fill, then the broker's
    const gc = exposeGc();
    gc();
    const heapBefore = memory();

    const publisher = await bus.connect();
    const body = 'p'.repeat(PAYLOAD - 12);
    let maxServerBuffered = 0;
    const started = Date.now();
    for (let b = 0; b < N / 500; b++) {
      await publisher.request({
        type: 'publish_batch',
        messages: Array.from({ length: 500 }, (_, i) => ({ topic: 'flood.x', payload: `${String(b * 500 + i).padStart(11, '0')}:${body}` })),
      });
      maxServerBuffered = Math.max(maxServerBuffered, serverSide!.writableLength);
    }
    const publishedIn = Date.now() - started;
    // The other subscriber has all of them promptly, in order.
    await until(() => fastSeqs.length >= N, `the fast subscriber to get ${N} messages (has ${fastSeqs.length})`, 20_000);
    const fastDoneIn = Date.now() - started;
    expect(fastSeqs.length).toBe(N);
    expect(fastOutOfOrder).toBe(0);
    expect(fastDoneIn, `fast subscriber took ${fastDoneIn} ms, publishing took ${publishedIn} ms`).toBeLessThan(publishedIn + 5_000);

    // The broker holds about EVENTBUS_WS_BUFFER for the slow client, not the 25 MB it has not read.
    maxServerBuffered = Math.max(maxServerBuffered, serverSide!.writableLength);
    expect(maxServerBuffered, 'bytes the broker buffered for the slow client').toBeLessThan(BUFFER + 256 * 1024);
    const slowUnread = (slow.ws as unknown as { _socket: net.Socket })._socket.readableLength;
    gc();
    const grown = memory() - heapBefore;
    expect(grown, `heap + buffers grew by ${(grown / 1e6).toFixed(1)} MB while ${(N * PAYLOAD) / 1e6} MB were published`).toBeLessThan(12e6);
    expect(slow.pending().length, 'the slow client read nothing while paused').toBeLessThanOrEqual(Math.ceil(slowUnread / PAYLOAD) + 1);

    // Reading again: every message, in order, no gap, no duplicate.
    slow.ws.resume();
    const got = await slow.messagesThrough(slowSub, N, 30_000);
    expect(got.length).toBe(N);
    const firstBad = got.findIndex((m, i) => m.seq !== i + 1);
    expect(firstBad, `seq ${got[firstBad]?.seq} at position ${firstBad}`).toBe(-1);
    expect(got[N - 1]!.payload.startsWith(`${String(N - 1).padStart(11, '0')}:`)).toBe(true);
    expect(fastSub).not.toBe(slowSub);
  }, 60_000);
});

describe('HTTP next to /ws', () => {
  const get = (port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path, headers }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
        })
        .on('error', reject);
    });

  test('GET /healthz: 200 with head_seq', async () => {
    const bus = await startBus();
    const empty = await get(bus.port, '/healthz');
    expect(empty.status).toBe(200);
    expect(JSON.parse(empty.body)).toMatchObject({ head_seq: 0 });
    const c = await bus.connect();
    await publishBatch(c, 'h', 3);
    const after = await get(bus.port, '/healthz');
    expect(after.status).toBe(200);
    expect(JSON.parse(after.body)).toMatchObject({ head_seq: 3 });
  });

  test('GET /metrics: Prometheus text with eventbus_head_seq', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    await publishBatch(c, 'metric.topic', 4);
    const res = await get(bus.port, '/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/^# TYPE eventbus_head_seq gauge$/m);
    expect(res.body).toMatch(/^eventbus_head_seq 4$/m);
    expect(res.body).toMatch(/^eventbus_websocket_connections 1$/m);
  });

  test('with EVENTBUS_TOKEN: 401 without credentials on /healthz and /metrics; Bearer and ?token= pass', async () => {
    const bus = await startBus({ EVENTBUS_TOKEN: 'tok' });
    for (const path of ['/healthz', '/metrics']) {
      expect((await get(bus.port, path)).status, path).toBe(401);
      expect((await get(bus.port, path, { authorization: 'Bearer nope' })).status, path).toBe(401);
      expect((await get(bus.port, `${path}?token=nope`)).status, path).toBe(401);
      expect((await get(bus.port, path, { authorization: 'Bearer tok' })).status, path).toBe(200);
      expect((await get(bus.port, `${path}?token=tok`)).status, path).toBe(200);
    }
  });

  test('404 on unknown paths', async () => {
    const bus = await startBus();
    for (const path of ['/', '/nope', '/healthz/extra', '/wss']) expect((await get(bus.port, path)).status, path).toBe(404);
  });

  test('an upgrade to another path is refused; /ws with a query string is accepted', async () => {
    const bus = await startBus();
    for (const path of ['/', '/other', '/ws/extra']) {
      const outcome = await wsConnect(bus.port, { path }).then(
        async (c) => {
          await c.close();
          return 'accepted';
        },
        (e: Error) => e.message,
      );
      expect(outcome, path).toMatch(/Unexpected server response: 404/);
    }
    const c = await bus.connect({ path: '/ws?client=test' });
    await expectStillWorks(c);
  });
});

/** global.gc, exposed at run time (vitest runs without --expose-gc). */
function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    gc();
  };
}

function memory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
