// The TypeScript client over the WebSocket API (PROTOCOL.md §5). It reconnects on its own and resumes every
// subscription where it was; publishes made while it is disconnected wait (bounded by count and time) and
// are sent on reconnect. Every publish carries a message_id (a UUID unless the caller gives one), so one
// resent after a reconnect is stored once: the broker answers a repeated id with the original seq.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { timeOrderedId } from '../util/message-id.js';
import WebSocket from 'ws';
import { pingFrame, publishBatchFrame, publishFrame, readServerFrame, unsubscribeFrame, type ServerFrame, type WireMessage } from '../protocol/client-frames.js';
import { certificateErrorCode } from '../util/certificate-error.js';
import { SHUTTING_DOWN } from '../errors.js';
import { EventBusError } from './errors.js';
import { CONNECT_DEFAULTS, type BatchEntry, type BatchMessage, type ConnectOptions, type PublishNow, type PublishOptions, type PublishTime, type Scheduled } from './options.js';
import { Requests, type RequestKind, type SubscribeRequest } from './requests.js';
import { Subscription, type ReceivedMessage, type SubscribeOptions, type SubscriptionHost } from './subscription.js';
import { clientTracing, findTracing } from './tracing.js';

/** The id of the ping that opens every connection (request ids are numbers). */
const HELLO = 'hello';

/** Connects (retrying as configured) and resolves once the broker accepted the connection. */
export async function connect(url: string, options: ConnectOptions = {}): Promise<EventBusClient> {
  const client = new EventBusClient(url, options);
  await Promise.all([client.opened(), findTracing()]);
  return client;
}

export class EventBusClient {
  readonly url: string;
  readonly #o: typeof CONNECT_DEFAULTS & ConnectOptions;
  #ws: WebSocket | undefined;
  /** The current connection's socket, corked for the rest of a tick once a frame is sent in it. */
  #socket: Socket | undefined;
  #corked = false;
  #open = false;
  #closed: EventBusError | undefined;
  #attempt = 0;
  #everConnected = false;
  readonly #requests: Requests;
  readonly #subscriptions = new Set<Subscription>();
  readonly #byServerId = new Map<string, Subscription>();
  #holds = 0;
  #firstOpen: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void };
  #pingTimer: NodeJS.Timeout | undefined;
  /** The current connection answered the last ping. */
  #pongSeen = true;
  #reconnectTimer: NodeJS.Timeout | undefined;
  /** The last connection failed on the broker's certificate: reconnecting would fail the same way. */
  #untrusted: Error | undefined;

  constructor(url: string, options: ConnectOptions = {}) {
    this.url = url;
    this.#o = { ...CONNECT_DEFAULTS, ...options };
    this.#requests = new Requests(this.#o.requestTimeoutMs, { isOpen: () => this.#open, send: (frame) => this.#send(frame) });
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    promise.catch(() => undefined); // a client closed before it ever connected must not be an unhandled rejection
    this.#firstOpen = { promise, resolve, reject };
    void findTracing();
    this.#dial();
  }

  /** Resolves when the first connection is up; rejects if the client gave up before that. */
  opened(): Promise<void> {
    return this.#firstOpen.promise;
  }

  get isConnected(): boolean {
    return this.#open;
  }

  /**
   * Publishes; resolves with the seq once the broker has stored it durably. With `deliverAt` or `delayMs` the
   * message is stored for later and this resolves with its schedule instead (with the seq when the time given
   * has already come).
   */
  publish(topic: string, payload: unknown, options?: PublishOptions & PublishNow): Promise<number>;
  publish(topic: string, payload: unknown, options: PublishOptions & PublishTime): Promise<number | Scheduled>;
  async publish(topic: string, payload: unknown, options: PublishOptions & PublishTime = {}): Promise<number | Scheduled> {
    let data = this.#data(topic, payload, options);
    const span = clientTracing()?.publish(topic, data.message_id!, data.metadata);
    if (span !== undefined) data = { ...data, metadata: span.metadata };
    let frame: ServerFrame;
    try {
      frame = await this.#request((id) => publishFrame(id, data, options.ttl), 'publish');
    } catch (e) {
      span?.failed(e);
      throw e;
    }
    if (frame.type === 'scheduled') {
      span?.published(undefined);
      return { scheduleId: frame.schedule_id, deliverAt: frame.deliver_at, messageId: frame.message_id, duplicate: frame.duplicate === true };
    }
    const { seq } = frame as { seq: number };
    span?.published(seq);
    return seq;
  }

