// The WebSocket API (PROTOCOL.md §5) over real sockets against the whole app on a temp database: every client
// frame and its answer (publish, publish_batch, subscribe, unsubscribe; prk_eventbus's frames unchanged),
// patterns, replay from a seq or a time then live with no gap and no duplicate, and the plain HTTP routes
// next to /ws (/healthz, /metrics, auth, 404, upgrades elsewhere). Durable consumers are in
// ws-durable.test.ts, errors in ws-errors.test.ts, slow readers in ws-backpressure.test.ts.
import http from 'node:http';
import { describe, expect, test } from 'vitest';
import type { TestDb } from '../helpers/broker.js';
import { count, query, rows, sleep, testScope } from '../helpers/scope.js';
import { wsConnect, type Frame } from '../helpers/ws-client.js';
import { until } from '../helpers/until.js';
import { startBus as startBusIn, type Bus, expectError, expectNoMoreMessages, expectStillWorks, publishBatch, range, seqs } from '../helpers/ws-bus.js';

const scope = testScope();
const startBus = (env?: Record<string, string>, db?: TestDb): Promise<Bus> => startBusIn(scope, env, db);

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

describe("prk_eventbus's client frames, unchanged", () => {
  // As prk_eventbus's Rust client serialises them: no ids, "ttl": null and "starting_seq": null when unset.
  test('publish, publish_batch, subscribe with starting_seq null, then ack by seq and message_id', async () => {
    const bus = await startBus({ EVENTBUS_ACK_TIMEOUT_MS: '250' });
    const c = await bus.connect();
    c.send('{"type":"subscribe","pattern":"prk.*","starting_seq":null}');
    const subscribed = await c.next((f) => f.type === 'subscribed');
    expect(subscribed).toMatchObject({ subscription: expect.any(String), head_seq: 0 });
    expect(subscribed['id']).toBeUndefined();
    const uuid = '0b8f2f4e-8c1e-4f55-9a53-2d6b1f2d1a10';
    c.send(JSON.stringify({ type: 'publish', data: { topic: 'prk.one', payload: 'hello', message_id: uuid }, ttl: null }));
    expect(await c.next((f) => f.type === 'published')).toEqual({ type: 'published', seq: 1, message_id: uuid });
    c.send(JSON.stringify({ type: 'publish', data: { topic: 'prk.one', payload: 'with ttl', message_id: 'u-2' }, ttl: 3600 }));
    expect(await c.next((f) => f.type === 'published')).toMatchObject({ seq: 2 });
    c.send(JSON.stringify({ type: 'publish_batch', messages: [{ topic: 'prk.two', payload: 'a' }, { topic: 'prk.two', payload: 'b' }], ttl: null }));
    expect(await c.next((f) => f.type === 'published')).toMatchObject({ seqs: [3, 4] });
    expect(rows(bus).map((r) => [r.seq, r.message_id, r.ttl])).toEqual([
      [1, uuid, 0],
      [2, 'u-2', 3600],
      [3, null, 0],
      [4, null, 0],
    ]);
    const got = await c.messages(subscribed['subscription'] as string, 4);
    expect(got.map((m) => [m.seq, m.message_id, m.topic, m.payload, typeof m.metadata.timestamp, m.metadata.content_type])).toEqual([
      [1, uuid, 'prk.one', 'hello', 'number', 'text/plain'],
      [2, 'u-2', 'prk.one', 'with ttl', 'number', 'text/plain'],
      [3, null, 'prk.two', 'a', 'number', 'text/plain'],
      [4, null, 'prk.two', 'b', 'number', 'text/plain'],
    ]);
    // An ack on a socket without durable subscriptions is accepted quietly.
    c.send(JSON.stringify({ type: 'ack', seq: 1, message_id: uuid }));
    await expectStillWorks(c);
    expect(c.pending((f) => f.type === 'error')).toEqual([]);
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
    expect(query<{ n: number }>(bus, "SELECT count(*) AS n FROM messages WHERE topic LIKE 'fine.%'")[0]!.n).toBe(0);
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

  test('a content filter delivers only the messages it matches; a bad filter is BAD_FRAME', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'orders.*', filter: { 'payload.amount': { $gt: 100 }, 'attributes.region': 'eu' } });
    const sent = [
      { amount: 50, region: 'eu' },
      { amount: 500, region: 'eu' },
      { amount: 500, region: 'us' },
      { amount: 101, region: 'eu' },
    ];
    const published: number[] = [];
    for (const o of sent) published.push((await c.publish({ topic: 'orders.created', payload: JSON.stringify({ amount: o.amount }), metadata: { region: o.region } })).seq);
    const got = await c.messages(sub, 2);
    expect(seqs(got)).toEqual([published[1], published[3]]);
    await expectNoMoreMessages(c, sub, 200);
    await expectError(c, { type: 'subscribe', pattern: 'orders.*', filter: { 'payload.amount': { $between: [1, 2] } } }, 'BAD_FRAME');
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
    await expectNoMoreMessages(subscribers[0], subs[0]!, 100);
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
    const got = await c.messagesThrough(sub, total, 15_000);
    expect(got.length).toBe(total);
    const firstBad = got.findIndex((m, i) => m.seq !== i + 1);
    expect(firstBad, `seq ${got[firstBad]?.seq} at position ${firstBad}`).toBe(-1);
    expect(got.every((m) => m.delivery === 1)).toBe(true);
    // A second subscription on the same socket starting mid-log, one topic only.
    const wantA = rows(bus).filter((r) => r.seq >= 700 && r.topic === 'replay.a').map((r) => r.seq);
    const gotA = await c.messagesThrough(other, wantA.at(-1)!, 15_000);
    expect(seqs(gotA)).toEqual(wantA);
    await expectNoMoreMessages(c, sub, 100);
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

  test('subscribed is answered before the first message frame of a replay', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    await publishBatch(c, 'first', 100);
    c.send({ type: 'subscribe', id: 'sub-request', pattern: 'first', starting_seq: 1 });
    expect(await c.next()).toMatchObject({ type: 'subscribed', id: 'sub-request', head_seq: 100 });
    const next = await c.next();
    expect(next).toMatchObject({ type: 'message', seq: 1 });
  });

  test('a message whose ttl has passed is not replayed', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    await c.publish({ topic: 'ttl.t', payload: 'short-lived' }, { ttl: 1 });
    await c.publish({ topic: 'ttl.t', payload: 'kept' });
    const created = rows(bus)[0]!.created_at;
    await until('the first message to expire', () => Date.now() > created + 1_100);
    const sub = await c.subscribe({ pattern: 'ttl.*', starting_seq: 1 });
    const got = await c.messages(sub, 1);
    expect(got.map((m) => [m.seq, m.payload])).toEqual([[2, 'kept']]);
    await expectNoMoreMessages(c, sub, 150);
  });

  test('starting_time replays the messages published at or after that time, then continues live', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    await publishBatch(c, 'timed', 5);
    const lastOld = rows(bus)[4]!.created_at;
    await until('the clock to move past the first batch', () => Date.now() > lastOld + 2);
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

describe('HTTP next to /ws', () => {
  const get = (port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path, headers }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body }));
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
    for (const path of ['/nope', '/healthz/extra', '/wss']) expect((await get(bus.port, path)).status, path).toBe(404);
  });

  test('an upgrade to another path is refused; /ws with a query string is accepted', async () => {
    const bus = await startBus();
    for (const path of ['/', '/other', '/ws/extra']) {
      const outcome = await wsConnect(bus.port, { path }).then(
        async (c) => {
          await c.close();
          return 'accepted';
        },
        (e: unknown) => (e as Error).message,
      );
      expect(outcome, path).toMatch(/Unexpected server response: 404/);
    }
    const c = await bus.connect({ path: '/ws?client=test' });
    await expectStillWorks(c);
  });
});

