// Backpressure on the WebSocket API: a subscription whose messages outrun its socket pauses and resumes
// (EVENTBUS_WS_BUFFER) without losing or reordering anything, also with a buffer smaller than one frame; and
// a subscriber that stops reading costs the broker about one buffer, never holds up another subscriber, and
// later receives everything in order.
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, test } from 'vitest';
import type { TestDb } from '../helpers/broker.js';
import { testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { startBus as startBusIn, type Bus, publishBatch } from '../helpers/ws-bus.js';

const scope = testScope();
const startBus = (env?: Record<string, string>, db?: TestDb): Promise<Bus> => startBusIn(scope, env, db);

describe('a subscription far behind the socket', () => {
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
    await until(() => `${n} replayed messages (got ${received})`, () => received >= n, 10_000);
    expect(received).toBe(n);
    expect(outOfOrder).toBe(0);
    // And it is live afterwards.
    await c.publish({ topic: 'big.replay', payload: 'live' });
    await until(() => `the live message after the replay (got ${received - n})`, () => received === n + 1);
  });
});

describe('a small EVENTBUS_WS_BUFFER', () => {
  // Below Node's 16 KiB socket high-water mark a write never reports a full buffer, so the socket never
  // emits 'drain' on its own: the session must still resume its subscriptions once the bytes are sent.
  test('a message bigger than a 4096-byte buffer does not stop the messages after it', async () => {
    const bus = await startBus({ EVENTBUS_WS_BUFFER: '4096' });
    const c = await bus.connect();
    const sub = await c.subscribe({ pattern: 'small.buf' });
    const publisher = await bus.connect();
    await publisher.publish({ topic: 'small.buf', payload: 'a'.repeat(5000) });
    await publisher.publish({ topic: 'small.buf', payload: 'after' });
    await publisher.publish({ topic: 'small.buf', payload: 'and after' });
    const got = await c.messages(sub, 3, 5_000);
    expect(got.map((m) => [m.seq, m.payload.length])).toEqual([
      [1, 5000],
      [2, 5],
      [3, 9],
    ]);
  });

  test('a reply bigger than a 4096-byte buffer does not stop the socket from answering the next request', async () => {
    const bus = await startBus({ EVENTBUS_WS_BUFFER: '4096' });
    const c = await bus.connect();
    // The answer lists 1000 seqs and message_ids: about 10 KB, more than the buffer, less than 16 KiB.
    const seqsOfBatch = await publishBatch(c, 'small.reply', 1000);
    expect(seqsOfBatch).toHaveLength(1000);
    const next = await c.request({ type: 'publish', data: { topic: 'small.reply', payload: 'next' } }, 5_000);
    expect(next).toMatchObject({ type: 'published', seq: 1001 });
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
      (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().filter((h): h is net.Socket => h instanceof net.Socket)
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
    await until(() => `the fast subscriber to get ${N} messages (has ${fastSeqs.length})`, () => fastSeqs.length >= N, 10_000);
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
    const got = await slow.messagesThrough(slowSub, N, 15_000);
    expect(got.length).toBe(N);
    const firstBad = got.findIndex((m, i) => m.seq !== i + 1);
    expect(firstBad, `seq ${got[firstBad]?.seq} at position ${firstBad}`).toBe(-1);
    expect(got[N - 1]!.payload.startsWith(`${String(N - 1).padStart(11, '0')}:`)).toBe(true);
    expect(fastSub).not.toBe(slowSub);
  }, 45_000);
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
