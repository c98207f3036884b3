// GET /api/asyncapi.json (PROTOCOL.md §13) over real sockets: a document the AsyncAPI parser reads without an
// error, and the truth about the broker: every frame it really sends over a WebSocket, and every event of
// GET /api/subscribe (plain and format=cloudevents), validates against its message's schema in the document.
import { readFileSync } from 'node:fs';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { describe, expect, test } from 'vitest';
import { SSE_EVENTS } from '../../src/protocol/ws-frame-schemas.js';
import { payloadValidators, type PayloadValidators } from '../helpers/asyncapi.js';
import { sseConnect, startApi, type ApiBus, type SseClient } from '../helpers/http-api.js';
import { testScope } from '../helpers/scope.js';
import { wsConnect, type Frame, type WsClient } from '../helpers/ws-client.js';

const scope = testScope();

type Json = Record<string, unknown>;

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const ADMIN = 'admin-token';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

async function fetchDocument(bus: ApiBus, token?: string): Promise<Json> {
  const r = await bus.call<Json>('GET', '/api/asyncapi.json', undefined, token === undefined ? {} : { authorization: `Bearer ${token}` });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  return r.body;
}

/** A WebSocket client that keeps every frame the broker sends, in order, for checking at the end. */
async function recordingClient(bus: ApiBus, received: Frame[], path = '/ws'): Promise<WsClient> {
  const c = await wsConnect(bus.app.ports.http, {
    path,
    consume: (frame) => {
      received.push(frame);
      return false;
    },
  });
  scope.defer(() => c.close());
  return c;
}

/** The frames that no message of the document with their `type` takes, each with what every candidate said. */
function undescribed(validators: PayloadValidators, received: readonly Frame[]): string[] {
  const problems: string[] = [];
  for (const frame of received) {
    const candidates = validators.byType(frame.type);
    const verdicts = candidates.map((name) => [name, validators.check(name, frame)] as const);
    if (verdicts.some(([, problem]) => problem === undefined)) continue;
    problems.push(`${JSON.stringify(frame).slice(0, 300)}: ${candidates.length === 0 ? 'no message has this type' : verdicts.map(([name, problem]) => `${name}: ${problem}`).join(' | ')}`);
  }
  return problems;
}

const typesOf = (received: readonly Frame[]): string[] => [...new Set(received.map((f) => f.type))].sort();

