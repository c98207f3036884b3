// Thousands of malformed inputs per front-end, over real sockets, while a well-behaved client publishes at a
// steady pace beside them: every bad input gets a typed answer (a code and a reason), the connection that
// sent it keeps working, the good client is answered throughout and what it published is stored exactly.
import fc from 'fast-check';
import http from 'node:http';
import net from 'node:net';
import { describe, expect, test } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';
import { startTestApp } from '../helpers/app.js';
import type { TestDb } from '../helpers/broker.js';
import { lineClient, type LineClient } from '../helpers/line-client.js';
import { query, testScope } from '../helpers/scope.js';
import { wsConnect, type Frame, type WsClient } from '../helpers/ws-client.js';

const scope = testScope();
const MALFORMED = 10_000;
// Small, so that over-long inputs are cheap to send.
const MAX_PAYLOAD = 2048;
const MAX_BODY = 8192;
// The good client's answer may take this long at most while the flood goes on.
const GOOD_DEADLINE_MS = 2000;
const CODES = ERROR_CODES.join('|');

// Push addresses may only point at a closed local port: a REGISTER that happens to be valid costs nothing.
const SETTINGS = { EVENTBUS_MAX_PAYLOAD: String(MAX_PAYLOAD), EVENTBUS_HTTP_MAX_BODY: String(MAX_BODY), EVENTBUS_ALLOWED_TARGETS: '127.0.0.1:1' };

/**
 * A client that publishes `good.<name>` messages on the transport port one after another, each awaited,
 * until stopped; the answers' delays and the payloads it got `OK` for.
 */
