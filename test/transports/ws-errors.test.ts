// Every error code a WebSocket client can get (PROTOCOL.md §5, §7): BAD_FRAME, BAD_TOPIC, BAD_PATTERN,
// TOO_LARGE, UNKNOWN_SUBSCRIPTION (also for a subscription this socket closed) on an open socket that keeps
// working after each, and UNAUTHORIZED (close 1008) and UNAVAILABLE (close 1013) at connection time.
import { connect, type Socket } from 'node:net';
import { describe, expect, test } from 'vitest';
import type { TestDb } from '../helpers/broker.js';
import { count, rows, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { type Frame } from '../helpers/ws-client.js';
import { startBus as startBusIn, type Bus, expectError, expectStillWorks, seqs } from '../helpers/ws-bus.js';

const scope = testScope();

/** A plain TCP connection that sends nothing, closed after the test. */
async function rawConnect(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  scope.defer(() => void socket.destroy());
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}
const startBus = (env?: Record<string, string>, db?: TestDb): Promise<Bus> => startBusIn(scope, env, db);

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

  test('TOO_LARGE with the default 1 MiB EVENTBUS_MAX_PAYLOAD: a 1.5 MB payload is refused and the socket stays open', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    await expectError(c, { type: 'publish', data: { topic: 'big', payload: 'z'.repeat(1_500_000) } }, 'TOO_LARGE');
    await expectStillWorks(c);
    expect(await c.publish({ topic: 'big', payload: 'z'.repeat(1_048_576) })).toMatchObject({ type: 'published' });
    expect(count(bus)).toBe(2);
  });

  test('TOO_LARGE: a frame longer than EVENTBUS_MAX_PAYLOAD + 64 KiB, whatever it holds (a big batch, not JSON)', async () => {
    const bus = await startBus({ EVENTBUS_MAX_PAYLOAD: '4096' });
    const c = await bus.connect();
    const messages = Array.from({ length: 40 }, (_, i) => ({ topic: 'batch', payload: `${i}`.padEnd(2000, 'x') }));
    await expectError(c, { type: 'publish_batch', messages }, 'TOO_LARGE');
    c.send('y'.repeat(4096 + 65536 + 1));
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'TOO_LARGE' });
    await expectStillWorks(c);
    // Each payload alone was within the limit: the same messages in small batches are stored.
    for (let i = 0; i < messages.length; i += 10) await c.request({ type: 'publish_batch', messages: messages.slice(i, i + 10) });
    expect(count(bus)).toBe(41); // the 40 and expectStillWorks' one
  });

  test('BAD_FRAME: a group without a consumer (nothing to split), and the socket keeps working', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const e = await expectError(c, { type: 'subscribe', pattern: 'work', group: 'g' }, 'BAD_FRAME');
    expect(e['message']).toContain('group needs a consumer');
    await expectStillWorks(c);
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

  test('frames on a closed subscription: ack / nack / unsubscribe answer UNKNOWN_SUBSCRIPTION with the id, the socket stays open', async () => {
    const bus = await startBus();
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'gone.*', consumer: 'gone' });
    await c.request({ type: 'unsubscribe', subscription: sub });
    for (const f of [
      { type: 'ack', subscription: sub, seq: 1 },
      { type: 'nack', subscription: sub, seq: 1 },
      { type: 'unsubscribe', subscription: sub },
    ]) {
      const r = await c.request(f);
      expect(r).toMatchObject({ type: 'error', code: 'UNKNOWN_SUBSCRIPTION' });
    }
    expect((await c.publish({ topic: 'gone.x', payload: 'still open' })).type).toBe('published');
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
    await until('a new connection to be taken after the first closed', async () => {
      const attempt = await bus.connect();
      const reply = await attempt.request({ type: 'publish', data: { topic: 'again', payload: 'x' } }).catch((e: unknown): Frame => ({ type: 'failed', e }));
      return reply.type === 'published';
    });
  });

  test('UNAVAILABLE over plain HTTP too: plain connections are bounded apart from the WebSocket sessions', async () => {
    const bus = await startBus({ EVENTBUS_MAX_CONNECTIONS: '1' });
    const idle = await rawConnect(bus.port); // a keep-alive connection that asks nothing, as a health checker's may
    // The idle one fills the plain HTTP allowance: a second plain connection is refused, with a code.
    const refused = await fetch(`http://127.0.0.1:${bus.port}/healthz`);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ code: 'UNAVAILABLE' });
    // It costs no WebSocket client its place; the session limit still holds on its own.
    const first = await bus.connect();
    await expectStillWorks(first);
    const second = await bus.connect();
    expect(await second.next(() => true, 5_000, 'the refusal')).toMatchObject({ type: 'error', code: 'UNAVAILABLE' });
    expect((await second.closed()).code).toBe(1013);
    // A plain connection over the limit that never sends a request is not kept either.
    const silent = await rawConnect(bus.port);
    const openedAt = Date.now();
    const closedAt = await new Promise<number>((resolve) => silent.once('close', () => resolve(Date.now())));
    expect(closedAt - openedAt).toBeLessThan(4_000);

    idle.destroy();
    await until('plain HTTP to be served again after the idle socket left', async () => (await fetch(`http://127.0.0.1:${bus.port}/healthz`)).status === 200);
    await expectStillWorks(first);
  });
});