  /**
   * Publishes all of the messages or none; resolves with their seqs, in order. Messages with `deliverAt` or
   * `delayMs` are stored for later: their entries are their schedule ids.
   */
  publishBatch(messages: readonly (BatchMessage & PublishNow)[], options?: { ttl?: number }): Promise<number[]>;
  publishBatch(messages: readonly (BatchMessage & PublishTime)[], options?: { ttl?: number }): Promise<BatchEntry[]>;
  async publishBatch(messages: readonly (BatchMessage & PublishTime)[], options: { ttl?: number } = {}): Promise<BatchEntry[]> {
    let data = messages.map((m) => this.#data(m.topic, m.payload, m));
    const tracing = clientTracing();
    const spans = tracing === undefined ? [] : data.map((m) => tracing.publish(m.topic, m.message_id!, m.metadata));
    if (tracing !== undefined) data = data.map((m, i) => ({ ...m, metadata: spans[i]!.metadata }));
    let frame: ServerFrame;
    try {
      frame = await this.#request((id) => publishBatchFrame(id, data, options.ttl), 'publish');
    } catch (e) {
      for (const span of spans) span.failed(e);
      throw e;
    }
    const { seqs, message_ids, schedule_ids } = frame as { seqs: (number | null)[]; message_ids: (string | null)[]; schedule_ids?: (string | null)[] };
    for (const [i, span] of spans.entries()) span.published(seqs[i] ?? undefined);
    return seqs.map((seq, i) => seq ?? { scheduleId: schedule_ids![i]!, messageId: message_ids[i] ?? null });
  }

  /** Subscribes; read the messages with `for await` (or `next()`), and ack each one for a durable consumer. */
  async subscribe(pattern: string | readonly string[], options: SubscribeOptions = {}): Promise<Subscription> {
    const sub = new Subscription(pattern, options, this.#host, this.#o.queueLimit);
    this.#subscriptions.add(sub);
    try {
      await this.#activate(sub, false);
    } catch (e) {
      this.#subscriptions.delete(sub);
      throw e;
    }
    return sub;
  }

  /** Publishes a request and resolves with the first reply (published to the request's reply_to inbox). */
  async request(topic: string, payload: unknown, options: { timeoutMs?: number; metadata?: Record<string, unknown> } = {}): Promise<ReceivedMessage> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const inbox = `_inbox.${randomUUID()}`;
    const sub = await this.subscribe(inbox);
    try {
      await this.publish(topic, payload, { metadata: { ...options.metadata, reply_to: inbox }, ttl: Math.max(1, Math.ceil(timeoutMs / 1000)) });
      const reply = await sub.next(timeoutMs);
      if (reply === undefined) throw new EventBusError('UNAVAILABLE', `no reply to ${topic} within ${timeoutMs} ms`);
      return reply;
    } finally {
      await sub.close();
    }
  }

  /** Answers a request received by a subscription; resolves with the reply's seq. */
  reply(request: ReceivedMessage, payload: unknown, options: PublishOptions = {}): Promise<number> {
    const replyTo = request.metadata['reply_to'];
    if (typeof replyTo !== 'string') return Promise.reject(new EventBusError('BAD_ARGS', `message ${request.seq} is not a request (no reply_to)`));
    return this.publish(replyTo, payload, { ttl: 60, ...options });
  }

  /** Drops the connection as a network failure would, and reconnects (subscriptions resume). */
  reconnect(): void {
    this.#ws?.terminate();
  }

  /** Closes for good: pending calls fail, subscriptions end. */
  close(): void {
    this.#shutDown(null);
  }

  readonly #host: SubscriptionHost = {
    send: (frame) => this.#send(frame),
    unsubscribe: (sub) => this.#unsubscribe(sub),
    hold: () => {
      if (this.#holds++ === 0) this.#ws?.pause();
    },
    release: () => {
      if (--this.#holds === 0) this.#ws?.resume();
    },
  };

  #data(topic: string, payload: unknown, o: Omit<PublishOptions, 'ttl'> & PublishTime): WireMessage {
    // Time-ordered (UUIDv7), not random: the broker's unique index on message_id then grows at its end, and
    // a commit dirties a few index pages instead of one per message (random ids also get slower as the index
    // outgrows the cache). A delayed message carries it too: resent after a reconnect, it answers the same
    // schedule instead of storing a second one.
    const deliverAt = o.deliverAt instanceof Date ? o.deliverAt.getTime() : o.deliverAt;
    return { topic, payload, message_id: o.messageId ?? timeOrderedId(), metadata: o.metadata, ordering_key: o.orderingKey, deliver_at: deliverAt, delay_ms: o.delayMs };
  }

  async #activate(sub: Subscription, resuming: boolean): Promise<void> {
    await this.#request((id) => sub.subscribeFrame(id, resuming), 'subscribe', { sub, resuming });
  }

