// Edge cases of the WebSocket front-end, the client SDK, seed 001's interface, embedding and transactional
// consume, found in review: framing at the length boundaries, shutdown ordering, concurrent readers, closing
// mid-resume, ping vs flow control, exactly-once across a consumer hand-over. Real brokers (startApp /
// openEventBus) on 127.0.0.1 port 0, real sockets, no mocks.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startApp, type App } from '../src/app.js';
import { connect, EventBusError, type ConnectOptions, type EventBusClient } from '../src/client/index.js';
import { openEventBus, type EventBus } from '../src/embed/index.js';
import { silentLogger } from '../src/logger.js';
import { FrameWriter } from '../src/transports/frame-writer.js';
import { testAppConfig } from './helpers/broker.js';
import { query, sleep, testScope } from './helpers/scope.js';
import { wsConnect } from './helpers/ws-client.js';

const scope = testScope();

// ---------------------------------------------------------------------------------------------- helpers

async function startBroker(env: Record<string, string> = {}): Promise<{ app: App; dbPath: string; port: number; url: string }> {
  const dir = await scope.dir();
  const started = await startApp(testAppConfig(dir.dbPath, env), silentLogger);
  if (started.isErr()) throw new Error(`broker did not start: ${started.error.message}`);
  const app = started.value;
  scope.defer(() => app.stop());
  return { app, dbPath: dir.dbPath, port: app.ports.http, url: `ws://127.0.0.1:${app.ports.http}/ws` };
}

async function openClient(url: string, options: ConnectOptions = {}): Promise<EventBusClient> {
  const c = await connect(url, { reconnectIntervalMs: 20, maxReconnectIntervalMs: 100, maxRetries: 50, requestTimeoutMs: 10_000, ...options });
  scope.defer(() => c.close());
  return c;
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface RawFrame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/**
 * A WebSocket client over a bare TCP socket that parses every server frame itself (RFC 6455 §5.2), strictly:
 * an unmasked server frame, a correct length encoding, the minimal length form. Keeps the frames in order,
 * so a test can see what came after a close frame.
 */
interface RawClient {
  readonly frames: RawFrame[];
  readonly errors: string[];
  send(text: string): void;
  sendClose(code: number): void;
  texts(): Record<string, unknown>[];
  readonly ended: Promise<void>;
  destroy(): void;
}

function rawConnect(port: number, path = '/ws'): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const key = randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const frames: RawFrame[] = [];
    const errors: string[] = [];
    let endedResolve!: () => void;
    const ended = new Promise<void>((r) => (endedResolve = r));
    socket.on('close', () => endedResolve());
    socket.on('error', () => undefined);
    const writeFrame = (opcode: number, payload: Buffer): void => {
      const mask = randomBytes(4);
      const n = payload.length;
      const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 0xff]);
      const body = Buffer.from(payload);
      for (let i = 0; i < body.length; i++) body[i]! ^= mask[i % 4]!;
      socket.write(Buffer.concat([head, mask, body]));
    };
    const client: RawClient = {
      frames,
      errors,
      send: (text) => writeFrame(0x1, Buffer.from(text)),
      sendClose: (code) => {
        const b = Buffer.alloc(2);
        b.writeUInt16BE(code);
        writeFrame(0x8, b);
      },
      texts: () => frames.filter((f) => f.opcode === 0x1).map((f) => JSON.parse(f.payload.toString('utf8')) as Record<string, unknown>),
      ended,
      destroy: () => socket.destroy(),
    };
    const parse = (): void => {
      for (;;) {
        if (buf.length < 2) return;
        const b0 = buf[0]!;
        const b1 = buf[1]!;
        if (b1 & 0x80) errors.push('masked server frame');
        let len = b1 & 0x7f;
        let at = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          if (len < 126) errors.push(`non-minimal 16-bit length ${len}`);
          at = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          const hi = buf.readUInt32BE(2);
          if (hi & 0x80000000) errors.push('64-bit length with the top bit set');
          len = hi * 2 ** 32 + buf.readUInt32BE(6);
          if (len < 65536) errors.push(`non-minimal 64-bit length ${len}`);
          at = 10;
        }
        if (buf.length < at + len) return;
        frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload: buf.subarray(at, at + len) });
        buf = buf.subarray(at + len);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`no upgrade: ${head}`));
        upgraded = true;
        resolve(client);
      }
      parse();
    });
    socket.on('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.once('error', reject);
  });
}

