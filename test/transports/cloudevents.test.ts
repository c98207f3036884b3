// CloudEvents 1.0 into the log over POST /api/publish (PROTOCOL.md §13), sent with the `cloudevents` SDK as a
// user's program sends them: binary, structured and batch mode; the topic from ?topic= or the event's type; the
// id as message_id (the same event twice stored once); datacontenttype as the content type; the other
// attributes and extensions in metadata.cloudevents; the distributed-tracing extension as the trace context.
// And out of the log, read with the SDK as a receiver reads them: structured on SSE, and binary-mode pushes to a
// consumer of `"format":"cloudevents"`, on both stores (the format is a column of the consumer's row).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudEvent, HTTP } from 'cloudevents';
import { describe, expect, test } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { silentLogger } from '../../src/logger.js';
import { tempDir, testAppConfig } from '../helpers/broker.js';
import { sseConnect, startApi, type ApiBus, type StoreKind } from '../helpers/http-api.js';
import { testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();
const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

type Json = Record<string, unknown>;

async function post(bus: ApiBus, message: { headers: Record<string, unknown>; body: unknown }, query = ''): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${bus.base}/api/publish${query}`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
  return { status: res.status, body: (await res.json()) as Json };
}

const stored = async (bus: ApiBus, seq: unknown): Promise<Json> => (await bus.call<Json>('GET', `/api/messages/${String(seq)}`)).body;

describe('CloudEvents out: GET /api/subscribe?format=cloudevents', () => {
  test("each event's data is the message as a structured CloudEvent the SDK reads", async () => {
    const bus = await startApi(scope, 'sqlite', { EVENTBUS_NODE_ID: 'node-a:7' });
    const stream = await sseConnect(bus.app.ports.http, '/api/subscribe?pattern=orders.*&format=cloudevents');
    scope.defer(() => stream.close());
    await bus.call('POST', '/api/publish', { topic: 'orders.created', payload: { id: 7 }, message_id: 'order-7', metadata: { traceparent: PARENT } });
    const plain = await bus.call<{ seq: number }>('POST', '/api/publish', { topic: 'orders.noted', payload: 'just text' });
    const [first, second] = (await stream.take(2)).map((e) => HTTP.toEvent({ headers: { 'content-type': 'application/cloudevents+json' }, body: e.data }) as CloudEvent<unknown>);
    expect(first).toMatchObject({ specversion: '1.0', id: 'order-7', source: 'node-a%3A7', type: 'orders.created', datacontenttype: 'application/json', data: { id: 7 }, sequence: '1', traceparent: PARENT });
    expect(second).toMatchObject({ id: `eventbus-${plain.body.seq}`, type: 'orders.noted', datacontenttype: 'text/plain', data: 'just text', sequence: String(plain.body.seq) });
    expect(Date.parse(first!.time!)).toBeGreaterThan(0);
  });
});

describe('CloudEvents on POST /api/publish', () => {
  test('binary mode: the headers are the attributes, the body the data; the same event twice is stored once', async () => {
    const bus = await startApi(scope, 'sqlite');
    const event = new CloudEvent({ type: 'orders.created', source: '/shop', id: 'order-7', subject: 'order/7', data: { id: 7 }, traceparent: PARENT, region: 'eu' });
    const first = await post(bus, HTTP.binary(event));
    expect(first).toMatchObject({ status: 200, body: { message_id: 'order-7', duplicate: false } });
    expect(await post(bus, HTTP.binary(event))).toMatchObject({ status: 200, body: { seq: first.body['seq'], duplicate: true } });
    const message = await stored(bus, first.body['seq']);
    expect(message).toMatchObject({ topic: 'orders.created', payload: '{"id":7}', message_id: 'order-7' });
    expect(message['metadata']).toEqual({
      content_type: 'application/json; charset=utf-8',
      cloudevents: { source: '/shop', subject: 'order/7', time: event.time, traceparent: PARENT, region: 'eu' },
      traceparent: PARENT,
      timestamp: expect.any(Number) as number,
    });
    // Text data, and the topic from the query rather than the type.
    const text = new CloudEvent({ type: 'com.example.note', source: '/notes', data: 'plain words', datacontenttype: 'text/plain' });
    const noted = await post(bus, HTTP.binary(text), '?topic=notes.added');
    expect(await stored(bus, noted.body['seq'])).toMatchObject({ topic: 'notes.added', payload: 'plain words', message_id: text.id, metadata: { content_type: 'text/plain' } });
  });

  test('structured mode, and a batch stored all or none', async () => {
    const bus = await startApi(scope, 'sqlite');
    const event = new CloudEvent({ type: 'orders.paid', source: '/shop', id: 'paid-7', data: { id: 7, total: 12.5 } });
    const one = await post(bus, HTTP.structured(event));
    expect(one.status).toBe(200);
    expect(await stored(bus, one.body['seq'])).toMatchObject({ topic: 'orders.paid', payload: '{"id":7,"total":12.5}', message_id: 'paid-7', metadata: { content_type: 'application/json', cloudevents: { source: '/shop' } } });

    const events = ['a', 'b', 'c'].map((id) => new CloudEvent({ type: 'orders.shipped', source: '/shop', id: `ship-${id}`, data: id }));
    const batch = await post(bus, { headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify(events.map((e) => e.toJSON())) });
    expect(batch).toMatchObject({ status: 200, body: { message_ids: ['ship-a', 'ship-b', 'ship-c'] } });
    const head = (await bus.call<{ head_seq: number }>('GET', '/api/stats')).body.head_seq;
    // One bad event refuses the whole batch: nothing stored.
    const bad = [new CloudEvent({ type: 'orders.shipped', source: '/shop', data: 'd' }).toJSON(), { specversion: '1.0', id: 'x', source: '/shop', type: 'not a topic' }];
    const refused = await post(bus, { headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify(bad) });
    expect(refused).toMatchObject({ status: 400, body: { code: 'BAD_TOPIC' } });
    expect((refused.body['message'] as string).startsWith('event 1: ')).toBe(true);
    expect((await bus.call<{ head_seq: number }>('GET', '/api/stats')).body.head_seq).toBe(head);
  });

  test('what is not a CloudEvent is refused with a code that says why', async () => {
    const bus = await startApi(scope, 'sqlite');
    const structured = (body: string) => post(bus, { headers: { 'content-type': 'application/cloudevents+json' }, body });
    expect((await structured('{nope')).body).toMatchObject({ code: 'BAD_FORMAT' });
    expect((await structured('{"specversion":"0.3","id":"1","source":"/s","type":"a"}')).body).toMatchObject({ code: 'BAD_ARGS', message: 'specversion must be "1.0" (got "0.3")' });
    expect((await structured('{"specversion":"1.0","id":"1","type":"a"}')).body).toMatchObject({ code: 'BAD_ARGS', message: 'a CloudEvent needs a non-empty source' });
    expect((await structured('{"specversion":"1.0","id":"1","source":"/s","type":"a","data_base64":"/w=="}')).body).toMatchObject({ code: 'BAD_ARGS' });
    expect((await structured('{"specversion":"1.0","id":"1","source":"/s","type":"a","data_base64":"aGk="}')).status).toBe(200);
    expect((await post(bus, { headers: { 'content-type': 'application/cloudevents-batch+json' }, body: '{}' })).body).toMatchObject({ code: 'BAD_FORMAT' });
    expect((await post(bus, { headers: { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'content-type': 'text/plain' }, body: 'x' })).body).toMatchObject({ code: 'BAD_ARGS', message: 'a CloudEvent needs a non-empty type' });
  });
});

/** One request a push endpoint received, as it came: its headers (names lower-case) and its body as text. */
interface Pushed {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** A receiver on 127.0.0.1 that records each request and answers it with `status(n)` (n counts from 0). */
async function receiver(status: (n: number) => number = () => 200): Promise<{ url: string; requests: Pushed[] }> {
  const requests: Pushed[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const n = requests.length;
      requests.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8') });
      response.statusCode = status(n);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  scope.defer(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`, requests };
}

