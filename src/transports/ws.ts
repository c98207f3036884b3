// One WebSocket session (PROTOCOL.md §5): client frames → broker calls, deliveries → message frames. A client
// that stops reading costs at most `bufferBytes` of output: past it, its subscriptions pause (the broker
// holds their messages in the log, not in memory) and reading its frames stops until the socket drains. A
// client that publishes faster than the log commits is paused the same way, past `maxUnanswered` publishes.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Broker, CredentialChange, Forbidden, Principal } from '../core/broker.js';
import type { Delivery, Sink, StartAt } from '../core/types.js';
import { ok, type Result } from 'neverthrow';
import { brokerError, unreachable, type BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { READ_ON_MS, readOn } from '../util/read-on.js';
import { FrameWriter } from './frame-writer.js';
import {
  errorFrame,
  messageFrame,
  parseClientFrame,
  publishedBatchFrame,
  publishedLaterFrame,
  scheduledFrame,
  pongFrame,
  publishedFrame,
  subscribedFrame,
  unsubscribedFrame,
  type ClientFrame,
  type FrameId,
  type SubscribeRequest,
} from '../protocol/ws-frames.js';
import { WS_ERROR_CODES } from '../protocol/ws-frame-schemas.js';

// RFC 6455 §7.4.1: policy violation, as for a refused token.
const CLOSE_POLICY = 1008;

export interface SessionLimits {
  /** Unsent bytes before deliveries pause and reading stops. */
  readonly bufferBytes: number;
  /** Longer frames are answered TOO_LARGE without being parsed. */
  readonly maxTextBytes: number;
  /**
   * Messages published and not yet answered before reading stops (EVENTBUS_MAX_PIPELINED_LINES), as on the
   * telnet port: what a client has sent ahead waits in its socket, not in the broker's memory, and a stop
   * has only this much to commit before it can close the session.
   */
  readonly maxUnanswered: number;
}

// §5 lists the codes a WebSocket client sees (WS_ERROR_CODES, which the AsyncAPI document shows); the broker's
// BAD_ARGS (a bad value in a valid frame) is a bad frame here.
type WireError = BrokerError<(typeof WS_ERROR_CODES)[number]>;
const WIRE_CODES: ReadonlySet<string> = new Set(WS_ERROR_CODES);
function toWire(e: BrokerError): WireError {
  return WIRE_CODES.has(e.code) ? (e as WireError) : brokerError('BAD_FRAME', e.message);
}

export class WsSession {
  readonly #ws: WebSocket;
  readonly #out: FrameWriter;
  readonly #broker: Broker;
  readonly #limits: SessionLimits;
  readonly #log: Logger;
  /** This session's subscriptions, with what they read (a durable one's deliveries need acks). */
  readonly #subscriptions = new Map<string, { readonly pattern: string | readonly string[]; readonly consumer: string | undefined; readonly durable: boolean }>();
  /** Who this client is (PROTOCOL.md §12): asked before every publish and subscribe. */
  readonly #principal: Principal;
  readonly #unwatch: () => void;
  readonly #paused = new Set<string>();
  /** Reading stops while the output is over its limit… */
  #outputFull = false;
  /** …or while too many publishes wait for their answers… */
  #publishesFull = false;
  /** …or while the broker is stopping, but for what finish() lets in. */
  #held = false;
  #unanswered = 0;
  #framesRead = 0;
  /** The close frame is sent (by us): no data frame may follow it (RFC 6455 §5.5.1). */
  #closing = false;
  #closed = false;

  constructor(ws: WebSocket, socket: Duplex, broker: Broker, principal: Principal, limits: SessionLimits, logger: Logger) {
    this.#ws = ws;
    this.#out = new FrameWriter(socket);
    this.#broker = broker;
    this.#principal = principal;
    this.#unwatch = broker.gate.watch(principal, (change) => this.#credentialChanged(change));
    this.#limits = limits;
    this.#log = logger;
    ws.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    ws.on('close', () => this.#close());
    ws.on('error', (e) => this.#log.debug('websocket error', { error: e.message }));
    socket.on('drain', () => this.#onDrain());
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    this.#framesRead++;
    if (this.#held && !this.#ws.isPaused) this.#ws.pause();
    // After the close frame nothing is answered, and only acks and nacks still count: a client that kept
    // publishing has its frames read through to its own close frame, and a frame without "ack" in it is
    // neither, so it is dropped without being parsed.
    if (this.#closing && !data.includes('ack')) return;
    if (isBinary) return void this.#send(errorFrame(undefined, brokerError('BAD_FRAME', 'frames are JSON text, not binary')));
    const parsed = parseClientFrame(data.toString('utf8'));
    if (data.length > this.#limits.maxTextBytes) {
      // Parsed only to answer with its id (ws has already read it whole, up to EVENTBUS_MAX_FRAME).
      const id = parsed.isOk() ? parsed.value.id : parsed.error.id;
      const reason = `frame is ${data.length} bytes; the limit is ${this.#limits.maxTextBytes} (EVENTBUS_MAX_PAYLOAD + 64 KiB)`;
      return void this.#send(errorFrame(id, brokerError('TOO_LARGE', reason)));
    }
    if (parsed.isErr()) return void this.#send(errorFrame(parsed.error.id, parsed.error.error));
    try {
      this.#handle(parsed.value);
    } catch (e) {
      // Our bug, not the client's: log it with its stack and end this session only.
      this.#log.error('websocket session failed', { error: (e as Error).stack ?? String(e) });
      this.#ws.terminate();
    }
  }

  #handle(frame: ClientFrame): void {
    const id = frame.id;
    switch (frame.type) {
      case 'publish': {
        const allowed = this.#principal.publish([frame.message.topic]);
        if (allowed.isErr()) return this.#fail(id, allowed.error);
        this.#taken(1);
        if (frame.time !== undefined) {
          void this.#broker.publishLater(frame.message, frame.time).match(
            (p) => this.#answered(1, 'scheduleId' in p ? scheduledFrame(id, p) : publishedFrame(id, p)),
            (e) => this.#answered(1, errorFrame(id, toWire(e))),
          );
          return;
        }
        void this.#broker.publish(frame.message).match(
          (p) => this.#answered(1, publishedFrame(id, p)),
          (e) => this.#answered(1, errorFrame(id, toWire(e))),
        );
        return;
      }
      case 'publish_batch': {
        const allowed = this.#principal.publish(
          frame.messages.map((m) => m.topic),
          'publish_batch',
        );
        if (allowed.isErr()) return this.#fail(id, allowed.error);
        const n = frame.messages.length;
        this.#taken(n);
        if (frame.times !== undefined) {
          const times = frame.times;
          void this.#broker.publishBatchLater(frame.messages.map((input, i) => ({ input, time: times[i]! }))).match(
            (p) => this.#answered(n, publishedLaterFrame(id, p)),
            (e) => this.#answered(n, errorFrame(id, toWire(e))),
          );
          return;
        }
        void this.#broker.publishBatch(frame.messages).match(
          (p) => this.#answered(n, publishedBatchFrame(id, p)),
          (e) => this.#answered(n, errorFrame(id, toWire(e))),
        );
        return;
      }
      case 'subscribe':
        return this.#subscribe(id, frame.request);
      case 'ack':
        return this.#settle(id, frame.subscription, (sub) => {
          for (const seq of frame.seqs) this.#broker.ack(sub, seq).unwrapOr(undefined); // the session's own subscription
        });
      case 'nack':
        return this.#settle(id, frame.subscription, (sub) => this.#broker.nack(sub, frame.seq, frame.delayMs));
      case 'unsubscribe': {
        const sub = frame.subscription;
        if (!this.#subscriptions.has(sub)) return this.#unknown(id, sub);
        this.#forget(sub);
        this.#broker.unsubscribe(sub).unwrapOr(undefined); // it was this session's: ended by the broker at most
        return void this.#send(unsubscribedFrame(id, sub));
      }
      case 'ping':
        return void this.#send(pongFrame(id));
      default:
        return unreachable(frame);
    }
  }

  #subscribe(id: FrameId, request: SubscribeRequest): void {
    const allowed = this.#mayRead(request.pattern, request.consumer, 'subscribe');
    if (allowed.isErr()) return this.#fail(id, allowed.error);
    let start: StartAt | undefined;
    if (request.startingSeq !== undefined) start = { kind: 'seq', seq: request.startingSeq };
    else if (request.startingTime !== undefined) start = { kind: 'time', timeMs: request.startingTime };
    let subscription = '';
    const sink: Sink = {
      deliver: (d: Delivery) => this.#deliver(d),
      closed: (reason) => {
        if (!this.#subscriptions.has(subscription)) return;
        this.#forget(subscription);
        this.#send(unsubscribedFrame(undefined, subscription, reason));
      },
    };
    const durable = request.consumer !== undefined;
    void this.#broker
      .subscribe(
        { pattern: request.pattern, start, consumer: request.consumer, group: request.group, maxInFlight: request.maxInFlight, filter: request.filter, backoffMs: request.backoffMs },
        sink,
      )
      .match(
        ({ subscriptionId, headSeq }) => {
          subscription = subscriptionId;
          if (this.#closed) {
            this.#broker.unsubscribe(subscriptionId).unwrapOr(undefined); // just made, so known
            return;
          }
          this.#subscriptions.set(subscriptionId, { pattern: request.pattern, consumer: request.consumer, durable });
          this.#send(subscribedFrame(id, subscriptionId, headSeq));
        },
        (e) => this.#fail(id, e),
      );
  }

  /** ack / nack: the named subscription, or (prk_eventbus's ack names none) every durable one of this session. */
  #settle(id: FrameId, subscription: string | undefined, act: (sub: string) => unknown): void {
    if (subscription === undefined) {
      for (const [sub, { durable }] of this.#subscriptions) if (durable) act(sub);
      return;
    }
    if (!this.#subscriptions.has(subscription)) return this.#unknown(id, subscription);
    act(subscription);
  }

  #deliver(d: Delivery): boolean {
    if (this.#closed || this.#closing) return false;
    if (this.#send(messageFrame(d.subscriptionId, d.message, d.delivery))) return true;
    this.#paused.add(d.subscriptionId);
    return false;
  }

  /** The broker is stopping: no more frames are read until finish(). */
  hold(): void {
    this.#held = true;
    this.#reading();
  }

  /**
   * The broker is stopping: frames already on their way are read and answered first (a read a turn, until a
   * turn brings none or READ_ON_MS), then the session is shut down.
   */
  finish(code: number, reason: string): void {
    this.#held = true;
    readOn(
      () => this.#framesRead,
      () => {
        if (!this.#outputFull && !this.#publishesFull && this.#ws.isPaused) this.#ws.resume();
      },
      () => this.shutdown(code, reason),
      READ_ON_MS,
    );
  }

  /**
   * Ends the session from the broker's side: frames already queued go out, then the close frame, then
   * nothing. Frames the client sent before it saw the close are still applied (acks above all).
   */
  shutdown(code: number, reason: string): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    this.#out.flush();
    this.#ws.close(code, reason);
    // Read on to the client's close frame; what comes before it is applied, and answered no more.
    this.#held = false;
    this.#reading();
  }

  #taken(messages: number): void {
    this.#unanswered += messages;
    if (this.#unanswered < this.#limits.maxUnanswered || this.#publishesFull) return;
    this.#publishesFull = true;
    this.#reading();
  }

  #answered(messages: number, frame: string): void {
    this.#unanswered -= messages;
    this.#send(frame);
    if (this.#publishesFull && this.#unanswered < this.#limits.maxUnanswered / 2) {
      this.#publishesFull = false;
      this.#reading();
    }
  }

  /** Reads the client's frames unless its output or its publishes are over their limits. */
  #reading(): void {
    const paused = this.#outputFull || this.#publishesFull || this.#held;
    if (paused && !this.#ws.isPaused) this.#ws.pause();
    else if (!paused && this.#ws.isPaused) this.#ws.resume();
  }

  /** Sends one frame; false when the connection's unsent output is now over its limit (or it is closing). */
  #send(frame: string): boolean {
    if (this.#closed || this.#closing) return false;
    if (this.#out.pending + frame.length < this.#limits.bufferBytes) {
      this.#out.push(frame);
      return true;
    }
    // Over the limit: stop reading its requests (their replies pile up unread) and hear when this write
    // reaches the OS. 'drain' alone is not enough: the socket emits it only past its own high-water mark.
    if (!this.#outputFull) {
      this.#outputFull = true;
      this.#reading();
    }
    this.#out.push(frame, this.#written);
    return false;
  }

  readonly #written = (): void => this.#onDrain();

  #onDrain(): void {
    // Still over: a later frame's callback (or 'drain') comes.
    if (this.#closed || this.#out.pending >= this.#limits.bufferBytes) return;
    if (this.#outputFull) {
      this.#outputFull = false;
      this.#reading();
    }
    // A resumed subscription may fill the buffer again at once and pause itself anew: clear first.
    const paused = [...this.#paused];
    this.#paused.clear();
    for (const sub of paused) this.#broker.resume(sub);
  }

  /**
   * Its credential was rotated or removed: the session ends. Narrowed: each subscription it may no longer read
   * ends with a FORBIDDEN error frame naming it, and the others go on.
   */
  #credentialChanged(change: CredentialChange): void {
    if (change === 'revoked') {
      this.#send(errorFrame(undefined, brokerError('UNAUTHORIZED', 'the credential of this connection was rotated or removed')));
      return this.shutdown(CLOSE_POLICY, 'credential revoked');
    }
    for (const [sub, { pattern, consumer }] of [...this.#subscriptions]) {
      const allowed = this.#mayRead(pattern, consumer, 'subscription');
      if (allowed.isOk()) continue;
      this.#forget(sub);
      this.#broker.unsubscribe(sub).unwrapOr(undefined); // this session's
      this.#send(errorFrame(undefined, brokerError('FORBIDDEN', `subscription ${sub} ended: ${allowed.error.message}`)));
    }
  }

  /** Whether its credential may read `pattern` (one or several), as `consumer` when named. */
  #mayRead(pattern: string | readonly string[], consumer: string | undefined, action: string): Result<void, Forbidden> {
    for (const p of typeof pattern === 'string' ? [pattern] : pattern) {
      const allowed = this.#principal.read(p, action);
      if (allowed.isErr()) return allowed;
    }
    return consumer === undefined ? ok(undefined) : this.#principal.useConsumer(consumer, action);
  }

  #fail(id: FrameId, e: BrokerError): void {
    this.#send(errorFrame(id, toWire(e)));
  }

  #unknown(id: FrameId, subscription: string): void {
    this.#fail(id, brokerError('UNKNOWN_SUBSCRIPTION', `no subscription ${subscription} on this connection`));
  }

  #forget(subscription: string): void {
    this.#subscriptions.delete(subscription);
    this.#paused.delete(subscription);
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch();
    for (const sub of this.#subscriptions.keys()) this.#broker.unsubscribe(sub).unwrapOr(undefined); // ended by the broker at most
    this.#subscriptions.clear();
    this.#paused.clear();
  }
}