/** An application's http.Server with the bus attached at /ws. */
async function embedded(): Promise<{ bus: EventBus; server: http.Server; port: number; attached: ReturnType<EventBus['attach']>; dbPath: string }> {
  const dir = await scope.dir();
  const opened = await openEventBus({ dbPath: dir.dbPath, sync: 'normal' });
  if (opened.isErr()) throw new Error(opened.error.message);
  const bus = opened.value;
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const sockets = new Set<Duplex>();
  server.on('connection', (s: Duplex) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const attached = bus.attach(server, { path: '/ws' });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  scope.defer(async () => {
    await bus.close();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    for (const s of sockets) s.destroy();
    await closed;
  });
  return { bus, server, port: (server.address() as AddressInfo).port, attached, dbPath: dir.dbPath };
}

// ---------------------------------------------------------------------------------------------- framing

describe('FrameWriter framing', () => {
  /** A bare server whose upgraded sockets are handed to a FrameWriter. */
  async function frameServer(onSocket: (ws: WebSocket, socket: Duplex) => void): Promise<number> {
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
    const server = http.createServer();
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => onSocket(ws, socket)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    scope.defer(async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return (server.address() as AddressInfo).port;
  }

  const texts = [
    '',
    'a',
    'x'.repeat(125),
    'x'.repeat(126),
    'x'.repeat(127),
    'é'.repeat(62) + 'x', // 125 bytes
    'é'.repeat(63), // 63 UTF-16 units, 126 bytes: the length form follows the bytes
    '€'.repeat(42), // 126 bytes
    'x'.repeat(65_535),
    'x'.repeat(65_536),
    'é'.repeat(32_768), // 32,768 units, 65,536 bytes
    '😀'.repeat(16_384), // 32,768 units, 65,536 bytes
    'x'.repeat(65_537),
    '€😀é'.repeat(40_000),
  ];

  it('every length form (7-bit, 16-bit, 64-bit) and multi-byte UTF-8, many frames in one tick, parse in ws and strictly', async () => {
    const port = await frameServer((_ws, socket) => {
      const out = new FrameWriter(socket);
      for (const t of texts) out.push(t);
    });
    const received: string[] = [];
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    let error: Error | undefined;
    ws.on('error', (e) => (error = e));
    ws.on('message', (data, isBinary) => {
      expect(isBinary).toBe(false);
      received.push((data as Buffer).toString());
    });
    await until('every frame', () => received.length === texts.length || error !== undefined, 10_000);
    ws.terminate();
    expect(error).toBeUndefined();
    expect(received.map((t) => t.length)).toEqual(texts.map((t) => t.length));
    expect(received).toEqual(texts);

    const raw = await rawConnect(port, '/');
    await until('raw frames', () => raw.frames.length === texts.length, 10_000);
    raw.destroy();
    expect(raw.errors).toEqual([]);
    expect(raw.frames.every((f) => f.fin && f.opcode === 0x1)).toBe(true);
    expect(raw.frames.map((f) => f.payload.toString('utf8'))).toEqual(texts);
  });

  it('broker deliveries of large and multi-byte payloads arrive intact through the session', async () => {
    const { port } = await startBroker();
    const sub = await wsConnect(port);
    scope.defer(() => sub.close());
    const pub = await wsConnect(port);
    scope.defer(() => pub.close());
    const id = await sub.subscribe({ pattern: 'big.*' });
    const payloads = ['é'.repeat(70_000), 'x'.repeat(65_400), '😀'.repeat(30), 'y'.repeat(100)];
    for (const [i, p] of payloads.entries()) pub.send({ type: 'publish', id: `p${i}`, data: { topic: `big.t${i}`, payload: p } });
    const got = await sub.messages(id, payloads.length);
    expect(got.map((m) => m.payload)).toEqual(payloads);
  });
});

// ---------------------------------------------------------------------------------------------- graceful close

describe('server-initiated close', () => {
  it('a delivery queued in the same tick as a graceful close reaches the client before the close frame (ws client)', async () => {
    const { bus, port } = await embedded();
    const c = await wsConnect(port);
    scope.defer(() => c.close());
    const id = await c.subscribe({ pattern: 'bye.*' });
    await sleep(20); // attached on the next macrotask
    // The embedder's natural shutdown: publish, then close the bus. The delivery frame is queued in the
    // session's FrameWriter (written on the next tick); close() writes the close frame at once, ahead of it.
    (await bus.broker.publish({ topic: 'bye.now', payload: 'last words' }))._unsafeUnwrap();
    const closing = bus.close();
    const closed = await c.closed();
    await closing;
    expect(closed.code).toBe(1001);
    // The message was committed and handed to this session before the close: the client must have it.
    expect(c.takeAll((f) => f.type === 'message' && f['subscription'] === id).map((f) => f['payload'])).toEqual(['last words']);
  });

  it('no data frame is written after the close frame (RFC 6455 §5.5.1), raw socket', async () => {
    const { bus, port, attached } = await embedded();
    const raw = await rawConnect(port);
    scope.defer(() => raw.destroy());
    raw.send(JSON.stringify({ type: 'subscribe', id: 's', pattern: 'bye.*' }));
    await until('subscribed', () => raw.texts().some((f) => f['type'] === 'subscribed'));
    await sleep(20);
    (await bus.broker.publish({ topic: 'bye.now', payload: 'last words' }))._unsafeUnwrap();
    const closing = attached.close();
    await until('close frame', () => raw.frames.some((f) => f.opcode === 0x8));
    await sleep(50);
    raw.sendClose(1001);
    await closing;
    const opcodes = raw.frames.map((f) => f.opcode);
    const closeAt = opcodes.indexOf(0x8);
    expect(raw.errors).toEqual([]);
    expect(opcodes.slice(closeAt + 1)).toEqual([]); // nothing after the close frame
    expect(opcodes.slice(0, closeAt).filter((o) => o === 0x1).length).toBe(2); // subscribed + message, before it
  });

  it('app.stop() with publishes going on: the session stops delivering once it has sent its close frame', async () => {
    const { app, port } = await startBroker();
    const raw = await rawConnect(port);
    scope.defer(() => raw.destroy());
    raw.send(JSON.stringify({ type: 'subscribe', id: 's', pattern: 'flow.*' }));
    await until('subscribed', () => raw.texts().some((f) => f['type'] === 'subscribed'));
    await sleep(20);
    let publishing = true;
    const publisher = (async () => {
      while (publishing) if ((await app.broker.publish({ topic: 'flow.x', payload: 'x' })).isErr()) break;
    })();
    await sleep(30);
    const stopping = app.stop();
    await until('close frame', () => raw.frames.some((f) => f.opcode === 0x8));
    await sleep(100); // a client a little slow to answer the close (a round trip on a real network)
    raw.sendClose(1001);
    await stopping;
    publishing = false;
    await publisher;
    const opcodes = raw.frames.map((f) => f.opcode);
    const closeAt = opcodes.indexOf(0x8);
    // Every message frame after the close frame is thrown away by a conforming client; for an ephemeral
    // subscription (acked on send) each one is a message lost.
    expect(opcodes.slice(closeAt + 1).filter((o) => o === 0x1).length).toBe(0);
  });

  it('a reply to a frame the client sent before it saw the close is not written after the close frame', async () => {
    const { port, attached } = await embedded();
    const raw = await rawConnect(port);
    scope.defer(() => raw.destroy());
    raw.send(JSON.stringify({ type: 'ping', id: 'hello' }));
    await until('pong', () => raw.texts().some((f) => f['type'] === 'pong'));
    const closing = attached.close();
    // In flight when the broker closed: the client had not seen the close yet.
    raw.send(JSON.stringify({ type: 'publish', id: 'late', data: { topic: 'late.t', payload: 'x' } }));
    await until('close frame', () => raw.frames.some((f) => f.opcode === 0x8));
    await sleep(100);
    raw.sendClose(1001);
    await closing;
    const opcodes = raw.frames.map((f) => f.opcode);
    expect(opcodes.slice(opcodes.indexOf(0x8) + 1)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------- client

describe('client: subscriptions across reconnects', () => {
  it('Subscription.close() while its resume after a reconnect is in flight leaves no subscription on the broker', async () => {
    const { app, url } = await startBroker();
    let subA: Awaited<ReturnType<EventBusClient['subscribe']>> | undefined;
    let closedInWindow = false;
    const a = await openClient(url, {
      onStatus: (s) => {
        // The resume subscribe has been sent, its answer not read yet: the caller gives up on the subscription.
        if (s === 'reconnected' && subA !== undefined && !closedInWindow) {
          closedInWindow = true;
          void subA.close();
        }
      },
    });
    const b = await openClient(url);
    subA = await a.subscribe('work.*', { consumer: 'worker', group: 'g' });
    const subB = await b.subscribe('work.*', { consumer: 'worker', group: 'g' });
    await until('two members', () => app.broker.stats().subscriptions === 2);
    a.reconnect();
    await until('A reconnected and closed its subscription', () => closedInWindow && a.isConnected);
    await sleep(200);
    // Only B is left: A closed its subscription.
    expect.soft(app.broker.stats().subscriptions).toBe(1);
    // So every message goes to B, none to a subscription nobody reads (it would hold them until the ack timeout).
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) seqs.push(await b.publish('work.item', `job ${i}`));
    const got: number[] = [];
    for (;;) {
      const m = await subB.next(1000);
      if (m === undefined) break;
      got.push(m.seq);
      m.ack();
      if (got.length === seqs.length) break;
    }
    expect(got).toEqual(seqs);
  });

  it('publishes that timed out while disconnected no longer count against maxPendingPublishes', async () => {
    const { app, url } = await startBroker();
    const c = await openClient(url, { maxPendingPublishes: 2, requestTimeoutMs: 100, reconnectIntervalMs: 50, maxReconnectIntervalMs: 50, maxRetries: 1000 });
    await app.stop();
    await until('disconnected', () => !c.isConnected);
    const first = await Promise.allSettled([c.publish('t.a', '1'), c.publish('t.a', '2')]);
    expect(first.map((r) => r.status)).toEqual(['rejected', 'rejected']); // timed out: nothing waits any more
    // Nothing is waiting now, so this one may wait (it then times out after requestTimeoutMs like the others).
    const started = Date.now();
    const third = await c.publish('t.a', '3').catch((e: unknown) => e as EventBusError);
    expect(third).toBeInstanceOf(EventBusError);
    expect((third as EventBusError).message).toMatch(/requestTimeoutMs/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(80);
  });

  it('a subscribe() made while disconnected is sent on reconnect and receives', async () => {
    const dir = await scope.dir();
    const first = await startApp(testAppConfig(dir.dbPath), silentLogger);
    const app1 = first._unsafeUnwrap();
    const port = app1.ports.http;
    const c = await openClient(`ws://127.0.0.1:${port}/ws`);
    await app1.stop();
    await until('disconnected', () => !c.isConnected);
    const pending = c.subscribe('late.*');
    const second = (await startApp(testAppConfig(dir.dbPath, { EVENTBUS_HTTP_PORT: String(port) }), silentLogger))._unsafeUnwrap();
    scope.defer(() => second.stop());
    const sub = await pending;
    const seq = await c.publish('late.x', 'hi');
    const m = await sub.next(2000);
    expect(m?.seq).toBe(seq);
  });

  it('close() during reconnect backoff: no further dial, pending calls reject, iterators end', async () => {
    const { app, url } = await startBroker();
    const c = await connect(url, { reconnectIntervalMs: 300, maxReconnectIntervalMs: 300, maxRetries: 100 });
    const sub = await c.subscribe('x.*');
    await app.stop();
    await until('disconnected', () => !c.isConnected);
    const pending = c.publish('x.y', 'p');
    c.close();
    await expect(pending).rejects.toBeInstanceOf(EventBusError);
    expect(await sub.next(50)).toBeUndefined();
  });

  it('gives up after maxRetries when the broker comes back on another port', async () => {
    const dir = await scope.dir();
    const app1 = (await startApp(testAppConfig(dir.dbPath), silentLogger))._unsafeUnwrap();
    const c = await connect(`ws://127.0.0.1:${app1.ports.http}/ws`, { reconnectIntervalMs: 10, maxReconnectIntervalMs: 20, maxRetries: 5 });
    scope.defer(() => c.close());
    const sub = await c.subscribe('moved.*', { consumer: 'moved' });
    await app1.stop();
    const app2 = (await startApp(testAppConfig(dir.dbPath), silentLogger))._unsafeUnwrap();
    scope.defer(() => app2.stop());
    const err = await sub.next(5000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventBusError);
    expect((err as EventBusError).code).toBe('UNAVAILABLE');
    await expect(c.publish('moved.x', 'y')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('breaking out of for-await unsubscribes on the broker', async () => {
    const { app, url } = await startBroker();
    const c = await openClient(url);
    const sub = await c.subscribe('loop.*');
    await until('subscribed', () => app.broker.stats().subscriptions === 1);
    await c.publish('loop.a', '1');
    for await (const m of sub) {
      expect(m.payload).toBe('1');
      break;
    }
    await until('unsubscribed', () => app.broker.stats().subscriptions === 0);
  });

  it('request(): a reply that arrives before the publish is answered is not lost', async () => {
    const { url } = await startBroker();
    const responder = await openClient(url);
    const requester = await openClient(url);
    const inbox = await responder.subscribe('price.get');
    void (async () => {
      for await (const m of inbox) await responder.reply(m, `answer to ${m.payload}`);
    })().catch(() => undefined);
    const replies = await Promise.all([1, 2, 3, 4, 5].map((i) => requester.request('price.get', `q${i}`, { timeoutMs: 3000 })));
    expect(replies.map((r) => r.payload)).toEqual([1, 2, 3, 4, 5].map((i) => `answer to q${i}`));
  });
});

describe('client: nothing keeps the process alive after the client is done', () => {
  const FIXTURE = new URL('./fixtures/client-exit.ts', import.meta.url).pathname;

  async function runChild(url: string, mode: string, onLine?: (line: string) => void, limitMs = 6000): Promise<{ exited: boolean; afterDoneMs: number; stdout: string; stderr: string }> {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, url, mode], { cwd: new URL('..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let doneAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      for (const line of String(d).split('\n').filter(Boolean)) {
        if (line === 'done') doneAt = Date.now();
        onLine?.(line);
      }
      stdout += String(d);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    const exited = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), limitMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!exited) child.kill('SIGKILL');
    return { exited, afterDoneMs: doneAt === 0 ? -1 : Date.now() - doneAt, stdout, stderr };
  }

  it.each(['plain', 'waiting-next', 'receiver'])('%s: exits by itself soon after close()', async (mode) => {
    const { url } = await startBroker();
    const r = await runChild(url, mode);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('done');
    expect(r.exited).toBe(true);
  });

  it('gave-up: a client that gave up (maxRetries) while the reader waited with a timeout lets the process exit', async () => {
    const { app, url } = await startBroker();
    let stopping: Promise<void> | undefined;
    const r = await runChild(url, 'gave-up', (line) => {
      if (line === 'subscribed') stopping = app.stop();
    });
    await stopping;
    expect(r.stdout).toContain('done');
    expect(r.exited).toBe(true);
  });
});

describe('client: flow control', () => {
  it('a healthy connection held for flow control (a full subscription queue) is not dropped as dead by the ping', async () => {
    const { url } = await startBroker();
    const statuses: string[] = [];
    const slow = await openClient(url, { queueLimit: 10, pingIntervalMs: 100, onStatus: (s) => statuses.push(s) });
    const pub = await openClient(url);
    const sub = await slow.subscribe('flood.*');
    for (let i = 0; i < 100; i++) await pub.publish('flood.x', String(i));
    // The reader is busy for a while: the queue is full and the client stops reading from the socket.
    await sleep(800);
    expect(statuses).toEqual(['connected']); // no 'disconnected' / 'reconnected': the broker is there, only the reader is slow
    const got: string[] = [];
    for (;;) {
      const m = await sub.next(500);
      if (m === undefined) break;
      got.push(m.payload);
    }
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
  });
});

describe('client: flow control (durable)', () => {
  it('a durable consumer that is only slow loses no message to the dead letters through ping-drop churn', async () => {
    const { dbPath, url } = await startBroker({ EVENTBUS_MAX_DELIVERIES: '3' });
    const slow = await openClient(url, { queueLimit: 5, pingIntervalMs: 50 });
    const pub = await openClient(url);
    const sub = await slow.subscribe('slow.*', { consumer: 'slow', maxInFlight: 50 });
    const seqs: number[] = [];
    for (let i = 0; i < 40; i++) seqs.push(await pub.publish('slow.x', String(i)));
    await sleep(1000); // the reader is busy elsewhere for a second
    const seen = new Set<number>();
    for (;;) {
      const m = await sub.next(800);
      if (m === undefined) break;
      seen.add(m.seq);
      m.ack();
    }
    const dead = query<{ seq: number }>(dbPath, "SELECT seq FROM dead_letters WHERE consumer = 'slow'").map((r) => r.seq);
    expect(dead).toEqual([]);
    expect([...seen].sort((a, b) => a - b)).toEqual(seqs);
  });
});

describe('client and seed 001: concurrent readers', () => {
  it('two next() calls waiting at once on one Subscription both get a message', async () => {
    const { url } = await startBroker();
    const c = await openClient(url);
    const sub = await c.subscribe('pair.*');
    const first = sub.next();
    const second = sub.next();
    await c.publish('pair.a', '1');
    await c.publish('pair.a', '2');
    const settled = await Promise.race([Promise.all([first, second]), sleep(2000).then(() => 'hung' as const)]);
    expect(settled).not.toBe('hung');
    expect((settled as { payload: string }[]).map((m) => m.payload).sort()).toEqual(['1', '2']);
  });

  it('seed 001 receiver: two receiveMessage() calls waiting at once both get a message', async () => {
    const { url } = await startBroker();
    const { WsEventClient, EventMessage } = await import('../src/client/index.js');
    const client = (await WsEventClient.connect({ topicName: 'seed.pair', options: { url } }))._unsafeUnwrap();
    scope.defer(() => client.close());
    const receiver = (await client.subscribe())._unsafeUnwrap();
    const a = receiver.receiveMessage(3000);
    const b = receiver.receiveMessage(3000);
    (await client.sendMessage(EventMessage.new('one')))._unsafeUnwrap();
    (await client.sendMessage(EventMessage.new('two')))._unsafeUnwrap();
    const [ra, rb] = await Promise.all([a, b]);
    const got = [ra._unsafeUnwrap(), rb._unsafeUnwrap()].map((m) => (m === null ? null : m.dataAsString()._unsafeUnwrap()));
    expect(got.sort()).toEqual(['one', 'two']);
  });
});

describe('seed 001 local backend: concurrent readers', () => {
  it('LocalEventClient receiver: two receiveMessage() calls waiting at once both get a message', async () => {
    const { bus } = await embedded();
    const { EventMessage } = await import('../src/embed/index.js');
    const client = bus.client({ topicName: 'local.pair' });
    const receiver = (await client.subscribe())._unsafeUnwrap();
    const a = receiver.receiveMessage(2000);
    const b = receiver.receiveMessage(2000);
    (await client.sendMessage(EventMessage.new('one')))._unsafeUnwrap();
    (await client.sendMessage(EventMessage.new('two')))._unsafeUnwrap();
    const [ra, rb] = await Promise.all([a, b]);
    const got = [ra._unsafeUnwrap(), rb._unsafeUnwrap()].map((m) => (m === null ? null : m.dataAsString()._unsafeUnwrap()));
    expect(got.sort()).toEqual(['one', 'two']);
  });
});

// ---------------------------------------------------------------------------------------------- WS session

describe('WebSocket session semantics', () => {
  it('ack and nack of a seq never delivered change nothing: the message is still delivered', async () => {
    const { port } = await startBroker();
    const c = await wsConnect(port);
    scope.defer(() => c.close());
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

  it('unsubscribing a durable group member with unacked messages hands them to the other member (delivery 2)', async () => {
    const { port } = await startBroker();
    const a = await wsConnect(port);
    scope.defer(() => a.close());
    const b = await wsConnect(port);
    scope.defer(() => b.close());
    const subA = await a.subscribe({ pattern: 'grp.*', consumer: 'grp', group: 'g' });
    const subB = await b.subscribe({ pattern: 'grp.*', consumer: 'grp', group: 'g' });
    await sleep(20);
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) seqs.push((await a.publish({ topic: 'grp.x', payload: String(i) })).seq);
    await sleep(100);
    const toA = a.takeAll((f) => f.type === 'message' && f['subscription'] === subA).map((f) => f['seq'] as number);
    const toB = b.takeAll((f) => f.type === 'message' && f['subscription'] === subB).map((f) => f['seq'] as number);
    expect([...toA, ...toB].sort((x, y) => x - y)).toEqual(seqs);
    expect(toA.length).toBeGreaterThan(0);
    for (const s of toB) b.send({ type: 'ack', subscription: subB, seq: s });
    const un = await a.request({ type: 'unsubscribe', subscription: subA });
    expect(un.type).toBe('unsubscribed');
    const again = await b.messages(subB, toA.length, 3000);
    expect(again.map((m) => m.seq).sort((x, y) => x - y)).toEqual([...toA].sort((x, y) => x - y));
    expect(again.every((m) => m.delivery === 2)).toBe(true);
  });

  it('frames on a closed subscription: ack / nack / unsubscribe answer UNKNOWN_SUBSCRIPTION with the id, the socket stays open', async () => {
    const { port } = await startBroker();
    const c = await wsConnect(port);
    scope.defer(() => c.close());
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
});

// ---------------------------------------------------------------------------------------------- HTTP

describe('HTTP front-end', () => {
  it('/metrics and /healthz under a token: 401 without, 200 with the Bearer header or ?token=; the WebSocket too', async () => {
    const { port } = await startBroker({ EVENTBUS_TOKEN: 's3cret' });
    const base = `http://127.0.0.1:${port}`;
    for (const path of ['/metrics', '/healthz']) {
      expect((await fetch(`${base}${path}`)).status).toBe(401);
      expect((await fetch(`${base}${path}`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(`${base}${path}?token=wrong`)).status).toBe(401);
      expect((await fetch(`${base}${path}`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
      expect((await fetch(`${base}${path}?token=s3cret`)).status).toBe(200);
    }
    const text = await (await fetch(`${base}/metrics?token=s3cret`)).text();
    expect(text).toContain('eventbus_head_seq');
    expect(text).toContain('eventbus_websocket_connections');
    const refused = await wsConnect(port);
    expect((await refused.next((f) => f.type === 'error')).code).toBe('UNAUTHORIZED');
    expect((await refused.closed()).code).toBe(1008);
  });

  it('methods other than GET/HEAD: 405 with an Allow header (RFC 9110 §15.5.6)', async () => {
    const { port } = await startBroker();
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { method });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow') ?? '').toMatch(/GET/);
    }
    const head = await fetch(`http://127.0.0.1:${port}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------- embedding

describe('embedding and transactional consume', () => {
  it('a handler that throws on every delivery: called EVENTBUS_MAX_DELIVERIES times, spaced by retryDelayMs, then dead-lettered; nothing applied', async () => {
    const dir = await scope.dir();
    const bus = (await openEventBus({ dbPath: dir.dbPath, sync: 'normal', maxDeliveries: 4 }))._unsafeUnwrap();
    scope.defer(() => bus.close());
    bus.sqlite.exec('CREATE TABLE applied (seq INTEGER PRIMARY KEY)');
    const calls: { seq: number; delivery: number; at: number }[] = [];
    const consumer = (
      await bus.consume({ pattern: 'poison.*', consumer: 'poison', retryDelayMs: 40 }, (m, tx, delivery) => {
        calls.push({ seq: m.seq, delivery, at: Date.now() });
        tx.prepare('INSERT INTO applied (seq) VALUES (?)').run(m.seq);
        throw new Error('always fails');
      })
    )._unsafeUnwrap();
    const ok = (await bus.consume({ pattern: 'fine.*', consumer: 'fine' }, () => undefined))._unsafeUnwrap();
    const { seq } = (await bus.broker.publish({ topic: 'poison.pill', payload: 'x' }))._unsafeUnwrap();
    await until('dead letter', () => query<{ n: number }>(dir.dbPath, 'SELECT count(*) AS n FROM dead_letters WHERE consumer = ?', 'poison')[0]!.n === 1 || undefined);
    await sleep(200);
    expect(calls.map((c) => c.delivery)).toEqual([1, 2, 3, 4]);
    for (let i = 1; i < calls.length; i++) expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(30);
    expect(bus.sqlite.prepare('SELECT count(*) FROM applied').pluck().get()).toBe(0);
    const dead = query<{ seq: number; deliveries: number }>(dir.dbPath, 'SELECT seq, deliveries FROM dead_letters WHERE consumer = ?', 'poison');
    expect(dead).toEqual([{ seq, deliveries: 4 }]);
    await consumer.close();
    await ok.close();
  });

  it('a handler that returns a promise is rolled back and retried (the rows it wrote synchronously are not kept)', async () => {
    const dir = await scope.dir();
    const bus = (await openEventBus({ dbPath: dir.dbPath, sync: 'normal', maxDeliveries: 2 }))._unsafeUnwrap();
    scope.defer(() => bus.close());
    bus.sqlite.exec('CREATE TABLE applied (seq INTEGER PRIMARY KEY)');
    let calls = 0;
    (
      // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the mistake this test makes on purpose
      await bus.consume({ pattern: 'async.*', consumer: 'async', retryDelayMs: 10 }, async (m, tx) => {
        calls++;
        tx.prepare('INSERT INTO applied (seq) VALUES (?)').run(m.seq);
        await Promise.resolve();
      })
    )._unsafeUnwrap();
    (await bus.broker.publish({ topic: 'async.x', payload: 'x' }))._unsafeUnwrap();
    await until('two attempts', () => calls >= 2);
    await sleep(100);
    expect(bus.sqlite.prepare('SELECT count(*) FROM applied').pluck().get()).toBe(0);
  });

  it('bus.close() while a consume loop waits: the loop ends, the consumer close() afterwards resolves, later publishes fail cleanly', async () => {
    const dir = await scope.dir();
    const bus = (await openEventBus({ dbPath: dir.dbPath, sync: 'normal' }))._unsafeUnwrap();
    bus.sqlite.exec('CREATE TABLE applied (seq INTEGER PRIMARY KEY)');
    let handled = 0;
    const consumer = (
      await bus.consume({ pattern: 'live.*', consumer: 'live' }, (m, tx) => {
        handled++;
        tx.prepare('INSERT INTO applied (seq) VALUES (?)').run(m.seq);
      })
    )._unsafeUnwrap();
    // Some are refused: the bus closes while they are on their way.
    for (let i = 0; i < 50; i++) void bus.broker.publish({ topic: 'live.x', payload: String(i) }).mapErr(() => undefined);
    await until('some handled', () => handled > 0);
    await bus.close();
    await Promise.race([consumer.close(), sleep(3000).then(() => Promise.reject(new Error('consumer.close() hung after bus.close()')))]);
    expect((await bus.broker.publish({ topic: 'live.x', payload: 'late' })).isErr()).toBe(true);
    // What was applied is exactly what was recorded as processed for the consumer.
    const applied = query<{ seq: number }>(dir.dbPath, 'SELECT seq FROM applied ORDER BY seq').map((r) => r.seq);
    const processed = query<{ seq: number }>(dir.dbPath, "SELECT seq FROM processed_messages WHERE consumer = 'live' ORDER BY seq").map((r) => r.seq);
    expect(processed).toEqual(expect.arrayContaining(applied));
    expect(applied.length).toBe(50);
  });
});

describe('transactional consume: close() from inside the handler', () => {
  it('each message is applied once even when the handler closes its consumer, and a new consumer of the same name takes over', async () => {
    const dir = await scope.dir();
    const bus = (await openEventBus({ dbPath: dir.dbPath, sync: 'normal' }))._unsafeUnwrap();
    scope.defer(() => bus.close());
    bus.sqlite.exec('CREATE TABLE applied (seq INTEGER NOT NULL, by TEXT NOT NULL)');
    let closing: Promise<void> | undefined;
    const first: { close(): Promise<void> } = (
      await bus.consume({ pattern: 'job.*', consumer: 'jobs' }, (m, tx) => {
        tx.prepare('INSERT INTO applied (seq, by) VALUES (?, ?)').run(m.seq, 'first');
        // "Stops after the message in hand": a handler that decides to stop (shutdown signal, poison message...).
        closing ??= first.close();
      })
    )._unsafeUnwrap();
    const published = (await bus.broker.publishBatch([1, 2, 3, 4, 5].map((i) => ({ topic: 'job.x', payload: String(i) }))))._unsafeUnwrap();
    await until('the first consumer to stop', () => closing);
    await closing;
    // A new consumer of the same name (same process) takes over what the first one did not finish.
    (
      await bus.consume({ pattern: 'job.*', consumer: 'jobs' }, (m, tx) => {
        tx.prepare('INSERT INTO applied (seq, by) VALUES (?, ?)').run(m.seq, 'second');
      })
    )._unsafeUnwrap();
    await sleep(300);
    const rows = bus.sqlite.prepare('SELECT seq, count(*) AS n, group_concat(by) AS who FROM applied GROUP BY seq ORDER BY seq').all() as { seq: number; n: number; who: string }[];
    expect(rows.map((r) => r.seq)).toEqual(published.map((p) => p.seq));
    expect(rows.filter((r) => r.n > 1)).toEqual([]); // exactly-once effects: no message applied twice
  });
});
