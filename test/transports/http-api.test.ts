// The HTTP API (PROTOCOL.md §8) over real sockets, on both stores: every route with what it answers, its
// errors as {code, message} with their statuses, the token, and answers that parse with the schemas the
// OpenAPI document is made of.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import * as b from '../../src/protocol/http-bodies.js';
import { startEndpoint } from '../helpers/consumers.js';
import { metric, startApi, type ApiBus, type StoreKind } from '../helpers/http-api.js';
import { wsConnect } from '../helpers/ws-client.js';
import { lineClient } from '../helpers/line-client.js';
import { sleep, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();
const STORES: StoreKind[] = ['sqlite', 'postgres'];

type Json = Record<string, unknown>;

async function publish(bus: ApiBus, topic: string, payloads: readonly unknown[], extra: Json = {}): Promise<number[]> {
  const seqs: number[] = [];
  for (const payload of payloads) {
    const r = await bus.call<{ seq: number }>('POST', '/api/publish', { topic, payload, ...extra });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    seqs.push(r.body.seq);
  }
  return seqs;
}

describe.each(STORES)('the HTTP API on %s', (store) => {
  const start = (env: Record<string, string> = {}) => startApi(scope, store, env);

  test('POST /api/publish: one message, a batch (all or none), a repeated message id, and a JSON payload stored as its text', async () => {
    const bus = await start();
    const one = await bus.call('POST', '/api/publish', { topic: 'orders.created', payload: 'hello', message_id: 'o-1', metadata: { k: 'v' }, ordering_key: 'c-1' });
    expect(one).toMatchObject({ status: 200, body: { seq: 1, message_id: 'o-1', duplicate: false } });
    expect(b.Published.parse(one.body)).toBeTruthy();
    expect((await bus.call('POST', '/api/publish', { topic: 'orders.created', payload: 'again', message_id: 'o-1' })).body).toEqual({ seq: 1, message_id: 'o-1', duplicate: true });
    const batch = await bus.call('POST', '/api/publish', { messages: [{ topic: 'a', payload: { n: 1 } }, { topic: 'b', payload: 'x', message_id: 'b-1', ttl: 60 }] });
    expect(batch).toMatchObject({ status: 200, body: { seqs: [2, 3], message_ids: [null, 'b-1'], duplicates: [false, false] } });
    expect(b.PublishedBatch.parse(batch.body)).toBeTruthy();
    // A batch repeating stored ids says which it stored nothing for.
    expect((await bus.call('POST', '/api/publish', { messages: [{ topic: 'b', payload: 'x', message_id: 'b-1' }, { topic: 'b', payload: 'new', message_id: 'b-2' }] })).body).toEqual({
      seqs: [3, 4],
      message_ids: ['b-1', 'b-2'],
      duplicates: [true, false],
    });
    const refused = await bus.call('POST', '/api/publish', { messages: [{ topic: 'c', payload: '1' }, { topic: 'bad topic', payload: '2' }] });
    expect(refused).toMatchObject({ status: 400, body: { code: 'BAD_TOPIC' } });
    const stored = await bus.call<{ messages: Json[] }>('GET', '/api/messages');
    expect(stored.body.messages.map((m) => [m['seq'], m['topic'], m['payload']])).toEqual([
      [1, 'orders.created', 'hello'],
      [2, 'a', '{"n":1}'],
      [3, 'b', 'x'],
      [4, 'b', 'new'],
    ]);
    expect(stored.body.messages[0]).toMatchObject({ message_id: 'o-1', ordering_key: 'c-1', metadata: { k: 'v', content_type: 'text/plain' }, status: 'pending' });
    expect(stored.body.messages[1]!['metadata']).toMatchObject({ content_type: 'application/json' });
  });

  test('POST /api/publish refuses what it cannot store, with the code and status of each, bodies of unknown length too: nothing is stored', async () => {
    const bus = await start({ EVENTBUS_MAX_PAYLOAD: '100', EVENTBUS_HTTP_MAX_BODY: '2000' });
    const cases: [unknown, number, string][] = [
      [{ topic: 'a' }, 400, 'BAD_ARGS'],
      [{ topic: 'a', payload: 'x', ttl: -1 }, 400, 'BAD_ARGS'],
      [{ topic: 'a', payload: 'x', metadata: [1] }, 400, 'BAD_ARGS'],
      [{ topic: 'a.', payload: 'x' }, 400, 'BAD_TOPIC'],
      [{ topic: 'a', payload: 'x'.repeat(101) }, 413, 'TOO_LARGE'],
      [{ messages: [] }, 400, 'BAD_ARGS'],
      [{ topic: 'a', payload: 'x'.repeat(1990) }, 413, 'TOO_LARGE'],
      ['{"topic":', 400, 'BAD_FORMAT'],
    ];
    // A body of neither form is told what it lacks, not the first problem of the form it is closest to.
    for (const body of [{}, { payload: 'x' }, { message: [] }, []]) {
      expect(await bus.call<Json>('POST', '/api/publish', body), JSON.stringify(body)).toMatchObject({
        status: 400,
        body: { code: 'BAD_ARGS', message: 'the body needs "topic" and "payload" (one message) or "messages" (a batch)' },
      });
    }
    expect((await bus.call<Json>('POST', '/api/publish', { topic: 'a' })).body['message']).toMatch(/payload/);
    expect((await bus.call<Json>('POST', '/api/publish', { messages: [{ topic: 'a' }] })).body['message']).toMatch(/^messages\.0\.payload: /);
    for (const [body, status, code] of cases) {
      const r = await bus.call<Json>('POST', '/api/publish', body);
      expect({ status: r.status, code: r.body['code'] }, JSON.stringify(body).slice(0, 80)).toEqual({ status, code });
      expect(b.ErrorBody.parse(r.body).message).not.toBe('');
    }
    // A body of unknown length (chunked) is counted as it comes.
    const chunked = (text: string) => {
      const body = new ReadableStream({
        start: (c) => {
          c.enqueue(new TextEncoder().encode(text));
          c.close();
        },
      });
      return fetch(`${bus.base}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' });
    };
    expect(await (await chunked(JSON.stringify({ topic: 'a', payload: 'x'.repeat(1990) }))).json()).toMatchObject({ code: 'TOO_LARGE' });
    expect(await (await chunked(JSON.stringify({ topic: 'a', payload: 'x'.repeat(200) }))).json()).toMatchObject({ code: 'TOO_LARGE' });
    expect(await (await chunked('{"topic":"chunked","payload":"small"}')).json()).toMatchObject({ seq: 1 });
    const form = await fetch(`${bus.base}/api/publish`, { method: 'POST', body: '{"topic":"a","payload":"x"}', headers: { 'content-type': 'text/plain' } });
    expect({ status: form.status, body: await form.json() }).toMatchObject({ status: 400, body: { code: 'BAD_FORMAT', message: expect.stringContaining('content-type: application/json') as string } });
    expect((await bus.call<{ messages: Json[] }>('GET', '/api/messages')).body.messages.map((m) => m['topic'])).toEqual(['chunked']);
  });

  test('GET /api/messages pages in seq order from seq 1, from_seq, from_time or a pattern, limit capped at 1000; next_seq goes on', async () => {
    const bus = await start();
    await publish(bus, 'orders.eu', ['1', '2', '3']);
    await sleep(5);
    const t = Date.now();
    await sleep(5);
    await publish(bus, 'refunds', ['4']);
    await publish(bus, 'orders.us', ['5', '6']);
    const page = async (query: string) => (await bus.call<{ messages: Json[]; next_seq: number }>('GET', `/api/messages${query}`)).body;
    const seqs = (p: { messages: Json[] }) => p.messages.map((m) => m['seq']);
    const first = await page('?limit=2');
    expect(b.MessagesPage.parse(first)).toBeTruthy();
    expect([seqs(first), first.next_seq]).toEqual([[1, 2], 3]);
    expect([seqs(await page(`?from_seq=${first.next_seq}`)), (await page('?from_seq=3')).next_seq]).toEqual([[3, 4, 5, 6], 7]);
    expect(seqs(await page(`?from_time=${t}`))).toEqual([4, 5, 6]);
    expect(seqs(await page('?pattern=orders.*&limit=4'))).toEqual([1, 2, 3, 5]);
    expect(seqs(await page('?pattern=refunds'))).toEqual([4]);
    expect((await page('?from_seq=100')).messages).toEqual([]);
    expect((await page('?from_seq=100')).next_seq).toBe(100);
    expect((await page('?from_seq=5&pattern=nothing')).next_seq).toBe(7);
    expect((await page('?limit=5000')).messages).toHaveLength(6);
    for (const [query, code] of [['?limit=0', 'BAD_ARGS'], ['?limit=x', 'BAD_ARGS'], ['?from_seq=-1', 'BAD_ARGS'], ['?pattern=a..b', 'BAD_PATTERN'], ['?from_seq=1&from_time=1', 'BAD_ARGS']]) {
      expect(await bus.call('GET', `/api/messages${query!}`), query).toMatchObject({ status: 400, body: { code } });
    }
  });

  test('a page of GET /api/messages reads at most EVENTBUS_HTTP_SCAN_ROWS rows: a rare pattern ends it early, and next_seq goes on', async () => {
    const bus = await start({ EVENTBUS_HTTP_SCAN_ROWS: '10' });
    await publish(bus, 'noise', Array.from({ length: 25 }, (_, i) => String(i)));
    await publish(bus, 'rare', ['x']);
    const first = (await bus.call<{ messages: Json[]; next_seq: number }>('GET', '/api/messages?pattern=rare.%23')).body;
    expect(first).toEqual({ messages: [], next_seq: 11 });
    let next = first.next_seq;
    const found: unknown[] = [];
    while (found.length === 0) {
      const p = (await bus.call<{ messages: Json[]; next_seq: number }>('GET', `/api/messages?pattern=rare.%23&from_seq=${next}`)).body;
      found.push(...p.messages.map((m) => m['seq']));
      next = p.next_seq;
    }
    expect(found).toEqual([26]);
  });

  test('GET /api/messages/<seq>: the message with its status, or 404 UNKNOWN_MESSAGE for a seq never stored, expired or removed', async () => {
    const bus = await start({ EVENTBUS_RETENTION_INTERVAL_MS: '100' });
    await publish(bus, 'a', ['kept']);
    await publish(bus, 'a', ['short'], { ttl: 1 });
    const one = await bus.call('GET', '/api/messages/1');
    expect(one).toMatchObject({ status: 200, body: { seq: 1, topic: 'a', payload: 'kept', status: 'pending' } });
    expect(b.Message.parse(one.body)).toBeTruthy();
    expect((await bus.call('GET', '/api/messages/2')).status).toBe(200);
    expect(await bus.call('GET', '/api/messages/3')).toMatchObject({ status: 404, body: { code: 'UNKNOWN_MESSAGE' } });
    expect(await bus.call('GET', '/api/messages/0')).toMatchObject({ status: 404, body: { code: 'UNKNOWN_MESSAGE' } });
    expect(await bus.call('GET', '/api/messages/x')).toMatchObject({ status: 400, body: { code: 'BAD_ARGS' } });
    await until('seq 2 to expire', async () => (await bus.call('GET', '/api/messages/2')).status === 404, 5000);
    expect((await bus.call<{ messages: Json[] }>('GET', '/api/messages')).body.messages.map((m) => m['seq'])).toEqual([1]);
  });

  test('GET /api/topics: each topic the log holds, with its count and first and last seq', async () => {
    const bus = await start();
    await publish(bus, 'a', ['1', '2']);
    await publish(bus, 'b.c', ['3']);
    await publish(bus, 'a', ['4']);
    const topics = await bus.call<Json[]>('GET', '/api/topics');
    expect(topics.status).toBe(200);
    expect(b.Topic.array().parse(topics.body)).toBeTruthy();
    expect(topics.body.map(({ published_per_s: _, ...t }) => t).sort((x, y) => String(x['topic']).localeCompare(String(y['topic'])))).toEqual([
      { topic: 'a', messages: 3, first_seq: 1, last_seq: 4 },
      { topic: 'b.c', messages: 1, first_seq: 3, last_seq: 3 },
    ]);
  });

  test('backoff_ms: PUT sets it, keeps it when left out, replaces it, removes it with null; GET shows it; a bad one is refused and stores nothing', async () => {
    const bus = await start();
    const made = await bus.call<Json>('PUT', '/api/consumers/retrier', { patterns: ['jobs'], backoff_ms: [100, 1000] });
    expect(made).toMatchObject({ status: 200, body: { id: 'retrier', backoff_ms: [100, 1000] } });
    expect(b.Consumer.parse(made.body)).toBeTruthy();
    expect((await bus.call<Json>('PUT', '/api/consumers/retrier', { patterns: ['more'] })).body).toMatchObject({ patterns: ['jobs', 'more'], backoff_ms: [100, 1000] });
    expect((await bus.call<Json>('PUT', '/api/consumers/retrier', { patterns: [], backoff_ms: [5] })).body).toMatchObject({ backoff_ms: [5] });
    expect((await bus.call<Json[]>('GET', '/api/consumers')).body.map((c) => c['backoff_ms'])).toEqual([[5]]);
    for (const backoff_ms of [[], [-1], [0.5], ['100'], 100, [86_400_001], Array.from({ length: 33 }, () => 1)]) {
      const refused = await bus.call<Json>('PUT', '/api/consumers/retrier', { patterns: [], backoff_ms });
      expect(refused, JSON.stringify(backoff_ms)).toMatchObject({ status: 400, body: { code: 'BAD_ARGS' } });
      expect((await bus.call('PUT', '/api/consumers/other', { patterns: ['x'], backoff_ms })).status).toBe(400);
    }
    expect((await bus.call<Json>('GET', '/api/consumers/retrier')).body).toMatchObject({ backoff_ms: [5] });
    expect((await bus.call('GET', '/api/consumers/other')).status).toBe(404);
    expect((await bus.call<Json>('PUT', '/api/consumers/retrier', { patterns: [], backoff_ms: null })).body).toMatchObject({ backoff_ms: null });
    expect((await bus.sql<{ backoff_ms: string | null }>("SELECT backoff_ms FROM consumers WHERE id = 'retrier'"))).toEqual([{ backoff_ms: null }]);
  });

  test('format: eventbus unless a PUT says cloudevents, kept when left out, back to eventbus with null; cloudevents is for http(s) addresses only, and a refusal stores nothing', async () => {
    const bus = await start({ EVENTBUS_ALLOWED_TARGETS: '127.0.0.1' });
    const plain = await bus.call<Json>('PUT', '/api/consumers/reader', { patterns: ['jobs'] });
    expect(plain).toMatchObject({ status: 200, body: { format: 'eventbus' } });
    expect(b.Consumer.parse(plain.body)).toBeTruthy();
    const made = await bus.call<Json>('PUT', '/api/consumers/hook', { address: 'http://127.0.0.1:9/events', patterns: ['jobs'], format: 'cloudevents' });
    expect(made).toMatchObject({ status: 200, body: { id: 'hook', format: 'cloudevents' } });
    expect((await bus.call<Json>('PUT', '/api/consumers/hook', { patterns: ['more'] })).body).toMatchObject({ patterns: ['jobs', 'more'], format: 'cloudevents' });
    expect((await bus.call<Json>('PUT', '/api/consumers/hook', { address: 'https://127.0.0.1:9443/', patterns: [] })).body).toMatchObject({ format: 'cloudevents' });
    expect((await bus.call<Json[]>('GET', '/api/consumers')).body.map((c) => [c['id'], c['format']])).toEqual([['reader', 'eventbus'], ['hook', 'cloudevents']]);
    expect((await bus.call<Json>('GET', '/api/consumers/hook')).body).toMatchObject({ format: 'cloudevents' });

    // A CloudEvent needs HTTP headers: no other address takes one, whether it comes with the format or after it.
    for (const address of ['tcp://127.0.0.1:9', 'udp://127.0.0.1:9', 'ws://127.0.0.1:9/feed']) {
      const refused = await bus.call<Json>('PUT', '/api/consumers/other', { address, patterns: ['x'], format: 'cloudevents' });
      expect(refused, address).toMatchObject({ status: 400, body: { code: 'BAD_ARGS', message: `format "cloudevents" needs an http:// or https:// push address: ${address} is not one` } });
      expect((await bus.call<Json>('PUT', '/api/consumers/hook', { address, patterns: [] })).body, address).toMatchObject({ code: 'BAD_ARGS' });
    }
    expect((await bus.call<Json>('PUT', '/api/consumers/reader', { patterns: [], format: 'cloudevents' })).body).toMatchObject({ code: 'BAD_ARGS', message: expect.stringContaining('without an address') as string });
    expect((await bus.call<Json>('PUT', '/api/consumers/hook', { patterns: [], format: 'xml' })).body).toMatchObject({ code: 'BAD_ARGS' });
    expect((await bus.call('GET', '/api/consumers/other')).status).toBe(404);
    expect((await bus.call<Json>('GET', '/api/consumers/hook')).body).toMatchObject({ address: 'https://127.0.0.1:9443', format: 'cloudevents' });
    expect((await bus.call<Json>('GET', '/api/consumers/reader')).body).toMatchObject({ format: 'eventbus' });

    // Back to the default: a tcp:// address is then fine. The default is stored as null, cloudevents as itself.
    expect((await bus.call<Json>('PUT', '/api/consumers/hook', { patterns: [], format: null })).body).toMatchObject({ format: 'eventbus' });
    expect((await bus.call<Json>('PUT', '/api/consumers/hook', { address: 'tcp://127.0.0.1:9', patterns: [] })).body).toMatchObject({ address: 'tcp://127.0.0.1:9', format: 'eventbus' });
    expect((await bus.call<Json>('PUT', '/api/consumers/hook2', { address: 'http://127.0.0.1:9/', patterns: ['x'], format: 'eventbus' })).body).toMatchObject({ format: 'eventbus' });
    await bus.call('PUT', '/api/consumers/ce', { address: 'http://127.0.0.1:9/', patterns: ['x'], format: 'cloudevents' });
    expect(await bus.sql<{ id: string; format: string | null }>('SELECT id, format FROM consumers ORDER BY id')).toEqual([
      { id: 'ce', format: 'cloudevents' },
      { id: 'hook', format: null },
      { id: 'hook2', format: null },
      { id: 'reader', format: null },
    ]);
  });

  test('consumers: PUT registers or updates as REGISTER does, GET lists them or one, replay, pause and resume answer the consumer, DELETE removes it', async () => {
    const bus = await start({ EVENTBUS_ALLOWED_TARGETS: '127.0.0.1' });
    await publish(bus, 'orders.eu', ['1', '2', '3']);
    const made = await bus.call<Json>('PUT', '/api/consumers/billing', { patterns: ['orders.*'] });
    expect(made).toMatchObject({ status: 200, body: { id: 'billing', address: null, patterns: ['orders.*'], filter: null, state: 'offline', paused: false, position: 3, lag: 0, in_flight: 0, dead_letters: 0 } });
    expect(b.Consumer.parse(made.body)).toBeTruthy();
    const updated = await bus.call<Json>('PUT', '/api/consumers/billing', { patterns: ['refunds'], filter: { 'payload.n': { $gt: 1 } } });
    expect(updated.body).toMatchObject({ patterns: ['orders.*', 'refunds'], filter: { 'payload.n': { $gt: 1 } } });
    expect(await bus.call('PUT', '/api/consumers/pushed', { address: 'tcp://10.0.0.1:9000', patterns: ['a'] })).toMatchObject({ status: 400, body: { code: 'BAD_ADDRESS' } });
    expect(await bus.call('PUT', '/api/consumers/pushed', { address: 'smtp://127.0.0.1:25', patterns: ['a'] })).toMatchObject({ status: 400, body: { code: 'BAD_ADDRESS' } });
    expect(await bus.call('PUT', '/api/consumers/pushed', { patterns: ['a..b'] })).toMatchObject({ status: 400, body: { code: 'BAD_PATTERN' } });
    expect(await bus.call('PUT', '/api/consumers/pushed', { patterns: 'a' })).toMatchObject({ status: 400, body: { code: 'BAD_ARGS' } });
    expect(await bus.call('PUT', '/api/consumers/bad%20name', { patterns: ['a'] })).toMatchObject({ status: 400, body: { code: 'BAD_ARGS' } });
    const pushed = await bus.call<Json>('PUT', '/api/consumers/pushed', { address: 'http://127.0.0.1:1/hook', patterns: ['a'] });
    expect(pushed.body).toMatchObject({ id: 'pushed', address: 'http://127.0.0.1:1/hook', patterns: ['a'] });

    const list = await bus.call<Json[]>('GET', '/api/consumers');
    expect(b.Consumer.array().parse(list.body).map((c) => c.id)).toEqual(['billing', 'pushed']);
    expect((await bus.call('GET', '/api/consumers/billing')).body).toEqual(updated.body);
    expect(await bus.call('GET', '/api/consumers/nobody')).toMatchObject({ status: 404, body: { code: 'UNKNOWN_CONSUMER' } });

    expect(await bus.call('POST', '/api/consumers/billing/replay', { from_seq: 2 })).toMatchObject({ status: 200, body: { position: 1 } });
    expect(await bus.call('POST', '/api/consumers/billing/replay', { from_time: 0 })).toMatchObject({ status: 200, body: { position: 0 } });
    expect(await bus.call('POST', '/api/consumers/billing/replay', {})).toMatchObject({ status: 400, body: { code: 'BAD_ARGS' } });
    expect(await bus.call('POST', '/api/consumers/billing/replay', { from_seq: 0 })).toMatchObject({ status: 400, body: { code: 'BAD_ARGS' } });
    expect(await bus.call('POST', '/api/consumers/nobody/replay', { from_seq: 1 })).toMatchObject({ status: 404, body: { code: 'UNKNOWN_CONSUMER' } });
    expect(await bus.call('POST', '/api/consumers/billing/pause')).toMatchObject({ status: 200, body: { paused: true, state: 'paused' } });
    expect(await bus.call('POST', '/api/consumers/billing/resume')).toMatchObject({ status: 200, body: { paused: false, state: 'offline' } });
    expect(await bus.call('POST', '/api/consumers/nobody/pause')).toMatchObject({ status: 404, body: { code: 'UNKNOWN_CONSUMER' } });

    expect(await bus.call('DELETE', '/api/consumers/pushed')).toEqual(expect.objectContaining({ status: 200, body: { id: 'pushed' } }));
    expect(await bus.call('DELETE', '/api/consumers/pushed')).toMatchObject({ status: 404, body: { code: 'UNKNOWN_CONSUMER' } });
    expect((await bus.call<Json[]>('GET', '/api/consumers')).body.map((c) => c['id'])).toEqual(['billing']);
  });

  test('POST /api/consumers/<id>/replay answers the consumer rewound: its position below from_seq and its lag from there, though a fast address has it all again at once', async () => {
    const bus = await start({ EVENTBUS_ALLOWED_TARGETS: '127.0.0.1' });
    // tcp: a delivery is done once written, so the rewound messages are all sent again within moments.
    const tcp = await startEndpoint('tcp');
    scope.defer(() => tcp.stop());
    expect((await bus.call('PUT', '/api/consumers/fast', { address: tcp.url, patterns: ['fast.*'] })).status).toBe(200);
    const seqs = await publish(bus, 'fast.a', ['1', '2', '3', '4', '5']);
    await tcp.waitFor(5);
    await until('the consumer at the head', async () => (await bus.call<Json>('GET', '/api/consumers/fast')).body['position'] === seqs[4]);
    const rewound = await bus.call<Json>('POST', '/api/consumers/fast/replay', { from_seq: seqs[1] });
    expect(rewound).toMatchObject({ status: 200, body: { id: 'fast', position: seqs[1]! - 1, lag: 4 } });
    await tcp.waitFor(9);
    expect(tcp.payloads().slice(5)).toEqual(['2', '3', '4', '5']);
    await until('the consumer back at the head', async () => (await bus.call<Json>('GET', '/api/consumers/fast')).body['lag'] === 0);
  });

  test('PUT with lease_ms: the consumer is removed once that long passes without a PUT giving it again; one without a lease stays', async () => {
    const bus = await start();
    const ids = async () => (await bus.call<Json[]>('GET', '/api/consumers')).body.map((c) => c['id']);
    expect((await bus.call('PUT', '/api/consumers/leased', { patterns: ['l.*'], lease_ms: 2500 })).status).toBe(200);
    expect((await bus.call('PUT', '/api/consumers/kept', { patterns: ['l.*'] })).status).toBe(200);
    expect(await bus.call('PUT', '/api/consumers/bad', { patterns: ['l.*'], lease_ms: 0 })).toMatchObject({ status: 400, body: { code: 'BAD_ARGS' } });
    // Renewed for 5 s, well past its 2.5 s lease: kept.
    const since = Date.now();
    while (Date.now() - since < 5000) {
      expect((await bus.call('PUT', '/api/consumers/leased', { patterns: ['l.*'], lease_ms: 2500 })).status).toBe(200);
      await sleep(300);
    }
    expect(await ids()).toEqual(['leased', 'kept']);
    // An update without lease_ms keeps the lease as it is: it lapses all the same.
    expect((await bus.call('PUT', '/api/consumers/leased', { patterns: ['l.more'] })).status).toBe(200);
    await until('the lapsed consumer removed', async () => (await ids()).length === 1, 20_000);
    expect(await ids()).toEqual(['kept']);
    expect(await bus.call('GET', '/api/consumers/leased')).toMatchObject({ status: 404, body: { code: 'UNKNOWN_CONSUMER' } });
  });

  test('dead letters: listed a page at a time, requeued by seq, by filter or all (delivered again from a first attempt), deleted', async () => {
    const bus = await start({ EVENTBUS_MAX_DELIVERIES: '1' });
    const ws = await wsConnect(bus.app.ports.http);
    scope.defer(() => ws.close());
    ws.send(JSON.stringify({ type: 'subscribe', id: 's', pattern: 'pay', consumer: 'billing' }));
    const sub = (await ws.next((f) => f.type === 'subscribed'))['subscription'] as string;
    await publish(bus, 'pay', [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    for (let i = 0; i < 4; i++) {
      const m = await ws.next((f) => f.type === 'message');
      ws.send(JSON.stringify({ type: 'nack', subscription: sub, seq: m['seq'] }));
    }
    await until('four dead letters', async () => (await bus.call<Json>('GET', '/api/consumers/billing')).body['dead_letters'] === 4);
    const page = await bus.call<{ dead_letters: Json[]; next_seq: number }>('GET', '/api/consumers/billing/dead-letters?limit=3');
    expect(b.DeadLettersPage.parse(page.body)).toBeTruthy();
    expect(page.body.dead_letters.map((d) => [d['seq'], d['payload'], d['deliveries']])).toEqual([
      [1, '{"n":1}', 1],
      [2, '{"n":2}', 1],
      [3, '{"n":3}', 1],
    ]);
    expect(page.body.dead_letters[0]).toMatchObject({ topic: 'pay', metadata: { content_type: 'application/json' }, reason: expect.stringContaining('nack') as string });
    expect(page.body.next_seq).toBe(4);
    expect((await bus.call<{ dead_letters: Json[] }>('GET', '/api/consumers/billing/dead-letters?from_seq=4')).body.dead_letters.map((d) => d['seq'])).toEqual([4]);

    expect(await bus.call('POST', '/api/consumers/billing/dead-letters/requeue', { seqs: [2] })).toMatchObject({ status: 200, body: { requeued: 1 } });
    expect(await bus.call('POST', '/api/consumers/billing/dead-letters/requeue', { filter: { 'payload.n': { $gte: 4 } } })).toMatchObject({ body: { requeued: 1 } });
    const again = [await ws.next((f) => f.type === 'message'), await ws.next((f) => f.type === 'message')];
    expect(again.map((m) => [m['seq'], m['delivery']])).toEqual([
      [2, 1],
      [4, 1],
    ]);
    for (const m of again) ws.send(JSON.stringify({ type: 'ack', subscription: sub, seq: m['seq'] }));
    expect(await bus.call('DELETE', '/api/consumers/billing/dead-letters', { seqs: [1] })).toMatchObject({ status: 200, body: { deleted: 1 } });
    expect(await bus.call('POST', '/api/consumers/billing/dead-letters/requeue')).toMatchObject({ status: 200, body: { requeued: 1 } });
    expect((await ws.next((f) => f.type === 'message'))['seq']).toBe(3);
    expect(await bus.call('DELETE', '/api/consumers/billing/dead-letters')).toMatchObject({ status: 200, body: { deleted: 0 } });
    expect(await bus.call('POST', '/api/consumers/billing/dead-letters/requeue', { seqs: ['x'] })).toMatchObject({ status: 400, body: { code: 'BAD_ARGS' } });
    expect(await bus.call('POST', '/api/consumers/billing/dead-letters/requeue', { filter: { 'payload.n': { $nope: 1 } } })).toMatchObject({ status: 400, body: { code: 'BAD_ARGS' } });
    expect(await bus.call('GET', '/api/consumers/nobody/dead-letters')).toMatchObject({ status: 404, body: { code: 'UNKNOWN_CONSUMER' } });
    expect(await bus.call('DELETE', '/api/consumers/nobody/dead-letters')).toMatchObject({ status: 404, body: { code: 'UNKNOWN_CONSUMER' } });
  });

  test('GET /api/stats: this broker, the log, and the brokers alive on the database', async () => {
    const bus = await start();
    await publish(bus, 'a', ['1']);
    await bus.call('PUT', '/api/consumers/c', { patterns: ['a'] });
    const c = await lineClient(bus.app.ports.transport);
    scope.defer(() => c.destroy());
    const stats = await bus.call<Json>('GET', '/api/stats');
    expect(b.Stats.parse(stats.body)).toBeTruthy();
    expect(stats.body).toMatchObject({ head_seq: 1, topics: 1, consumers: 1, subscriptions: 0 });
    expect(stats.body['connections']).toMatchObject({ transport: 1, websocket: 0, sse: 0 });
    const nodes = stats.body['nodes'] as Json[];
    expect(nodes.map((n) => n['node_id'])).toContain(stats.body['node_id']);
  });

  test('a consumer\'s lag, in-flight and dead letters are the same in /api/consumers, LIST, /metrics and the SQL of docs/database.md', async () => {
    const bus = await start({ EVENTBUS_MAX_DELIVERIES: '1' });
    await bus.call('PUT', '/api/consumers/billing', { patterns: ['orders.*'] });
    await publish(bus, 'orders.created', ['1', '2', '3']);
    await publish(bus, 'orders.paid', ['4', '5']);
    await publish(bus, 'refunds', ['x', 'y']);
    const ws = await wsConnect(bus.app.ports.http);
    scope.defer(() => ws.close());
    ws.send(JSON.stringify({ type: 'subscribe', id: 's', pattern: 'orders.*', consumer: 'billing' }));
    const sub = (await ws.next((f) => f.type === 'subscribed'))['subscription'];
    const got = [];
    for (let i = 0; i < 5; i++) got.push((await ws.next((f) => f.type === 'message'))['seq']);
    ws.send(JSON.stringify({ type: 'ack', subscription: sub, seq: got[1] }));
    ws.send(JSON.stringify({ type: 'ack', subscription: sub, seq: got[3] }));
    ws.send(JSON.stringify({ type: 'nack', subscription: sub, seq: got[4] }));
    const registration = await lineClient(bus.app.ports.registration);
    scope.defer(() => registration.destroy());
    const figures = async () => {
      const api = (await bus.call<Json>('GET', '/api/consumers/billing')).body;
      const listed = await registration.send('LIST');
      await registration.readLine(); // END
      const fields = Object.fromEntries(listed.split(' ').slice(5).map((kv) => kv.split('=') as [string, string]));
      const gauge = async (name: string) => (await metric(bus.base, name)).get('{consumer="billing"}');
      const [sql] = await bus.sql<{ lag: number }>(LAG_SQL);
      return {
        api: [api['lag'], api['in_flight'], api['dead_letters']],
        list: [Number(fields['lag']), Number(fields['in_flight']), Number(fields['dead_letters'])],
        metrics: [await gauge('eventbus_consumer_lag'), await gauge('eventbus_consumer_in_flight'), await gauge('eventbus_consumer_dead_letters')],
        sql: sql!.lag,
      };
    };
    // 1 and 3 unacked; 2 and 4 acked above the floor; 5 dead: a lag of 2; refunds are not the consumer's.
    await until('the acks and the dead letter to be written', async () => (await figures()).sql === 2);
    expect(await figures()).toEqual({ api: [2, 2, 1], list: [2, 2, 1], metrics: [2, 2, 1], sql: 2 });
    await ws.close();
    await until('the subscriber to be gone', async () => (await bus.call<Json>('GET', '/api/consumers/billing')).body['in_flight'] === 0);
    expect(await figures()).toEqual({ api: [2, 0, 1], list: [2, 0, 1], metrics: [2, 0, 1], sql: 2 });
  });

  test('with EVENTBUS_TOKEN every route wants it: 401 UNAUTHORIZED without, served with the Bearer header or ?token=', async () => {
    const bus = await start({ EVENTBUS_TOKEN: 's3cret' });
    for (const [method, path] of [['GET', '/api/consumers'], ['POST', '/api/publish'], ['GET', '/api/openapi.json'], ['GET', '/api/nothing']] as const) {
      expect(await bus.call(method, path, method === 'POST' ? { topic: 'a', payload: 'x' } : undefined), path).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED' } });
    }
    expect((await bus.call('POST', '/api/publish', { topic: 'a', payload: 'x' }, { authorization: 'Bearer s3cret' })).status).toBe(200);
    expect((await bus.call('GET', '/api/messages/1?token=s3cret')).status).toBe(200);
  });

  test('a method a path does not take is 405 with Allow; a path nothing serves is 404', async () => {
    const bus = await start();
    const res = await fetch(`${bus.base}/api/consumers/x/pause`, { method: 'GET' });
    expect({ status: res.status, allow: res.headers.get('allow'), body: await res.json() }).toEqual({ status: 405, allow: 'POST', body: { code: 'BAD_FORMAT', message: expect.any(String) as string } });
    expect((await fetch(`${bus.base}/api/publish`)).headers.get('allow')).toBe('POST');
    expect(await bus.call('GET', '/api/nothing')).toMatchObject({ status: 404, body: { code: 'UNKNOWN_ROUTE' } });
    expect(await bus.call('GET', '/nothing')).toMatchObject({ status: 404, body: { code: 'UNKNOWN_ROUTE' } });
  });
});

/** The lag recipe of docs/database.md, as it is written there: for the consumer billing and the topics orders.created and orders.paid. */
const LAG_SQL = (() => {
  const doc = readFileSync(fileURLToPath(new URL('../../docs/database.md', import.meta.url)), 'utf8');
  const recipe = /-- the lag of the consumer billing\n([\s\S]*?);\n```/.exec(doc);
  if (recipe === null) throw new Error('docs/database.md has no lag recipe for billing');
  return recipe[1]!;
})();

describe('the OpenAPI document at /api/openapi.json', () => {
  test('describes every route of PROTOCOL.md §8 and §12, the dashboard and its stats stream too, with its methods, and the schemas of its bodies and answers', async () => {
    const bus = await startApi(scope, 'sqlite');
    const doc = (await bus.call<{ openapi: string; paths: Record<string, Record<string, Json>>; components: { schemas: Json } }>('GET', '/api/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    expect(routes.sort()).toEqual(
      [
        'POST /api/publish',
        'GET /api/messages',
        'GET /api/messages/{seq}',
        'GET /api/subscribe',
        'GET /api/topics',
        'GET /api/consumers',
        'GET /api/consumers/{id}',
        'PUT /api/consumers/{id}',
        'DELETE /api/consumers/{id}',
        'POST /api/consumers/{id}/replay',
        'POST /api/consumers/{id}/pause',
        'POST /api/consumers/{id}/resume',
        'GET /api/consumers/{id}/dead-letters',
        'POST /api/consumers/{id}/dead-letters/requeue',
        'DELETE /api/consumers/{id}/dead-letters',
        'POST /api/consumers/{id}/fetch',
        'POST /api/consumers/{id}/ack',
        'POST /api/consumers/{id}/nack',
        'POST /api/consumers/{id}/extend',
        'GET /api/schedules',
        'GET /api/schedules/{id}',
        'PUT /api/schedules/{id}',
        'DELETE /api/schedules/{id}',
        'POST /api/schedules/{id}/pause',
        'POST /api/schedules/{id}/resume',
        'GET /api/stats',
        'GET /api/stats/stream',
        'POST /api/credentials',
        'GET /api/credentials',
        'PATCH /api/credentials/{name}',
        'POST /api/credentials/{name}/rotate',
        'DELETE /api/credentials/{name}',
        'GET /api/audit',
        'GET /api/whoami',
        'GET /api/asyncapi.json',
        'GET /',
        'GET /healthz',
        'GET /livez',
        'GET /readyz',
        'GET /metrics',
      ].sort(),
    );
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['Message', 'Consumer', 'DeadLetter', 'Error', 'PublishMessage', 'Stats', 'Schedule', 'Scheduled', 'Credential', 'IssuedCredential', 'AuditPage', 'WhoAmI', 'FetchBody', 'Fetched', 'FetchedMessage', 'AckBody', 'NackBody', 'ExtendBody']),
    );
    // PROTOCOL.md §11's fields of a schedule.
    const schedule = doc.components.schemas['Schedule'] as { required: string[] };
    expect(schedule.required).toEqual(expect.arrayContaining(['id', 'kind', 'topic', 'payload', 'cron', 'every_ms', 'timezone', 'next_at', 'last_at', 'fires', 'missed', 'paused', 'created_at']));
    const consumer = doc.components.schemas['Consumer'] as { required: string[]; properties: Record<string, unknown> };
    // PROTOCOL.md §8's fields and limits, §11's backoff_ms, §13's format, and last_failure, an extension.
    expect(consumer.required.sort()).toEqual(
      ['ack_timeout_ms', 'address', 'backoff_ms', 'dead_letters', 'filter', 'format', 'id', 'in_flight', 'lag', 'last_failure', 'max_deliveries', 'max_in_flight', 'patterns', 'paused', 'position', 'state'].sort(),
    );
    // A fetched message: a message with its attempt and its ack deadline.
    const fetched = doc.components.schemas['FetchedMessage'] as { required: string[] };
    expect(fetched.required).toEqual(expect.arrayContaining(['seq', 'topic', 'payload', 'message_id', 'metadata', 'created_at', 'delivery', 'ack_deadline']));
    expect(JSON.stringify(consumer.properties['last_failure'])).toMatch(/"at".*"error"/);
    expect(doc.paths['/api/subscribe']!['get']!['responses']).toMatchObject({ 200: { content: { 'text/event-stream': expect.any(Object) as object } } });
    expect(doc.paths['/api/stats/stream']!['get']!['responses']).toMatchObject({ 200: { content: { 'text/event-stream': { schema: { $ref: '#/components/schemas/StatsEvent' } } } } });
  });

  test("documents a consumer's format (PROTOCOL.md §13): its two values in the answer, and in PUT's body an optional field that says what each does", async () => {
    const bus = await startApi(scope, 'sqlite');
    const doc = (await bus.call<{ components: { schemas: Record<string, { required?: string[]; properties: Record<string, unknown> }> } }>('GET', '/api/openapi.json')).body;
    const { Consumer: consumer, ConsumerBody: body } = doc.components.schemas;
    expect(consumer!.required).toContain('format');
    expect(consumer!.properties['format']).toMatchObject({ type: 'string', enum: ['eventbus', 'cloudevents'] });
    expect(body!.required ?? []).not.toContain('format');
    expect(JSON.stringify(body!.properties['format'])).toMatch(/"eventbus".*"cloudevents".*http:\/\/ or https:\/\/.*null.*absent/);
  });
});