describe('the document', () => {
  test('is AsyncAPI 3.0.0 that @asyncapi/parser reads without an error: both channels, every frame as a message, operations with their replies, the auth of §7', async () => {
    const bus = await startApi(scope, 'sqlite');
    const doc = await fetchDocument(bus);
    const parser = new Parser();
    const text = JSON.stringify(doc);
    const diagnostics = await parser.validate(text);
    // By name: the parser's DiagnosticSeverity and its diagnostics' come from two copies of @stoplight/types.
    expect(diagnostics.filter((d) => DiagnosticSeverity[d.severity] === 'Error').map((d) => `${d.code} ${d.path.join('.')}: ${d.message}`)).toEqual([]);
    const { document } = await parser.parse(text);
    expect(document).toBeDefined();

    expect(doc).toMatchObject({ asyncapi: '3.0.0', info: { version: VERSION, title: expect.any(String) as string, description: expect.stringContaining('Server-Sent Events') as string } });
    expect(document!.channels().all().map((ch) => [ch.id(), ch.address()])).toEqual([
      ['websocket', '/ws'],
      ['subscribe', '/api/subscribe'],
    ]);
    expect(document!.servers().all().map((s) => [s.id(), s.protocol(), s.host()])).toEqual([
      ['websocket', 'ws', '{host}'],
      ['http', 'http', '{host}'],
    ]);
    for (const server of document!.servers().all()) expect(server.security().map((requirement) => requirement.all().map((r) => r.scheme().type()))).toEqual([['http'], ['httpApiKey']]);

    // §5's frames, both ways, and the events of the stream.
    const websocket = document!.channels().get('websocket')!;
    expect(websocket.messages().all().map((m) => m.id()).sort()).toEqual(
      ['publish', 'publish_batch', 'subscribe', 'ack', 'nack', 'unsubscribe', 'ping', 'published', 'published_batch', 'scheduled', 'subscribed', 'unsubscribed', 'pong', 'error', 'message'].sort(),
    );
    expect(document!.channels().get('subscribe')!.messages().all().map((m) => m.id())).toEqual(Object.keys(SSE_EVENTS));
    for (const message of document!.messages().all()) {
      expect(message.hasPayload(), message.id()).toBe(true);
      expect(message.hasDescription(), message.id()).toBe(true);
    }

    // Requests the broker receives, answered on the same connection; what it sends on its own.
    const operations = Object.fromEntries(
      document!.operations().all().map((op) => [op.id(), { action: op.action(), messages: op.messages().all().map((m) => m.id()), replies: op.reply()?.messages().all().map((m) => m.id()) ?? [] }]),
    );
    expect(operations).toEqual({
      publish: { action: 'receive', messages: ['publish'], replies: ['published', 'scheduled', 'error'] },
      publishBatch: { action: 'receive', messages: ['publish_batch'], replies: ['published_batch', 'error'] },
      subscribe: { action: 'receive', messages: ['subscribe'], replies: ['subscribed', 'error'] },
      ack: { action: 'receive', messages: ['ack'], replies: [] },
      nack: { action: 'receive', messages: ['nack'], replies: [] },
      unsubscribe: { action: 'receive', messages: ['unsubscribe'], replies: ['unsubscribed', 'error'] },
      ping: { action: 'receive', messages: ['ping'], replies: ['pong'] },
      deliver: { action: 'send', messages: ['message'], replies: [] },
      endSubscription: { action: 'send', messages: ['unsubscribed'], replies: [] },
      refuse: { action: 'send', messages: ['error'], replies: [] },
      streamEvents: { action: 'send', messages: ['sse_message', 'sse_cloudevent', 'sse_error'], replies: [] },
    });
    // The stream's query parameters, as the HTTP binding of its operation.
    const { query } = document!.operations().get('streamEvents')!.bindings().get('http')!.value<{ query: { properties: Json } }>();
    expect(Object.keys(query.properties).sort()).toEqual(['format', 'from_seq', 'from_time', 'pattern', 'token']);

    // Made once: the same text on every request.
    expect(JSON.stringify(await fetchDocument(bus))).toBe(text);
    // And listed in the OpenAPI document like every route.
    const openapi = (await bus.call<{ paths: Record<string, Json> }>('GET', '/api/openapi.json')).body;
    expect(openapi.paths['/api/asyncapi.json']).toHaveProperty('get');
  });

  test('with EVENTBUS_TOKEN any valid token may read it, as /api/openapi.json; no token is answered 401', async () => {
    const bus = await startApi(scope, 'sqlite', { EVENTBUS_TOKEN: ADMIN });
    expect((await bus.call('GET', '/api/asyncapi.json')).status).toBe(401);
    const made = await bus.call<{ token: string }>('POST', '/api/credentials', { name: 'publisher', publish: ['orders.#'] }, { authorization: `Bearer ${ADMIN}` });
    expect(made.status).toBe(201);
    await fetchDocument(bus, made.body.token);
    expect((await bus.call('GET', `/api/asyncapi.json?token=${made.body.token}`)).status).toBe(200);
  });

  test('a frame that does not match its schema fails the check: the document with a field taken out of `published` refuses a real answer', async () => {
    const bus = await startApi(scope, 'sqlite');
    const doc = await fetchDocument(bus);
    const received: Frame[] = [];
    const c = await recordingClient(bus, received);
    await c.publish({ topic: 'a', payload: 'x' });
    expect(undescribed(payloadValidators(doc), received)).toEqual([]);
    const published = (doc['components'] as { messages: Record<string, { payload: { properties: Json } }> }).messages['published']!.payload;
    delete published.properties['message_id'];
    expect(undescribed(payloadValidators(doc), received)).toEqual([expect.stringMatching(/published: .*must NOT have additional properties.*"additionalProperty":"message_id"/)]);
  });
});

