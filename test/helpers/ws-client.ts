// A WebSocket client for the §5 API tests, over a real socket (the `ws` package): send frames, wait for the
// frames that answer them (by id, by type, by subscription) with timeouts, see how the server closed the
// connection. Every frame received is kept in arrival order until a waiter takes it, so nothing that
// arrives between two awaits is lost.
import WebSocket, { type ClientOptions } from 'ws';
import type { MessageFrame as ServerMessageFrame } from '../../src/protocol/client-frames.js';

/** A server frame as the client reads it. */
export type Frame = Record<string, unknown> & { type: string };

/** A delivery as the broker frames it (the same type the client SDK reads). */
export type MessageFrame = Frame & ServerMessageFrame;

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

export interface WsClient {
  readonly ws: WebSocket;
  /** Sends an object as JSON text, or a string as it is. */
  send(frame: object | string): void;
  sendBinary(data: Buffer): void;
  /** Sends `frame` with a fresh id and resolves with the first frame carrying that id. */
  request(frame: Record<string, unknown>, timeoutMs?: number): Promise<Frame>;
  /** Takes the first received frame (in arrival order) that satisfies `match`. */
  next(match?: (f: Frame) => boolean, timeoutMs?: number, what?: string): Promise<Frame>;
  /** Takes `n` message frames of `subscription`, in arrival order. */
  messages(subscription: string, n: number, timeoutMs?: number): Promise<MessageFrame[]>;
  /** Takes message frames of `subscription` until one with `seq >= lastSeq` arrives (included). */
  messagesThrough(subscription: string, lastSeq: number, timeoutMs?: number): Promise<MessageFrame[]>;
  /** Received and not yet taken (they stay unclaimed). */
  pending(match?: (f: Frame) => boolean): Frame[];
  /** Takes every received frame that satisfies `match`, now, without waiting. */
  takeAll(match?: (f: Frame) => boolean): Frame[];
  /** Subscribes and resolves with the subscription id (fails the test on an error frame). */
  subscribe(options: Record<string, unknown>): Promise<string>;
  /** Publishes one message and resolves with the `published` frame (fails the test on anything else). */
  publish(data: Record<string, unknown>, extra?: Record<string, unknown>): Promise<Frame & { seq: number }>;
  /** Resolves with the close code once the connection is closed. */
  closed(timeoutMs?: number): Promise<Closed>;
  readonly isClosed: boolean;
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
let nextId = 1;

export interface ConnectOptions extends ClientOptions {
  /** Path and query after the port; `/ws` unless given. */
  readonly path?: string;
  /** Sees every frame first; a frame it returns true for is consumed (not kept for the waiters). */
  readonly consume?: (frame: Frame) => boolean;
}

/** Connects to ws://127.0.0.1:<port><path>; rejects if the handshake fails. */
export function wsConnect(port: number, options: ConnectOptions = {}): Promise<WsClient> {
  const { path = '/ws', consume, ...clientOptions } = options;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, clientOptions);
    const client = wrap(ws, consume);
    ws.once('open', () => {
      ws.off('error', reject);
      resolve(client);
    });
    ws.once('error', reject);
  });
}

