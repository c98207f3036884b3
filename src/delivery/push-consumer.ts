// One registered consumer's delivery: a Sink on its durable stream that sends through its client. A
// connection-based consumer is attached only while connected; when the connection breaks its unacked
// messages go back to the stream and are sent again, in seq order, after a reconnect with backoff. A down
// or slow consumer just falls behind in the log: it never holds up another, and never fills memory.
import type { Result } from 'neverthrow';
import type { Delivery, DeliveryFailure, Sink } from '../core/types.js';
import type { BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { backoffDelayMs, type BackoffPolicy } from './backoff.js';
import type { DeliveryError, PushClient } from './client.js';
import { FailureLog } from './failure-log.js';
import { UnconfirmedWrites } from './unconfirmed.js';

/** What push delivery needs from the broker. */
export interface PushHost {
  /** `maxInFlight`: undefined takes the consumer's window (its max_in_flight, else EVENTBUS_MAX_IN_FLIGHT). */
  attach(consumer: string, sink: Sink, options: { maxInFlight: number | undefined; inOrder: boolean }): Result<string, BrokerError>;
  ack(subscriptionId: string, seq: number): void;
  /** `cause`: the failure, for the dead letter's reason if that was the last try. */
  nack(subscriptionId: string, seq: number, delayMs: number, cause: string): void;
  detach(subscriptionId: string): void;
  /** Sends the consumer's messages again from `seq` (its position moves back). */
  rewind(consumer: string, seq: number): void;
  recordFailure(failure: DeliveryFailure): void;
}

export type PushState = 'connected' | 'retrying' | 'offline';

export interface PushOptions {
  /** Unacked sends at once; undefined: the consumer's window. */
  readonly maxInFlight: number | undefined;
  readonly backoff: BackoffPolicy;
  readonly now: () => number;
  /** While a consumer keeps failing, at most one log line per this long (EVENTBUS_PUSH_FAILURE_LOG_INTERVAL). */
  readonly failureLogIntervalMs: number;
}

export class PushConsumer implements Sink {
  readonly id: string;
  readonly #client: PushClient;
  readonly #host: PushHost;
  readonly #options: PushOptions;
  readonly #log: Logger;
  readonly #failures: FailureLog;
  #state: PushState = 'offline';
  #subscription: string | undefined;
  #reconnects = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Connection-based clients only: writes the peer may not have read yet. */
  readonly #unconfirmed = new UnconfirmedWrites();
  /** Deliveries of this tick, for clients that send batches. */
  #batch: Delivery[] = [];

  constructor(id: string, client: PushClient, host: PushHost, options: PushOptions, logger: Logger) {
    this.id = id;
    this.#client = client;
    this.#host = host;
    this.#options = options;
    this.#log = logger.child({ consumer: id, address: client.address });
    this.#failures = new FailureLog(this.#log, options.failureLogIntervalMs, options.now);
    client.onDisconnect((reason, clean) => {
      // A reset (not a close the consumer chose) is a failure: it is why the consumer is retrying.
      if (!clean && !this.#closed && this.#subscription !== undefined) this.#recordFailure(null, 1, this.#options.now(), { reason, disconnected: true }, false);
      this.#lost(reason, clean);
    });
  }

  get state(): PushState {
    return this.#state;
  }

  get address(): string {
    return this.#client.address;
  }

  start(): void {
    if (this.#client.isConnectionBased) this.#connect();
    else {
      this.#state = 'connected';
      this.#attach();
    }
  }

  deliver(delivery: Delivery): boolean {
    const subscription = this.#subscription;
    if (subscription === undefined) return false;
    if (this.#client.sendMany === undefined) {
      this.#sendOne(subscription, delivery);
      return true;
    }
    // Everything delivered in one tick goes out as one batch: one write and one settlement.
    if (this.#batch.length === 0) setImmediate(() => this.#sendBatch(subscription));
    this.#batch.push(delivery);
    return true;
  }

  #sendBatch(subscription: string): void {
    const batch = this.#batch;
    this.#batch = [];
    if (this.#subscription !== subscription) return; // detached meanwhile: the stream has them back
    const started = this.#options.now();
    void this.#client.sendMany!(batch).match(
      () => {
        for (const { message } of batch) {
          this.#unconfirmed.written(message.seq, message.payload.length + 1);
          this.#host.ack(subscription, message.seq);
        }
      },
      (e) => {
        // One failure for the log, whatever the batch's size: it is one broken write.
        for (const d of batch) this.#recordFailure(d.message.seq, d.delivery, started, e, false);
        this.#lost(e.reason, false);
      },
    );
  }

  #sendOne(subscription: string, delivery: Delivery): void {
    const { message } = delivery;
    const started = this.#options.now();
    void this.#client
      .send(message, delivery.delivery)
      .match(
        () => {
          if (this.#client.isConnectionBased) this.#unconfirmed.written(message.seq, message.payload.length + 1);
          else {
            this.#state = 'connected';
            this.#failures.succeeded();
          }
          this.#host.ack(subscription, message.seq);
        },
        (e) => {
          if (e.disconnected) {
            this.#recordFailure(message.seq, delivery.delivery, started, e, false);
            return this.#lost(e.reason, false);
          }
          this.#recordFailure(message.seq, delivery.delivery, started, e);
          // Not connection-based (http, udp): the message comes back after a backoff, ahead of newer ones.
          this.#state = 'retrying';
          this.#host.nack(subscription, message.seq, backoffDelayMs(delivery.delivery - 1, this.#options.backoff), e.reason);
        },
      );
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#detach();
    this.#state = 'offline';
    await this.#client.close();
  }

  #connect(): void {
    const started = this.#options.now();
    void this.#client.connect().match(
      () => {
        if (this.#closed) return void this.#client.close();
        this.#failures.succeeded();
        this.#reconnects = 0;
        this.#state = 'connected';
        this.#attach();
      },
      (e) => {
        if (this.#closed) return;
        this.#recordFailure(null, this.#reconnects + 1, started, e);
        this.#state = this.#reconnects === 0 ? 'offline' : 'retrying';
        this.#scheduleReconnect();
      },
    );
  }

  /**
   * The connection ended (or a write failed): stop taking messages, give back the unacked, reconnect. If it
   * did not end cleanly, what was written lately may have been lost in the socket buffers: send it again.
   */
  #lost(reason: string, clean: boolean): void {
    if (this.#closed || this.#subscription === undefined) return;
    this.#failures.failed(`disconnected: ${reason}`);
    this.#detach();
    const oldest = this.#unconfirmed.takeOldest();
    if (!clean && oldest !== undefined) this.#host.rewind(this.id, oldest);
    this.#state = 'retrying';
    void this.#client.close().then(() => this.#scheduleReconnect());
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    const delay = backoffDelayMs(this.#reconnects++, this.#options.backoff);
    this.#timer = setTimeout(() => this.#connect(), delay);
    this.#timer.unref();
  }

  #attach(): void {
    if (this.#subscription !== undefined) return;
    const attached = this.#host.attach(this.id, this, { maxInFlight: this.#options.maxInFlight, inOrder: true });
    if (attached.isErr()) {
      this.#log.error('cannot attach push consumer to its stream', { reason: attached.error.message });
      return;
    }
    this.#subscription = attached.value;
  }

  #detach(): void {
    if (this.#subscription === undefined) return;
    this.#host.detach(this.#subscription);
    this.#subscription = undefined;
  }

  /** Keeps the failure in delivery_failures (where LIST and the API read the last one), and logs it (`logged`) as FailureLog allows. */
  #recordFailure(seq: number | null, attempt: number, started: number, e: DeliveryError, logged = true): void {
    if (logged) this.#failures.failed(e.reason);
    const failedAt = this.#options.now();
    this.#host.recordFailure({
      consumer: this.id,
      address: this.#client.address,
      seq,
      attempt,
      failedAt,
      latencyMs: failedAt - started,
      error: e.reason,
      httpStatus: e.httpStatus ?? null,
    });
  }
}