describe('what the broker really sends validates against the document', () => {
  test('over a WebSocket: answers to every request, deliveries and redeliveries, a subscription the broker ends, and errors', async () => {
    const bus = await startApi(scope, 'sqlite', { EVENTBUS_MAX_PAYLOAD: '2000' });
    const validators = payloadValidators(await fetchDocument(bus));
    const received: Frame[] = [];
    const c = await recordingClient(bus, received);

    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    c.send('{"type":"ping","id":7}');
    expect(await c.next((f) => f['id'] === 7)).toMatchObject({ type: 'pong' });
    await c.publish({ topic: 'orders.created', payload: { id: 1 }, message_id: 'o-1', metadata: { traceparent: TRACEPARENT, region: 'eu' }, ordering_key: 'c-1' }, { ttl: 60 });
    expect(await c.request({ type: 'publish', data: { topic: 'orders.created', payload: 'again', message_id: 'o-1' } })).toMatchObject({ type: 'published', duplicate: true });
    expect(await c.request({ type: 'publish_batch', messages: [{ topic: 'orders.paid', payload: '1' }, { topic: 'refunds.eu', payload: null }] })).toMatchObject({ type: 'published', seqs: [2, 3] });
    expect(await c.request({ type: 'publish', data: { topic: 'later', payload: 'x', delay_ms: 3_600_000, message_id: 'l-1' } })).toMatchObject({ type: 'scheduled' });
    expect(await c.request({ type: 'publish', data: { topic: 'later', payload: 'x', delay_ms: 3_600_000, message_id: 'l-1' } })).toMatchObject({ type: 'scheduled', duplicate: true });
    const mixed = await c.request({ type: 'publish_batch', messages: [{ topic: 'now', payload: 'a' }, { topic: 'later', payload: 'b', deliver_at: Date.now() + 3_600_000 }] });
    expect(mixed).toMatchObject({ type: 'published', seqs: [4, null], schedule_ids: [null, expect.any(String)] });

    // A replay of all of it, then live; a durable consumer acked, nacked and redelivered.
    const all = await c.subscribe({ pattern: '#', starting_seq: 1 });
    expect((await c.messagesThrough(all, 4)).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    const billing = await c.subscribe({ pattern: ['orders.*', 'refunds.#'], consumer: 'billing', starting_seq: 1, max_in_flight: 8 });
    const firsts = await c.messages(billing, 3);
    c.send({ type: 'ack', subscription: billing, seq: firsts[0]!.seq });
    c.send({ type: 'nack', subscription: billing, seq: firsts[1]!.seq, delay_ms: 0 });
    const [again] = await c.messages(billing, 1);
    expect(again).toMatchObject({ seq: firsts[1]!.seq, delivery: 2 });
    c.send({ type: 'ack', subscription: billing, seqs: [firsts[1]!.seq, firsts[2]!.seq] });
    await c.publish({ topic: 'orders.created', payload: 'live' });
    await c.messages(all, 1);
    await c.messages(billing, 1);
    expect(await c.request({ type: 'unsubscribe', subscription: all })).toMatchObject({ type: 'unsubscribed', subscription: all });
    // The broker ends a subscription itself: its consumer is removed.
    expect((await bus.call('DELETE', '/api/consumers/billing')).status).toBe(200);
    expect(await c.next((f) => f.type === 'unsubscribed' && f['subscription'] === billing)).toMatchObject({ reason: expect.stringContaining('removed') as string });

    // Errors, with the request's id where it had one; the connection goes on.
    const errors: [object | string, string][] = [
      ['not json', 'BAD_FRAME'],
      [{ type: 'teleport', id: 'e1' }, 'BAD_FRAME'],
      [{ type: 'publish', id: 'e2', data: { topic: 'a..b', payload: 'x' } }, 'BAD_TOPIC'],
      [{ type: 'publish', id: 'e3', data: { topic: 'a', payload: 'x'.repeat(2001) } }, 'TOO_LARGE'],
      [{ type: 'publish', id: 'e4', data: { topic: 'a', payload: 'x', message_id: '' } }, 'BAD_FRAME'],
      ['{"type":"publish","id":"e5","data":{"topic":"a","payload":"x","delay_ms":1e400}}', 'BAD_FRAME'],
      [{ type: 'subscribe', id: 'e6', pattern: 'a.#.b' }, 'BAD_PATTERN'],
      [{ type: 'subscribe', id: 'e7', pattern: 'a', filter: 5 }, 'BAD_FRAME'],
      [{ type: 'unsubscribe', id: 'e8', subscription: 'sub-999' }, 'UNKNOWN_SUBSCRIPTION'],
      [{ type: 'ack', id: 'e9', subscription: 'sub-999', seq: 1 }, 'UNKNOWN_SUBSCRIPTION'],
      [{ type: 'nack', subscription: 'sub-999', seq: 1 }, 'UNKNOWN_SUBSCRIPTION'],
    ];
    for (const [frame, code] of errors) {
      c.send(frame);
      const id = typeof frame === 'string' ? /"id":"(\w+)"/.exec(frame)?.[1] : (frame as { id?: string }).id;
      expect(await c.next((f) => f.type === 'error'), JSON.stringify(frame)).toMatchObject({ code, ...(id === undefined ? {} : { id }) });
    }
    c.sendBinary(Buffer.from('{"type":"ping"}'));
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'BAD_FRAME' });
    const frameTooLong = JSON.stringify({ type: 'publish', id: 'e10', data: { topic: 'a', payload: 'x' }, padding: 'y'.repeat(2000 + 64 * 1024) });
    c.send(frameTooLong);
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'TOO_LARGE', id: 'e10' });
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });

    expect(typesOf(received)).toEqual(['error', 'message', 'pong', 'published', 'scheduled', 'subscribed', 'unsubscribed']);
    expect(received.filter((f) => f.type === 'message').some((f) => f['ordering_key'] === 'c-1')).toBe(true);
    expect(undescribed(validators, received)).toEqual([]);
  });

  test('refusals: a missing token, too many connections, a credential narrowed, rate-limited or rotated', async () => {
    const bus = await startApi(scope, 'sqlite', { EVENTBUS_TOKEN: ADMIN });
    const validators = payloadValidators(await fetchDocument(bus, ADMIN));
    const admin = { authorization: `Bearer ${ADMIN}` };
    const received: Frame[] = [];

    const anonymous = await recordingClient(bus, received);
    expect((await anonymous.closed()).code).toBe(1008);

    const made = await bus.call<{ token: string }>('POST', '/api/credentials', { name: 'orders', publish: ['orders.#'], subscribe: ['orders.#'], publish_rate: 1 }, admin);
    expect(made.status).toBe(201);
    const c = await recordingClient(bus, received, `/ws?token=${made.body.token}`);
    expect(await c.request({ type: 'publish', data: { topic: 'audit.x', payload: 'x' } })).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(await c.request({ type: 'subscribe', pattern: '#' })).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    // Five at once on a rate of one a second: some are refused however slow the machine.
    const answers = await Promise.all([1, 2, 3, 4, 5].map((n) => c.request({ type: 'publish', data: { topic: 'orders.a', payload: String(n) } })));
    expect(answers.map((a) => a['code'] ?? a.type)).toContain('RATE_LIMITED');
    const wide = await c.subscribe({ pattern: 'orders.#' });
    expect((await bus.call('PATCH', '/api/credentials/orders', { subscribe: ['orders.eu.#'] }, admin)).status).toBe(200);
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining(wide) as string });
    expect((await bus.call('POST', '/api/credentials/orders/rotate', undefined, admin)).status).toBe(200);
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'UNAUTHORIZED' });

    expect(typesOf(received)).toEqual(['error', 'published', 'subscribed']);
    expect(new Set(received.filter((f) => f.type === 'error').map((f) => f['code']))).toEqual(new Set(['UNAUTHORIZED', 'FORBIDDEN', 'RATE_LIMITED']));
    expect(undescribed(validators, received)).toEqual([]);

    // One connection past EVENTBUS_MAX_CONNECTIONS: a bus of its own, where only WebSocket clients connect.
    const full = await startApi(scope, 'sqlite', { EVENTBUS_MAX_CONNECTIONS: '1' });
    const turnedAway: Frame[] = [];
    await recordingClient(full, []);
    const extra = await recordingClient(full, turnedAway);
    expect((await extra.closed()).code).toBe(1013);
    expect(turnedAway).toEqual([expect.objectContaining({ type: 'error', code: 'UNAVAILABLE' })]);
    expect(undescribed(validators, turnedAway)).toEqual([]);
  });

  test('over GET /api/subscribe: message events, plain and as CloudEvents, and the error event that ends a stream', async () => {
    const bus = await startApi(scope, 'sqlite', { EVENTBUS_TOKEN: ADMIN });
    const validators = payloadValidators(await fetchDocument(bus, ADMIN));
    const admin = { authorization: `Bearer ${ADMIN}` };
    const bodies = [
      { topic: 'orders.created', payload: 'plain text' },
      { topic: 'orders.created', payload: { id: 7 }, message_id: 'o-7', ordering_key: 'c-7', metadata: { traceparent: TRACEPARENT, tracestate: 'k=v' } },
      { topic: 'orders.paid', payload: 'null', metadata: { content_type: 'application/json' } },
      { messages: [{ topic: 'orders.batch', payload: [1, 2] }, { topic: 'orders.batch', payload: 'x', ttl: 60 }] },
    ];
    for (const body of bodies) expect((await bus.call('POST', '/api/publish', body, admin)).status).toBe(200);
    const open = async (path: string, token = ADMIN): Promise<SseClient> => {
      const client = await sseConnect(bus.app.ports.http, path, { authorization: `Bearer ${token}` });
      scope.defer(() => client.close());
      expect(client.status).toBe(200);
      return client;
    };

    const check = (name: keyof typeof SSE_EVENTS, events: readonly { event?: string; data: string }[]): string[] =>
      events.flatMap((e) => {
        if (e.event !== SSE_EVENTS[name].event) return [`${e.event ?? '(no event)'} is not ${name}'s event`];
        const problem = validators.check(name, JSON.parse(e.data));
        return problem === undefined ? [] : [`${e.data.slice(0, 300)}: ${problem}`];
      });

    const plain = await open('/api/subscribe?pattern=orders.%23&from_seq=1');
    const cloud = await open('/api/subscribe?pattern=orders.%23&from_seq=1&format=cloudevents');
    const plainEvents = await plain.take(5);
    const cloudEvents = await cloud.take(5);
    expect(check('sse_message', plainEvents)).toEqual([]);
    expect(check('sse_cloudevent', cloudEvents)).toEqual([]);
    expect(cloudEvents.map((e) => (JSON.parse(e.data) as { traceparent?: string }).traceparent)).toContain(TRACEPARENT);
    // Live events too, after the catch-up.
    await bus.call('POST', '/api/publish', { topic: 'orders.live', payload: 'now' }, admin);
    expect(check('sse_message', await plain.take(1))).toEqual([]);
    expect(check('sse_cloudevent', await cloud.take(1))).toEqual([]);
    // Neither kind passes for the other: the check tells them apart.
    expect(check('sse_cloudevent', plainEvents.slice(0, 1))).not.toEqual([]);

    // A stream its credential may no longer read ends with an error event.
    const made = await bus.call<{ token: string }>('POST', '/api/credentials', { name: 'reader', subscribe: ['orders.#'] }, admin);
    const narrowed = await open('/api/subscribe?pattern=orders.%23', made.body.token);
    expect((await bus.call('PATCH', '/api/credentials/reader', { subscribe: ['orders.eu.#'] }, admin)).status).toBe(200);
    const ended = await narrowed.take(1);
    expect(check('sse_error', ended)).toEqual([]);
    expect(JSON.parse(ended[0]!.data)).toMatchObject({ code: 'FORBIDDEN' });
  });
});