function goodPublisher(port: number, name: string): { stop(): Promise<{ payloads: string[]; slowest: number }> } {
  let stopped = false;
  const payloads: string[] = [];
  let slowest = 0;
  const run = (async () => {
    const c = await lineClient(port);
    try {
      for (let i = 0; !stopped; i++) {
        const payload = `${name}-${i}`;
        const t = performance.now();
        const reply = await c.send(`good.${name}:${payload}`, GOOD_DEADLINE_MS * 5);
        slowest = Math.max(slowest, performance.now() - t);
        expect(reply).toMatch(/^OK \d+$/);
        payloads.push(payload);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    } finally {
      c.destroy();
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await run;
      return { payloads, slowest };
    },
  };
}

/** The good client got every answer in time, and the log holds exactly what it was answered OK for. */
function expectGoodServed(db: TestDb, name: string, good: { payloads: string[]; slowest: number }): void {
  expect(good.payloads.length).toBeGreaterThan(3);
  expect(good.slowest, 'the slowest answer to the good client, ms').toBeLessThan(GOOD_DEADLINE_MS);
  const stored = query<{ payload: string }>(db, 'SELECT payload FROM messages WHERE topic = ? ORDER BY seq', `good.${name}`);
  expect(stored.map((r) => r.payload)).toEqual(good.payloads);
}

// U+0000, which PostgreSQL's text cannot hold, in each field that is stored as text: always among the
// inputs, since a random sample meets it in a valid publish only now and then.
const NUL_LINES = ['a:\u0000', 'a:x\u0000y', '{"event_name":"a","msg":"\\u0000"}', '{"event_name":"a","msg":"x","message_id":"\\u0000"}', '{"event_name":"a","msg":"x","ordering_key":"\\u0000"}'];

// Text without newlines: one input per line. Some of it is nearly right, which reaches deeper than noise.
const noNewline = (s: string): string => s.replace(/[\r\n]/g, ' ');
const anyText = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 40 }));
const topicLike = fc.oneof(fc.constantFrom('orders.created', 'a', 'a..b', '.x', 'x.', '*', 'a.#', 'a.>', 'é', 'a b', ''), fc.string({ maxLength: 300 }));
const jsonLike = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc.record({ event_name: fc.oneof(topicLike, fc.integer(), fc.constant(null)), msg: fc.anything({ maxDepth: 2 }) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
  fc.record({
    event_name: topicLike,
    msg: fc.string(),
    message_id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    ttl: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(-1)),
    metadata: fc.oneof(fc.object({ maxDepth: 1 }), fc.string(), fc.array(fc.integer())),
  }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
);
const ingressLine = fc.oneof(
  anyText,
  jsonLike,
  fc.tuple(topicLike, anyText).map(([t, p]) => `${t}:${p}`),
  fc.integer({ min: MAX_PAYLOAD, max: MAX_PAYLOAD * 3 }).map((n) => `big.topic:${'x'.repeat(n)}`),
  fc.constantFrom('', ' ', ':', '::', '{', '{"event_name":', '\u0000', '\u0000:\u0000'),
).map(noNewline);


describe(`${MALFORMED} malformed inputs per front-end, a good client served beside them`, () => {
  test('transport port (line ingress): one typed answer per line, in order; the connection keeps working', async () => {
    const bus = await startTestApp(scope, SETTINGS);
    const { app } = bus;
    const port = app.ports.transport;
    const good = goodPublisher(port, 'ingress');
    const lines = [...NUL_LINES, ...fc.sample(ingressLine, MALFORMED - NUL_LINES.length)];
    const CONNECTIONS = 4;
    const perConnection = Math.ceil(lines.length / CONNECTIONS);
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, k) => {
        const c: LineClient = await lineClient(port);
        scope.defer(() => c.destroy());
        const mine = lines.slice(k * perConnection, (k + 1) * perConnection);
        // Pipelined in chunks, so that the flood is steady rather than one burst.
        for (let i = 0; i < mine.length; i += 250) {
          const chunk = mine.slice(i, i + 250);
          await c.write(chunk.map((l) => `${l}\n`).join(''));
          const replies = await c.readLines(chunk.length, 20_000);
          replies.forEach((reply, j) => {
            expect(reply, `reply to ${JSON.stringify(chunk[j]!.slice(0, 100))}`).toMatch(new RegExp(`^(OK \\d+( DUPLICATE)?|ERR (${CODES}) .+)$`));
          });
        }
        expect(await c.send('after.flood:still here')).toMatch(/^OK \d+$/);
      }),
    );
    expectGoodServed(bus, 'ingress', await good.stop());
  });

  test('registration port: one typed answer per command; the connection keeps working', async () => {
    const bus = await startTestApp(scope, SETTINGS);
    const { app } = bus;
    const good = goodPublisher(app.ports.transport, 'registration');
    const keyword = fc.constantFrom('REGISTER', 'register', 'SUBSCRIBE', 'UNSUBSCRIBE', 'UNREGISTER', 'REPLAY', 'PAUSE', 'RESUME', 'AUTH', 'Subscribe', 'FROB', '');
    const address = fc.oneof(
      fc.constantFrom('tcp://127.0.0.1:1', 'udp://127.0.0.1:1', 'http://127.0.0.1:1/x', 'ws://127.0.0.1:1', 'tcp://10.0.0.1:80', 'tcp://:80', 'tcp://h:99999', 'ftp://h:1', 'http://[::1', '127.0.0.1:1', 'tcp://127.0.0.1'),
      fc.webUrl(),
      anyText,
    );
    const args = fc.array(fc.oneof(fc.constantFrom('c1', 'c-2', 'bad id!', '0', '-5', '99999999999999999999'), address, topicLike, anyText), { maxLength: 5 });
    const command = fc
      .oneof(fc.tuple(keyword, args).map(([k, a]) => [k, ...a].join(' ')), anyText, fc.integer({ min: MAX_PAYLOAD, max: MAX_PAYLOAD * 2 }).map((n) => `SUBSCRIBE c1 ${'a'.repeat(n)}`))
      .map(noNewline)
      // Commands answered with several lines, or that end the session, are not what this test floods with.
      .filter((line) => !/^\s*(list|help|quit)\b/i.test(line));
    const commands = fc.sample(command, MALFORMED);
    const CONNECTIONS = 4;
    const perConnection = Math.ceil(commands.length / CONNECTIONS);
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, k) => {
        const c = await lineClient(app.ports.registration);
        scope.defer(() => c.destroy());
        for (const line of commands.slice(k * perConnection, (k + 1) * perConnection)) {
          const reply = await c.send(line, 10_000);
          expect(reply, `reply to ${JSON.stringify(line.slice(0, 100))}`).toMatch(new RegExp(`^(OK .+|ERR (${CODES}) .+)$`));
        }
        const list = await c.send('LIST');
        expect(list).toMatch(/^(END|\S+ .+)$/);
      }),
    );
    expectGoodServed(bus, 'registration', await good.stop());
  });

  test('WebSocket API: an error frame (or the request\'s answer) for every frame; the socket stays open', async () => {
    const bus = await startTestApp(scope, SETTINGS);
    const { app } = bus;
    const good = goodPublisher(app.ports.transport, 'websocket');
    const type = fc.constantFrom('publish', 'publish_batch', 'subscribe', 'ack', 'nack', 'unsubscribe', 'ping', 'PUBLISH', 'frob', '');
    const field = fc.oneof(fc.anything({ maxDepth: 2 }), topicLike);
    const frameObject = fc.record(
      {
        type: fc.oneof(type, fc.anything({ maxDepth: 1 })),
        id: fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.constant(null)),
        data: fc.oneof(fc.record({ topic: topicLike, payload: field, message_id: field, metadata: field }, { requiredKeys: [] }), field),
        messages: fc.oneof(fc.array(fc.record({ topic: topicLike, payload: field }, { requiredKeys: [] }), { maxLength: 3 }), field),
        pattern: topicLike,
        subscription: field,
        seq: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null)),
        starting_seq: field,
        starting_time: field,
        max_in_flight: field,
        ttl: field,
        delay_ms: field,
      },
      { requiredKeys: [] },
    );
    const frame = fc.oneof(
      frameObject.map((o) => JSON.stringify(o)),
      fc.json({ maxDepth: 3 }),
      anyText,
      fc.integer({ min: MAX_PAYLOAD + 64 * 1024, max: MAX_PAYLOAD + 70 * 1024 }).map((n) => JSON.stringify({ type: 'publish', data: { topic: 'big', payload: 'x'.repeat(n) } })),
    );
    const nulFrames = [
      { type: 'publish', data: { topic: 'a', payload: '\u0000' } },
      { type: 'publish', data: { topic: 'a', payload: 'x', message_id: '\u0000' } },
      { type: 'publish_batch', messages: [{ topic: 'a', payload: 'x' }, { topic: 'a', payload: 'x\u0000' }] },
      { type: 'subscribe', pattern: 'a', consumer: 'c\u0000' },
    ].map((f) => JSON.stringify(f));
    const frames = [...nulFrames, ...fc.sample(frame, MALFORMED - nulFrames.length)];
    const CONNECTIONS = 4;
    const perConnection = Math.ceil(frames.length / CONNECTIONS);
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, k) => {
        const c: WsClient = await wsConnect(app.ports.http, { consume: () => false });
        scope.defer(() => c.close());
        const mine = frames.slice(k * perConnection, (k + 1) * perConnection);
        for (let i = 0; i < mine.length; i += 100) {
          // Each chunk ends with a ping: once its pong is back, everything before it was answered.
          for (const f of mine.slice(i, i + 100)) c.send(f);
          if (i % 1000 === 0) c.sendBinary(Buffer.from([0xff, 0x00, 0x80]));
          const pong = await c.request({ type: 'ping' }, 20_000);
          expect(pong.type).toBe('pong');
          for (const f of c.takeAll((x: Frame) => x.type === 'error')) expect(String(f['code'])).toMatch(new RegExp(`^(${CODES})$`));
          c.takeAll();
        }
        expect(c.isClosed).toBe(false);
        const published = await c.publish({ topic: 'after.flood', payload: 'still here' });
        expect(published.seq).toBeGreaterThan(0);
      }),
    );
    expectGoodServed(bus, 'websocket', await good.stop());
  });
  test('HTTP API: a JSON error with a code (or the request\'s answer) for every request, never a 500', async () => {
    const bus = await startTestApp(scope, SETTINGS);
    const { app } = bus;
    const good = goodPublisher(app.ports.transport, 'http');
    const id = fc.oneof(fc.constantFrom('c1', 'c-2', '0', '%00', '..', 'a%2Fb', '%E0%A4%A'), anyText.map(encodeURIComponent));
    const path = fc.oneof(
      fc.constantFrom('/api/publish', '/api/messages', '/api/topics', '/api/consumers', '/api/stats', '/api/', '/api', '/api//consumers', '/api/openapi.json'),
      fc.oneof(anyText.map(encodeURIComponent), fc.constantFrom('0', '-1', '1.5', '99999999999999999999', '1e3')).map((seq) => `/api/messages/${seq}`),
      fc.tuple(id, fc.constantFrom('', '/replay', '/pause', '/resume', '/dead-letters', '/dead-letters/requeue', '/frob')).map(([c, rest]) => `/api/consumers/${c}${rest}`),
      anyText.map((t) => `/api/${encodeURIComponent(t)}`),
    );
    const queryValue = fc.oneof(anyText, fc.constantFrom('0', '-5', '1.5', 'abc', '1e400', '2026-12-01T00:00:00Z', '99999999999999999999', '*', 'a.#', '..'));
    const query = fc.dictionary(fc.constantFrom('from_seq', 'from_time', 'limit', 'pattern', 'token', 'frob'), queryValue, { maxKeys: 3 });
    const jsonBody = fc.oneof(
      jsonLike,
      fc.record({ messages: fc.oneof(fc.array(fc.record({ topic: topicLike, payload: fc.anything({ maxDepth: 1 }) }, { requiredKeys: [] }), { maxLength: 3 }), fc.anything({ maxDepth: 1 })) }).map((o) => JSON.stringify(o)),
      fc.record({ address: fc.oneof(fc.constantFrom('tcp://127.0.0.1:1', 'tcp://10.0.0.1:80', 'ftp://x'), anyText), patterns: fc.oneof(fc.array(topicLike, { maxLength: 3 }), fc.anything({ maxDepth: 1 })), filter: fc.anything({ maxDepth: 2 }), from_seq: fc.anything({ maxDepth: 0 }), from_time: fc.anything({ maxDepth: 0 }), seqs: fc.anything({ maxDepth: 1 }) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
      fc.integer({ min: MAX_BODY + 1, max: MAX_BODY * 2 }).map((n) => JSON.stringify({ topic: 'big', payload: 'x'.repeat(n) })),
    );
    const request = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
      path,
      query,
      body: fc.option(fc.oneof(jsonBody, anyText), { nil: undefined }),
      contentType: fc.option(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'frob'), { nil: undefined }),
    });
    const json = (method: string, path: string, body: unknown) => ({ method, path, query: {}, body: JSON.stringify(body), contentType: 'application/json' });
    const nulRequests = [
      json('POST', '/api/publish', { topic: 'a', payload: '\u0000' }),
      json('POST', '/api/publish', { topic: 'a', payload: 'x', message_id: '\u0000' }),
      json('POST', '/api/publish', { messages: [{ topic: 'a', payload: 'x' }, { topic: 'a', payload: 'x', ordering_key: '\u0000' }] }),
      json('PUT', '/api/consumers/c%00', { address: 'tcp://127.0.0.1:1', patterns: ['a'] }),
      json('POST', '/api/consumers/c1/dead-letters/requeue', { filter: { payload: '\u0000' } }),
      { method: 'GET', path: '/api/messages', query: { pattern: 'a', filter: '{"payload":"\u0000"}' }, body: undefined, contentType: undefined },
    ];
    const requests = [...nulRequests, ...fc.sample(request, MALFORMED - nulRequests.length)];
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    scope.defer(() => agent.destroy());
    const send = (r: (typeof requests)[number]): Promise<{ status: number; type: string; body: string }> =>
      new Promise((resolve, reject) => {
        const search = new URLSearchParams(r.query).toString();
        const headers: Record<string, string> = {};
        if (r.contentType !== undefined) headers['content-type'] = r.contentType;
        // Node sends a GET's body with neither length nor chunking: the server would read it as the next request.
        if (r.body !== undefined) headers['content-length'] = String(Buffer.byteLength(r.body));
        const req = http.request({ host: '127.0.0.1', port: app.ports.http, agent, method: r.method, path: `${r.path}${search === '' ? '' : `?${search}`}`, headers }, (res) => {
          const type = res.headers['content-type'] ?? '';
          // A request that happens to be a valid subscribe opens an event stream: its headers are the answer.
          if (type.startsWith('text/event-stream')) {
            res.destroy();
            return resolve({ status: res.statusCode!, type, body: '' });
          }
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode!, type, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(r.body);
      });
    const CONCURRENT = 8;
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENT }, async () => {
        while (next < requests.length) {
          const r = requests[next++]!;
          const answer = await send(r);
          const what = `${r.method} ${r.path} ${JSON.stringify(r.query)} ${JSON.stringify(r.body?.slice(0, 100))} -> ${answer.status} ${answer.body.slice(0, 200)}`;
          expect(answer.status, what).toBeLessThan(500);
          if (answer.status < 400 || r.method === 'HEAD') continue;
          expect(answer.type, what).toMatch(/^application\/json/);
          const error = JSON.parse(answer.body) as { code: unknown; message: unknown };
          expect(String(error.code), what).toMatch(new RegExp(`^(${CODES})$`));
          expect(typeof error.message === 'string' && error.message.length > 0, what).toBe(true);
        }
      }),
    );
    // Requests that are not HTTP at all: answered 400 by the server's parser, or closed; the broker stays up.
    const garbage = fc.sample(fc.oneof(anyText.map(noNewline), fc.constantFrom('GET', 'GET / HTTP/9.9', 'GET /api/stats HTTP/1.1\r\nHost', 'POST /api/publish HTTP/1.1\r\ncontent-length: -1', 'GET /\u0000 HTTP/1.1', 'POST /api/publish HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz')), 200);
    for (const text of garbage) {
      const answer = await new Promise<string>((resolve) => {
        const socket = net.connect(app.ports.http, '127.0.0.1');
        let got = '';
        socket.on('data', (chunk: Buffer) => (got += chunk.toString('latin1')));
        socket.on('close', () => resolve(got));
        socket.on('error', () => {});
        socket.end(`${text}\r\n\r\n`);
      });
      expect(answer, JSON.stringify(text)).toMatch(/^(HTTP\/1\.1 (400|404|405|413|431|505) |$)/);
    }
    const stats = await send({ method: 'GET', path: '/api/stats', query: {}, body: undefined, contentType: undefined });
    expect(stats.status).toBe(200);
    expectGoodServed(bus, 'http', await good.stop());
    // Ten thousand requests, each on the HTTP stack's full path: longer than the default timeout under load.
  }, 120_000);
});