/** What the SDK makes of a pushed request, as a receiving program would call it. */
const sdkEvent = (r: Pushed): CloudEvent<unknown> => HTTP.toEvent({ headers: r.headers, body: r.body }) as CloudEvent<unknown>;

const received = (requests: Pushed[], n: number): Promise<Pushed[]> =>
  until(
    () => `${n} pushes (have ${requests.length})`,
    () => requests.length >= n && requests.slice(0, n),
  );

describe.each(['sqlite', 'postgres'] as StoreKind[])('CloudEvents out: a push consumer of "format":"cloudevents" on %s', (store) => {
  const start = (env: Record<string, string> = {}) => startApi(scope, store, { EVENTBUS_NODE_ID: 'shop-broker-1', ...env });

  test('gets each message as a binary-mode CloudEvent the SDK reads, with the attributes of the SSE stream\'s structured one', async () => {
    const bus = await start();
    const endpoint = await receiver();
    const put = await bus.call<Json>('PUT', '/api/consumers/hook', { address: endpoint.url, patterns: ['orders.*'], format: 'cloudevents' });
    expect(put).toMatchObject({ status: 200, body: { format: 'cloudevents' } });
    const sse = await sseConnect(bus.app.ports.http, '/api/subscribe?pattern=orders.*&format=cloudevents');
    scope.defer(() => sse.close());
    const json = await bus.call<{ seq: number }>('POST', '/api/publish', { topic: 'orders.created', payload: { id: 7, note: 'seven' }, message_id: 'order-7', metadata: { traceparent: PARENT } });
    const text = await bus.call<{ seq: number }>('POST', '/api/publish', { topic: 'orders.noted', payload: 'just text' });
    const [first, second] = await received(endpoint.requests, 2);

    // The request as the endpoint sees it: a POST to its path, the attributes as ce- headers, the data as the body.
    expect(first).toMatchObject({ method: 'POST', path: '/events', body: '{"id":7,"note":"seven"}' });
    expect(first!.headers).toMatchObject({
      'ce-specversion': '1.0',
      'ce-id': 'order-7',
      'ce-source': 'shop-broker-1',
      'ce-type': 'orders.created',
      'ce-sequence': String(json.body.seq),
      'ce-traceparent': PARENT,
      'content-type': 'application/json',
      // The W3C header as well, for whatever traces the receiving service.
      traceparent: PARENT,
      'content-length': String(Buffer.byteLength(first!.body)),
    });
    const event = sdkEvent(first!);
    expect(event).toMatchObject({ specversion: '1.0', id: 'order-7', source: 'shop-broker-1', type: 'orders.created', datacontenttype: 'application/json', data: { id: 7, note: 'seven' }, sequence: String(json.body.seq), traceparent: PARENT });
    expect(Date.parse(event.time!)).toBeGreaterThan(0);
    const plain = sdkEvent(second!);
    expect(plain).toMatchObject({ id: `eventbus-${text.body.seq}`, type: 'orders.noted', datacontenttype: 'text/plain', data: 'just text', sequence: String(text.body.seq) });
    expect(plain.traceparent).toBeUndefined();
    expect(second!.headers['traceparent']).toBeUndefined();

    // One mapping: the same events as the SSE stream's structured ones, attribute for attribute.
    const streamed = (await sse.take(2)).map((e) => HTTP.toEvent({ headers: { 'content-type': 'application/cloudevents+json' }, body: e.data }) as CloudEvent<unknown>);
    expect([event.toJSON(), plain.toJSON()]).toEqual(streamed.map((e) => e.toJSON()));

    await until('the pushes acked', async () => (await bus.call<Json>('GET', '/api/consumers/hook')).body['position'] === text.body.seq);
  });

  test('a message that came in as a CloudEvent goes out with its id, its type as the topic and its trace context, the broker as source, as on SSE', async () => {
    const bus = await start();
    const endpoint = await receiver();
    await bus.call('PUT', '/api/consumers/hook', { address: endpoint.url, patterns: ['orders.*'], format: 'cloudevents' });
    const incoming = new CloudEvent({ type: 'orders.paid', source: '/shop', id: 'paid-7', subject: 'order/7', data: { id: 7, total: 12.5 }, traceparent: PARENT, region: 'eu' });
    const message = HTTP.structured(incoming);
    const published = await fetch(`${bus.base}/api/publish`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
    expect(published.status).toBe(200);
    const [pushed] = await received(endpoint.requests, 1);
    expect(sdkEvent(pushed!)).toMatchObject({ id: 'paid-7', source: 'shop-broker-1', type: 'orders.paid', datacontenttype: 'application/json', data: { id: 7, total: 12.5 }, traceparent: PARENT, sequence: '1' });
    // As toStructured maps a message: the rest of what came in (its source, subject, the region extension) stays in
    // metadata.cloudevents, which GET /api/messages shows, and is not sent on as attributes.
    expect(pushed!.headers['ce-subject']).toBeUndefined();
    expect(pushed!.headers['ce-region']).toBeUndefined();
    expect((await stored(bus, 1))['metadata']).toMatchObject({ cloudevents: { source: '/shop', subject: 'order/7', region: 'eu' } });
  });

  test("attribute values are percent-encoded as the HTTP binding says, and a receiver that decodes them (the broker's own binary-mode publish) has them back", async () => {
    const bus = await start({ EVENTBUS_NODE_ID: 'node-a:7' });
    const endpoint = await receiver();
    await bus.call('PUT', '/api/consumers/hook', { address: endpoint.url, patterns: ['notes'], format: 'cloudevents' });
    const id = 'note 7 "ü" 100% 😀';
    await bus.call('POST', '/api/publish', { topic: 'notes', payload: 'plain words', message_id: id });
    const [pushed] = await received(endpoint.requests, 1);
    expect(pushed!.headers).toMatchObject({ 'ce-id': 'note%207%20%22%C3%BC%22%20100%25%20%F0%9F%98%80', 'ce-source': 'node-a%253A7', 'content-type': 'text/plain' });
    // Sent on, as it came, to a second broker's POST /api/publish: the attributes decode to what the first one has.
    const other = await startApi(scope, 'sqlite');
    const forwarded = await fetch(`${other.base}/api/publish`, { method: 'POST', headers: { ...pushed!.headers, host: '127.0.0.1' }, body: pushed!.body });
    const seq = ((await forwarded.json()) as Json)['seq'];
    expect(await stored(other, seq)).toMatchObject({ topic: 'notes', payload: 'plain words', message_id: id, metadata: { content_type: 'text/plain', cloudevents: { source: 'node-a%3A7' } } });
  });

  test('a push the endpoint answers 500 is sent again, the same event, until it is acked; the failure is the consumer\'s last_failure', async () => {
    const bus = await start({ EVENTBUS_ACK_TIMEOUT_MS: '400' });
    const endpoint = await receiver((n) => (n < 2 ? 500 : 200));
    await bus.call('PUT', '/api/consumers/hook', { address: endpoint.url, patterns: ['orders.*'], format: 'cloudevents' });
    const { body } = await bus.call<{ seq: number }>('POST', '/api/publish', { topic: 'orders.created', payload: { id: 7 }, message_id: 'order-7' });
    const attempts = await received(endpoint.requests, 3);
    for (const attempt of attempts) {
      expect(sdkEvent(attempt)).toMatchObject({ id: 'order-7', type: 'orders.created', sequence: String(body.seq), data: { id: 7 } });
    }
    const consumer = await until('the third attempt acked', async () => {
      const c = (await bus.call<Json>('GET', '/api/consumers/hook')).body;
      return c['position'] === body.seq && c['in_flight'] === 0 && c;
    });
    expect(consumer).toMatchObject({ lag: 0, dead_letters: 0, last_failure: { error: 'HTTP 500 Internal Server Error' } });
    expect(endpoint.requests).toHaveLength(3);
  });

  test('a tcp://, udp:// or ws:// address is refused for it with BAD_ARGS; the format is listed, kept across a restart, and a change takes effect at the next push', async () => {
    const db = await tempDir(store);
    scope.defer(() => db.cleanup());
    const config = testAppConfig(db, { EVENTBUS_NODE_ID: 'shop-broker-1' });
    let app: App = (await startApp(config, silentLogger))._unsafeUnwrap();
    scope.defer(() => app.stop());
    const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
      const res = await fetch(`http://127.0.0.1:${app.ports.http}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Json };
    };
    for (const address of ['tcp://127.0.0.1:9', 'udp://127.0.0.1:9', 'ws://127.0.0.1:9/feed']) {
      expect(await call('PUT', '/api/consumers/hook', { address, patterns: ['orders.*'], format: 'cloudevents' }), address).toMatchObject({
        status: 400,
        body: { code: 'BAD_ARGS', message: `format "cloudevents" needs an http:// or https:// push address: ${address} is not one` },
      });
    }
    expect((await call('GET', '/api/consumers')).body).toEqual([]);
    const endpoint = await receiver();
    expect((await call('PUT', '/api/consumers/hook', { address: endpoint.url, patterns: ['orders.*'], format: 'cloudevents' })).status).toBe(200);

    await app.stop();
    app = (await startApp(config, silentLogger))._unsafeUnwrap();
    expect((await call('GET', '/api/consumers')).body).toEqual([expect.objectContaining({ id: 'hook', address: endpoint.url, format: 'cloudevents' })]);
    await call('POST', '/api/publish', { topic: 'orders.created', payload: { id: 1 } });
    const [afterRestart] = await received(endpoint.requests, 1);
    expect(sdkEvent(afterRestart!)).toMatchObject({ source: 'shop-broker-1', type: 'orders.created', data: { id: 1 } });

    // Back to the default: the next push is the JSON body of PROTOCOL.md §4, with no ce- header.
    expect((await call('PUT', '/api/consumers/hook', { patterns: [], format: null })).body).toMatchObject({ format: 'eventbus' });
    const { body } = await call('POST', '/api/publish', { topic: 'orders.created', payload: { id: 2 } });
    const [, plain] = await received(endpoint.requests, 2);
    expect(Object.keys(plain!.headers).filter((h) => h.startsWith('ce-'))).toEqual([]);
    expect(JSON.parse(plain!.body)).toMatchObject({ seq: body['seq'], topic: 'orders.created', payload: '{"id":2}', delivery: 1 });
  });
});