  async #unsubscribe(sub: Subscription): Promise<void> {
    if (!this.#subscriptions.delete(sub)) return;
    const serverId = sub.serverId;
    this.#byServerId.delete(serverId);
    sub.end(null);
    if (this.#open && serverId !== '') {
      await this.#request((id) => unsubscribeFrame(id, serverId), 'unsubscribe').catch(() => undefined);
    }
  }

  /** Sends a request (`build` gets the id) and resolves with its answer; an error frame rejects. */
  #request(build: (id: string) => string, kind: RequestKind, subscription?: SubscribeRequest): Promise<ServerFrame> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    const waiting = this.#requests.waitingPublishes;
    if (kind === 'publish' && !this.#open && waiting >= this.#o.maxPendingPublishes) {
      return Promise.reject(new EventBusError('UNAVAILABLE', `disconnected, and ${waiting} publishes already wait (maxPendingPublishes)`));
    }
    return this.#requests.add(build, kind, subscription);
  }

  #send(frame: string): boolean {
    if (!this.#open || this.#ws === undefined) return false;
    // The frames of one tick leave in one write: ws writes each frame on its own, and with hundreds of
    // publishes in flight those writes would be most of the client's CPU.
    const socket = this.#socket;
    if (socket !== undefined && !this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    this.#ws.send(frame);
    return true;
  }

  #dial(): void {
    const headers: Record<string, string> = this.#o.token === undefined ? {} : { authorization: `Bearer ${this.#o.token}` };
    const ca = this.#o.ca === undefined ? {} : { ca: typeof this.#o.ca === 'string' || Buffer.isBuffer(this.#o.ca) ? this.#o.ca : [...this.#o.ca] };
    const ws = new WebSocket(this.url, { headers, perMessageDeflate: false, handshakeTimeout: this.#o.requestTimeoutMs, ...ca });
    this.#ws = ws;
    // Ready once the broker answers a ping: a refused connection (bad token, too many) is opened, then
    // closed with a reason, and connect() must not resolve before that is known.
    ws.on('upgrade', (response) => {
      if (ws === this.#ws) this.#socket = response.socket;
    });
    ws.on('open', () => ws.send(pingFrame(HELLO)));
    // One Buffer per message (ws's default binaryType).
    ws.on('message', (data) => this.#onFrame((data as Buffer).toString('utf8')));
    ws.on('pong', () => {
      if (ws === this.#ws) this.#pongSeen = true;
    });
    ws.on('error', (e) => {
      // 'close' follows and decides what to do
      if (ws === this.#ws && certificateErrorCode(e) !== undefined) this.#untrusted = e;
    });
    ws.on('close', (code, reason) => this.#onClose(ws, code, reason.toString()));
  }

  #onReady(ws: WebSocket): void {
    if (ws !== this.#ws || this.#open) return;
    this.#open = true;
    this.#attempt = 0;
    if (this.#holds > 0) ws.pause();
    const resuming = this.#everConnected;
    this.#everConnected = true;
    // Subscriptions first, then whatever waited for the connection, in the order it was asked for.
    const waiting = this.#requests.takeWaiting();
    if (resuming) {
      for (const sub of this.#subscriptions) {
        if (!sub.wasSubscribed) continue; // its first subscribe is among the waiting requests
        this.#activate(sub, true).catch((e: unknown) => {
          this.#subscriptions.delete(sub);
          sub.end(e instanceof EventBusError ? e : new EventBusError('UNAVAILABLE', e instanceof Error ? e.message : String(e)));
        });
      }
    }
    for (const frame of waiting) ws.send(frame);
    this.#startPings(ws);
    this.#o.onStatus?.(resuming ? 'reconnected' : 'connected');
    if (!resuming) this.#firstOpen.resolve();
  }

  #onFrame(text: string): void {
    const frame = readServerFrame(text);
    if (frame === undefined) return; // not a frame of the broker's: nothing to answer
    if (frame.type === 'message') {
      this.#byServerId.get(frame.subscription)?.receive(frame);
      return;
    }
    if (frame.type === 'unsubscribed' && frame.id === undefined) {
      // The broker ended it (its consumer was removed, the broker is stopping).
      const sub = this.#byServerId.get(frame.subscription);
      if (sub !== undefined) {
        this.#byServerId.delete(frame.subscription);
        this.#subscriptions.delete(sub);
        sub.end(new EventBusError('UNAVAILABLE', `subscription ended by the broker: ${frame.reason ?? 'no reason given'}`));
      }
      return;
    }
    if (frame.id === undefined) return;
    if (frame.id === HELLO) return this.#onReady(this.#ws!);
    // The broker is stopping and took nothing from this request: it waits for the next connection, as it
    // would had the connection dropped first (a publish carries its message id, so it is stored once).
    if (frame.type === 'error' && frame.code === 'UNAVAILABLE' && frame.message === SHUTTING_DOWN) return;
    const p = this.#requests.settle(Number(frame.id));
    if (p === undefined) return;
    if (frame.type === 'error') return p.reject(EventBusError.fromWire(frame.code, frame.message));
    if (frame.type === 'subscribed' && p.subscription !== undefined) {
      const { sub, resuming } = p.subscription;
      if (!this.#subscriptions.has(sub)) {
        // Closed while its subscribe was on the way: end the broker's side too, or it would keep receiving.
        this.#send(unsubscribeFrame(undefined, frame.subscription));
      } else {
        // Now, not when the promise settles: the messages that follow in the same socket read are its.
        sub.subscribed(frame.subscription, frame.head_seq, resuming);
        this.#byServerId.set(frame.subscription, sub);
      }
    }
    p.resolve(frame);
  }

  #onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.#ws) return;
    const wasOpen = this.#open;
    this.#open = false;
    clearInterval(this.#pingTimer);
    this.#byServerId.clear();
    for (const sub of this.#subscriptions) sub.disconnected();
    this.#requests.disconnected(wasOpen);
    if (this.#closed !== undefined) return;
    if (code === 1008) return this.#shutDown(new EventBusError('UNAUTHORIZED', `the broker refused the connection: ${reason || 'bad or missing token'}`));
    if (this.#untrusted !== undefined) {
      const why = `${certificateErrorCode(this.#untrusted)}: ${this.#untrusted.message}`;
      return this.#shutDown(new EventBusError('UNAVAILABLE', `${this.url}: the broker's certificate is not trusted (${why}); give its CA as the ca option`, { cause: this.#untrusted }));
    }
    if (wasOpen) this.#o.onStatus?.('disconnected');
    if (this.#attempt >= this.#o.maxRetries) {
      return this.#shutDown(new EventBusError('UNAVAILABLE', `cannot reach ${this.url} after ${this.#attempt} attempts (maxRetries)`));
    }
    const delay = Math.min(this.#o.reconnectIntervalMs * 2 ** this.#attempt, this.#o.maxReconnectIntervalMs);
    this.#attempt++;
    this.#reconnectTimer = setTimeout(() => this.#dial(), wasOpen ? 0 : delay);
  }

  #startPings(ws: WebSocket): void {
    if (this.#o.pingIntervalMs <= 0) return;
    this.#pongSeen = true;
    this.#pingTimer = setInterval(() => {
      // While the client holds the socket (its queues are full) pongs go unread: that is not a dead broker.
      if (this.#holds > 0) return void (this.#pongSeen = true);
      if (!this.#pongSeen) return ws.terminate();
      this.#pongSeen = false;
      ws.ping();
    }, this.#o.pingIntervalMs).unref();
  }

  #shutDown(error: EventBusError | null): void {
    if (this.#closed !== undefined) return;
    this.#closed = error ?? new EventBusError('UNAVAILABLE', 'the client is closed');
    this.#open = false;
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#pingTimer);
    this.#ws?.close();
    this.#requests.rejectAll(this.#closed);
    for (const sub of this.#subscriptions) sub.end(error);
    this.#subscriptions.clear();
    this.#byServerId.clear();
    this.#firstOpen.reject(this.#closed);
    this.#o.onStatus?.('closed');
  }
}
