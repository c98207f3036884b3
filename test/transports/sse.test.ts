// GET /api/subscribe (PROTOCOL.md §8): the log as Server-Sent Events over real sockets, read as curl -N reads
// them: the catch-up then live, Last-Event-ID resuming with no gap and no duplicate, the start options and
// their errors, the token, the end when the broker stops, and flow control: a client that stops reading
// costs bounded memory and holds up nobody.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, test } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { SseStream } from '../../src/transports/sse.js';
import { wsConnect } from '../helpers/ws-client.js';
import { sseConnect, startApi, type ApiBus, type SseEvent, type StoreKind } from '../helpers/http-api.js';
import { sleep, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();

async function publish(bus: ApiBus, topic: string, n: number, payload: (i: number) => string = (i) => `m${i}`): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) seqs.push((await bus.call<{ seq: number }>('POST', '/api/publish', { topic, payload: payload(i) })).body.seq);
  return seqs;
}

const seqsOf = (events: readonly SseEvent[]): number[] => events.map((e) => Number(e.id));

describe.each(['sqlite', 'postgres'] as StoreKind[])('GET /api/subscribe on %s', (store) => {
  const start = (env: Record<string, string> = {}) => startApi(scope, store, env);
  const connect = async (bus: ApiBus, path: string, headers: Record<string, string> = {}) => {
    const client = await sseConnect(bus.app.ports.http, path, headers);
    scope.defer(() => client.close());
    return client;
  };

  test('replays from from_seq, then goes on live with no gap: one message event per message, its seq as the id', async () => {
    const bus = await start();
    await publish(bus, 'orders.eu', 3);
    const client = await connect(bus, '/api/subscribe?pattern=orders.*&from_seq=2');
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toMatch(/^text\/event-stream/);
    const caught = await client.take(2);
    expect(caught.map((e) => [e.id, e.event])).toEqual([
      ['2', 'message'],
      ['3', 'message'],
    ]);
    expect(JSON.parse(caught[0]!.data)).toEqual({
      seq: 2,
      topic: 'orders.eu',
      payload: 'm1',
      message_id: null,
      metadata: { timestamp: expect.any(Number) as number, content_type: 'text/plain' },
      ordering_key: null,
      created_at: expect.any(Number) as number,
      status: 'pending',
    });
    await publish(bus, 'refunds', 1);
    await publish(bus, 'orders.us', 2);
    expect(seqsOf(await client.take(2))).toEqual([5, 6]);
  });

  test('each event\'s data is the message as §8 shows it, with its status: as the log holds it in the catch-up, pending live', async () => {
    const bus = await start({ EVENTBUS_MAX_DELIVERIES: '1' });
    const ws = await wsConnect(bus.app.ports.http);
    scope.defer(() => ws.close());
    ws.send(JSON.stringify({ type: 'subscribe', id: 's', pattern: 'st', consumer: 'c' }));
    const sub = (await ws.next((f) => f.type === 'subscribed'))['subscription'] as string;
    const seqs = await publish(bus, 'st', 3);
    // The first acked (processed), the second nacked on its one allowed delivery (dead), the third left pending.
    for (const verb of ['ack', 'nack']) {
      const m = await ws.next((f) => f.type === 'message');
      ws.send(JSON.stringify({ type: verb, subscription: sub, seq: m['seq'] }));
    }
    const statusOf = async (seq: number) => (await bus.call<{ status: string }>('GET', `/api/messages/${seq}`)).body.status;
    await until('processed and dead stored', async () => (await statusOf(seqs[0]!)) === 'processed' && (await statusOf(seqs[1]!)) === 'dead');
    const client = await connect(bus, `/api/subscribe?pattern=st&from_seq=${seqs[0]}`);
    const caught = await client.take(3);
    expect(caught.map((e) => (JSON.parse(e.data) as { status: string }).status)).toEqual(['processed', 'dead', 'pending']);
    for (const [i, e] of caught.entries()) expect(JSON.parse(e.data)).toEqual((await bus.call('GET', `/api/messages/${seqs[i]}`)).body);
    const [live] = await publish(bus, 'st', 1);
    const [event] = await client.take(1);
    expect(JSON.parse(event!.data)).toMatchObject({ seq: live, status: 'pending' });
    // Every other topic too: the read of all topics carries the status as the read of one does.
    const all = await connect(bus, `/api/subscribe?pattern=%23&from_seq=${seqs[0]}`);
    expect((await all.take(2)).map((e) => (JSON.parse(e.data) as { status: string }).status)).toEqual(['processed', 'dead']);
  });

  test('a reconnect with Last-Event-ID resumes right after that seq, over from_seq: nothing missed, nothing twice', async () => {
    const bus = await start();
    await publish(bus, 'a', 5);
    const first = await connect(bus, '/api/subscribe?pattern=a&from_seq=1');
    expect(seqsOf(await first.take(3))).toEqual([1, 2, 3]);
    first.close();
    await publish(bus, 'a', 2);
    const second = await connect(bus, '/api/subscribe?pattern=a&from_seq=1', { 'last-event-id': '3' });
    expect(seqsOf(await second.take(4))).toEqual([4, 5, 6, 7]);
    await publish(bus, 'a', 1);
    expect(seqsOf(await second.take(1))).toEqual([8]);
    await sleep(100);
    expect(second.pending()).toEqual([]);
  });

  test('without a start it begins at the head; from_time starts at the first message at or after it; several patterns', async () => {
    const bus = await start();
    await publish(bus, 'a', 2);
    const fromHead = await connect(bus, '/api/subscribe');
    await sleep(5);
    const t = Date.now();
    await sleep(5);
    await publish(bus, 'b', 1);
    await publish(bus, 'c', 1);
    expect(seqsOf(await fromHead.take(2))).toEqual([3, 4]);
    const fromTime = await connect(bus, `/api/subscribe?from_time=${t}&pattern=a&pattern=c`);
    expect(seqsOf(await fromTime.take(1))).toEqual([4]);
  });

  test('a bad pattern, start or Last-Event-ID is answered 400 with {code, message} before any event', async () => {
    const bus = await start();
    for (const [path, headers, code] of [
      ['/api/subscribe?pattern=a..b', {}, 'BAD_PATTERN'],
      ['/api/subscribe?from_seq=x', {}, 'BAD_ARGS'],
      ['/api/subscribe?from_seq=1&from_time=1', {}, 'BAD_ARGS'],
      ['/api/subscribe', { 'last-event-id': 'abc' }, 'BAD_ARGS'],
    ] as const) {
      expect(await bus.call('GET', path, undefined, headers), path).toMatchObject({ status: 400, body: { code } });
    }
  });

  test('with EVENTBUS_TOKEN a stream wants it too (an EventSource passes it as ?token=); a stopping broker ends the stream', async () => {
    const bus = await start({ EVENTBUS_TOKEN: 't0k' });
    expect((await connect(bus, '/api/subscribe')).status).toBe(401);
    const client = await connect(bus, '/api/subscribe?token=t0k&from_seq=1');
    expect(client.status).toBe(200);
    const ended = new Promise<void>((resolve) => client.socket.once('end', () => resolve()));
    await bus.app.stop();
    await ended;
  });

  test('a client that stops reading holds up neither publishers nor another subscriber, and gets everything in order once it reads again', async () => {
    const bus = await start({ EVENTBUS_WS_BUFFER: '65536' });
    const slow = await connect(bus, '/api/subscribe?pattern=big');
    const fast = await connect(bus, '/api/subscribe?pattern=big');
    slow.pause();
    const n = 150;
    const payload = 'x'.repeat(100_000);
    const started = Date.now();
    await publish(bus, 'big', n, () => payload);
    expect(seqsOf(await fast.take(n, 20_000))).toHaveLength(n);
    expect(Date.now() - started).toBeLessThan(15_000);
    slow.resume();
    const got = await slow.take(n, 20_000);
    expect(seqsOf(got)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });
});

describe('SseStream flow control', () => {
  test('past the buffer limit the subscription pauses: the unsent output stays under the limit plus one message', async () => {
    const { broker } = await scope.start();
    const limit = 64 * 1024;
    const responses: http.ServerResponse[] = [];
    const server = http.createServer((_req, res) => {
      responses.push(res);
      void SseStream.open(broker, res, { patterns: ['big'], start: undefined, principal: broker.gate.enter(undefined, { front: 'http', peer: 'test' })._unsafeUnwrap() }, { bufferBytes: limit }, silentLogger, () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    scope.defer(() => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    });
    const client = await sseConnect((server.address() as AddressInfo).port, '/');
    scope.defer(() => client.close());
    client.pause();
    await until('the stream to be open', () => responses.length === 1);
    const payload = 'y'.repeat(50_000);
    for (let i = 0; i < 400; i++) (await broker.publish({ topic: 'big', payload }))._unsafeUnwrap();
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, responses[0]!.writableLength)), 1);
    await sleep(500);
    clearInterval(watch);
    most = Math.max(most, responses[0]!.writableLength);
    // 20 MB published; what waits in the process for this client is one buffer's worth and one event.
    expect(most).toBeLessThan(limit + payload.length + 1024);
    client.resume();
    expect(seqsOf(await client.take(400, 20_000))).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
  });
});
