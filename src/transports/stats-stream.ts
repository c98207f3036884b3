// GET /api/stats/stream: the broker's figures (topics, consumers with their lag, rates) as Server-Sent Events,
// one `stats` event a second, for the dashboard and anyone who would rather not poll. One figure-taking per
// tick serves every open stream, and none is taken while no stream is open. A figure is a snapshot: a
// client that reads slower than they come misses ticks rather than queueing them.
import type http from 'node:http';
import type { Result } from 'neverthrow';
import type { Gate, Principal } from '../core/broker.js';
import type { BrokerError } from '../errors.js';

export interface StatsStreamOptions {
  readonly intervalMs: number;
  /** A stream's unsent bytes past which ticks are skipped for it (EVENTBUS_WS_BUFFER). */
  readonly bufferBytes: number;
}

export class StatsStreams {
  readonly #snapshot: () => Promise<Result<unknown, BrokerError>>;
  readonly #options: StatsStreamOptions;
  readonly #open = new Set<http.ServerResponse>();
  #timer: NodeJS.Timeout | undefined;
  #taking = false;

  constructor(snapshot: () => Promise<Result<unknown, BrokerError>>, options: StatsStreamOptions) {
    this.#snapshot = snapshot;
    this.#options = options;
  }

  get size(): number {
    return this.#open.size;
  }

  /**
   * Answers 200 with the event stream, and sends the figures at once, then every interval, while `principal`
   * may monitor: its credential rotated, removed or narrowed past it, an `error` event says why and the stream
   * ends (PROTOCOL.md §12).
   */
  open(res: http.ServerResponse, principal: Principal, gate: Gate): void {
    res.shouldKeepAlive = false;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    this.#open.add(res);
    const unwatch = gate.watch(principal, (change) => {
      const refusal = change === 'revoked' ? { code: 'UNAUTHORIZED', message: 'the credential of this stream was rotated or removed' } : principal.monitor('GET /api/stats/stream').match(() => undefined, (e) => ({ code: e.code, message: e.message }));
      if (refusal !== undefined) res.end(`event: error\ndata: ${JSON.stringify(refusal)}\n\n`);
    });
    res.on('close', () => {
      unwatch();
      this.#open.delete(res);
      if (this.#open.size === 0) this.#stopTicking();
    });
    this.#timer ??= setInterval(() => void this.#tick(), this.#options.intervalMs).unref();
    void this.#tick();
  }

  closeAll(): void {
    for (const res of [...this.#open]) res.end();
    this.#open.clear();
    this.#stopTicking();
  }

  #stopTicking(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #tick(): Promise<void> {
    if (this.#taking) return; // a slow store: this tick's figures would come after the next one's
    this.#taking = true;
    try {
      const snapshot = await this.#snapshot();
      const event = snapshot.match(
        (figures) => `event: stats\ndata: ${JSON.stringify(figures)}\n\n`,
        (e) => `event: unavailable\ndata: ${JSON.stringify({ code: e.code, message: e.message })}\n\n`,
      );
      for (const res of this.#open) {
        if (res.writableLength < this.#options.bufferBytes) res.write(event);
      }
    } finally {
      this.#taking = false;
    }
  }
}