function wrap(ws: WebSocket, consume?: (frame: Frame) => boolean): WsClient {
  const frames: Frame[] = [];
  let closedWith: Closed | undefined;
  const wakers = new Set<() => void>();
  const notify = (): void => {
    for (const w of [...wakers]) w();
  };
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? `<binary ${(data as Buffer).length} bytes>` : (data as Buffer).toString('utf8');
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      frame = { type: '<not json>', text };
    }
    if (consume?.(frame) === true) return;
    frames.push(frame);
    notify();
  });
  ws.on('close', (code, reason) => {
    closedWith = { code, reason: reason.toString('utf8') };
    notify();
  });
  ws.on('error', () => {}); // a reset after the server closed only means the connection is gone

  /** Waits until `ready()` returns a value, a frame arrives or the connection closes, or the deadline. */
  const waitFor = async <T>(ready: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
      if (closedWith !== undefined) throw new Error(`connection closed (${closedWith.code} ${closedWith.reason}) while waiting for ${what()}`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          wakers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        wakers.add(done);
      });
    }
  };

  const take = (match: (f: Frame) => boolean): Frame | undefined => {
    const i = frames.findIndex(match);
    return i < 0 ? undefined : frames.splice(i, 1)[0];
  };

  const describe = (): string => {
    const last = frames.slice(-3).map((f) => JSON.stringify(f).slice(0, 200));
    return `(${frames.length} frames unclaimed, last: ${last.join(' | ')})`;
  };

  const collect = (subscription: string, done: (got: MessageFrame[]) => boolean, timeoutMs: number, what: string): Promise<MessageFrame[]> => {
    const got: MessageFrame[] = [];
    const isMine = (f: Frame): boolean => f.type === 'message' && f['subscription'] === subscription;
    return waitFor(
      () => {
        let i = 0;
        while (i < frames.length && !done(got)) {
          if (isMine(frames[i]!)) got.push(frames.splice(i, 1)[0] as MessageFrame);
          else i++;
        }
        return done(got) ? got : undefined;
      },
      timeoutMs,
      () => `${what} of ${subscription}; got ${got.length}, last seq ${got.at(-1)?.seq} ${describe()}`,
    );
  };

  const client: WsClient = {
    ws,
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    sendBinary: (data) => ws.send(data, { binary: true }),
    request: (frame, timeoutMs = DEFAULT_TIMEOUT_MS) => {
      const id = `r${nextId++}`;
      ws.send(JSON.stringify({ ...frame, id }));
      return client.next((f) => f['id'] === id, timeoutMs, `the answer to ${JSON.stringify(frame).slice(0, 200)}`);
    },
    next: (match = () => true, timeoutMs = DEFAULT_TIMEOUT_MS, what = 'a frame') =>
      waitFor(() => take(match), timeoutMs, () => `${what} ${describe()}`),
    messages: (subscription, n, timeoutMs = DEFAULT_TIMEOUT_MS) =>
      collect(subscription, (got) => got.length >= n, timeoutMs, `${n} messages`),
    messagesThrough: (subscription, lastSeq, timeoutMs = DEFAULT_TIMEOUT_MS) =>
      collect(subscription, (got) => (got.at(-1)?.seq ?? -1) >= lastSeq, timeoutMs, `messages through seq ${lastSeq}`),
    pending: (match = () => true) => frames.filter(match),
    takeAll: (match = () => true) => {
      const taken: Frame[] = [];
      for (let i = 0; i < frames.length; ) {
        if (match(frames[i]!)) taken.push(frames.splice(i, 1)[0]!);
        else i++;
      }
      return taken;
    },
    subscribe: async (options) => {
      const reply = await client.request({ type: 'subscribe', ...options });
      if (reply.type !== 'subscribed') throw new Error(`subscribe ${JSON.stringify(options)} answered ${JSON.stringify(reply)}`);
      return reply['subscription'] as string;
    },
    publish: async (data, extra = {}) => {
      const reply = await client.request({ type: 'publish', data, ...extra });
      if (reply.type !== 'published') throw new Error(`publish ${JSON.stringify(data).slice(0, 200)} answered ${JSON.stringify(reply)}`);
      return reply as Frame & { seq: number };
    },
    closed: (timeoutMs = DEFAULT_TIMEOUT_MS) =>
      waitFor(
        () => closedWith,
        timeoutMs + 1, // waitFor throws on close; closedWith is returned first
        () => 'the server to close the connection',
      ),
    get isClosed() {
      return closedWith !== undefined;
    },
    close: async () => {
      if (closedWith !== undefined) return;
      ws.terminate();
      await new Promise<void>((resolve) => {
        if (closedWith !== undefined) resolve();
        else ws.once('close', () => resolve());
      });
    },
  };
  return client;
}
