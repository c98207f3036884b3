// GET /api/subscribe: a subscription written as Server-Sent Events on one HTTP response, so that `curl -N`
// and a browser's EventSource can tail the log. Flow-controlled like a WebSocket session: the events of one
// tick go out in one write, and past `bufferBytes` of unsent output the subscription pauses until the socket
// has taken it, so a client that stops reading costs bounded memory and never holds up the others.
import type http from 'node:http';
import { err, ok, type Result } from 'neverthrow';
import type { Broker, CredentialChange, Principal, SubscribeError } from '../core/broker.js';
import type { Delivery, StartAt, StoredMessage } from '../core/types.js';
import type { Logger } from '../logger.js';
import { sseMessageEvent } from '../protocol/http-bodies.js';

// A comment line this often keeps proxies and load balancers from closing a quiet stream as idle.
const KEEPALIVE_MS = 15_000;

export interface SseLimits {
  /** Unsent bytes past which the subscription pauses (EVENTBUS_WS_BUFFER). */
  readonly bufferBytes: number;
}

export class SseStream {
  readonly #res: http.ServerResponse;
  readonly #broker: Broker;
  readonly #limits: SseLimits;
  readonly #log: Logger;
  #subscription: string | undefined;
  #queued: string[] = [];
  #queuedLength = 0;
  #scheduled = false;
  #paused = false;
  #ended = false;
  readonly #keepalive: NodeJS.Timeout;
  readonly #onEnd: () => void;
  #unwatch: (() => void) | undefined;

  readonly #event: (message: StoredMessage) => string;

  private constructor(res: http.ServerResponse, broker: Broker, limits: SseLimits, log: Logger, onEnd: () => void, event: (message: StoredMessage) => string) {
    this.#event = event;
    this.#res = res;
    this.#broker = broker;
    this.#limits = limits;
    this.#log = log;
    this.#onEnd = onEnd;
    this.#keepalive = setInterval(() => this.#push(': keep-alive\n\n'), KEEPALIVE_MS).unref();
  }

  /**
   * Subscribes, then answers 200 with the event stream; the caller answers an error itself when this resolves
   * with one (nothing is written then). `onEnd` is called once the stream is over, from either side.
   */
  static async open(
    broker: Broker,
    res: http.ServerResponse,
    request: {
      patterns: readonly string[];
      start: StartAt | undefined;
      principal: Principal;
      /** Each message as an event (sseMessageEvent by default). */
      event?: ((message: StoredMessage) => string) | undefined;
    },
    limits: SseLimits,
    log: Logger,
    onEnd: () => void,
  ): Promise<Result<SseStream, SubscribeError>> {
    const stream = new SseStream(res, broker, limits, log, onEnd, request.event ?? sseMessageEvent);
    const subscribed = await broker.subscribe({ pattern: request.patterns, start: request.start }, stream.#sink);
    if (subscribed.isErr()) {
      stream.#ended = true;
      stream.#teardown();
      return err(subscribed.error);
    }
    stream.#subscription = subscribed.value.subscriptionId;
    stream.#unwatch = broker.gate.watch(request.principal, (change) => stream.#credentialChanged(change, request.principal, request.patterns));
    res.on('close', () => stream.#end());
    res.on('drain', () => stream.#written());
    if (res.destroyed) {
      stream.#end();
      return ok(stream);
    }
    // The connection is the stream's: it closes when the stream ends, not kept for another request.
    res.shouldKeepAlive = false;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      // nginx would otherwise hold the events back to fill its buffer.
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    stream.#push(`: subscribed head_seq=${subscribed.value.headSeq}\n\n`);
    return ok(stream);
  }

  /** Ends the stream from the broker's side (stopping): what is queued goes out first. */
  close(): void {
    if (this.#ended) return;
    this.#flush();
    this.#res.end();
    this.#end();
  }

  /**
   * Its credential was rotated or removed, or may no longer read a pattern of the stream: an `error` event says
   * why (a browser's EventSource sees it), and the stream ends.
   */
  #credentialChanged(change: CredentialChange, principal: Principal, patterns: readonly string[]): void {
    let refusal: { code: string; message: string } | undefined;
    if (change === 'revoked') refusal = { code: 'UNAUTHORIZED', message: 'the credential of this stream was rotated or removed' };
    else {
      for (const pattern of patterns) {
        const allowed = principal.read(pattern, 'subscription');
        if (allowed.isOk()) continue;
        refusal = { code: allowed.error.code, message: `this stream ended: ${allowed.error.message}` };
        break;
      }
    }
    if (refusal === undefined) return;
    this.#push(`event: error\ndata: ${JSON.stringify(refusal)}\n\n`);
    this.close();
  }

  readonly #sink = {
    showsStatus: true,
    deliver: (d: Delivery): boolean => this.#push(this.#event(d.message)),
    closed: (): void => {
      this.close();
    },
  };

  /** Queues text for this tick's write; false once the unsent output is over the limit (the subscription pauses). */
  #push(text: string): boolean {
    if (this.#ended) return false;
    this.#queued.push(text);
    this.#queuedLength += text.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(() => this.#flush());
    }
    if (this.#queuedLength + this.#res.writableLength < this.#limits.bufferBytes) return true;
    this.#paused = true;
    return false;
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#queued.length === 0 || this.#ended) return;
    const text = this.#queued.join('');
    this.#queued = [];
    this.#queuedLength = 0;
    // 'drain' comes only past the socket's own high-water mark; the write's callback says when this reached the OS.
    this.#res.write(text, () => this.#written());
  }

  #written(): void {
    if (!this.#paused || this.#ended || this.#queuedLength + this.#res.writableLength >= this.#limits.bufferBytes) return;
    this.#paused = false;
    if (this.#subscription !== undefined) this.#broker.resume(this.#subscription);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#teardown();
    if (this.#subscription !== undefined) {
      // Already gone when the broker ended it.
      this.#broker.unsubscribe(this.#subscription).unwrapOr(undefined);
    }
    this.#log.debug('event stream ended', { subscription: this.#subscription });
    this.#onEnd();
  }

  #teardown(): void {
    this.#unwatch?.();
    clearInterval(this.#keepalive);
    this.#queued = [];
  }
}