describe('publish for later (PROTOCOL.md §11)', () => {
  test('delay_ms or deliver_at in data: a scheduled answer once stored, then appended once due; in a batch, schedule_ids beside seqs', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'later.*' });
    const one = await c.request({ type: 'publish', data: { topic: 'later.one', payload: 'a', delay_ms: 300, message_id: 'l-1' } });
    expect(one).toMatchObject({ type: 'scheduled', schedule_id: expect.any(String), deliver_at: expect.any(Number), message_id: 'l-1' });
    expect(one['duplicate']).toBeUndefined();
    expect(await c.request({ type: 'publish', data: { topic: 'later.one', payload: 'a', delay_ms: 300, message_id: 'l-1' } })).toEqual({ ...one, id: expect.any(String), duplicate: true });
    const at = new Date(Date.now() + 400).toISOString();
    const batch = await c.request({ type: 'publish_batch', messages: [{ topic: 'later.now', payload: 'n' }, { topic: 'later.two', payload: 'b', deliver_at: at }] });
    expect(batch).toMatchObject({ type: 'published', seqs: [1, null], message_ids: [null, null], schedule_ids: [null, expect.any(String)] });
    const got = await c.messages(sub, 3, 5000);
    expect(got.map((m) => [m.topic, m.seq])).toEqual([
      ['later.now', 1],
      ['later.one', 2],
      ['later.two', 3],
    ]);
    expect((got[2]!.metadata as { timestamp: number }).timestamp).toBeGreaterThanOrEqual(Date.parse(at));
  });

  test('both fields, a negative delay or an unreadable time: an error frame BAD_FRAME (§5 has no BAD_ARGS), nothing stored', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    for (const data of [{ delay_ms: 1, deliver_at: Date.now() + 1000 }, { delay_ms: -1 }, { deliver_at: 'soon' }]) {
      const reply = await c.request({ type: 'publish', data: { topic: 't', payload: 'x', ...data } });
      expect(reply, JSON.stringify(data)).toMatchObject({ type: 'error', code: 'BAD_FRAME', message: expect.stringMatching(/delay_ms|deliver_at/) });
    }
    expect(await c.request({ type: 'publish', data: { topic: 't', payload: 'x', delay_ms: 'soon' } })).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
    expect(query(bus, 'SELECT id FROM schedules')).toEqual([]);
    expect(rows(bus)).toEqual([]);
  });
});
