// An in-process subscriber: a Sink with a bounded queue, read as an async iterator. What embedders, the
// benchmark and the tests use; the queue bound is the backpressure (the broker pauses when it is full).
import type { ResultAsync } from 'neverthrow';
import type { Broker, SubscribeError, SubscribeOptions } from './broker.js';
import type { Delivery, Sink } from './types.js';

const DEFAULT_QUEUE = 1024;

interface Waiter {
  readonly resolve: (d: Delivery | undefined) => void;
  timer: NodeJS.Timeout | undefined;
}

export class LocalSubscriber implements Sink, AsyncIterable<Delivery> {
  readonly #broker: Broker;
  readonly #queueLimit: number;
  #queue: Delivery[] = [];
  #head = 0;
  /** Readers waiting for a delivery, first come first served. */
  #waiters: Waiter[] = [];
  #paused = false;
  #closed = false;
  /** Set once subscribed. */
  subscriptionId = '';
  headSeq = 0;

  private constructor(broker: Broker, queueLimit: number) {
    this.#broker = broker;
    this.#queueLimit = queueLimit;
  }

  static open(
    broker: Broker,
    options: SubscribeOptions,
    queueLimit = DEFAULT_QUEUE,
  ): ResultAsync<LocalSubscriber, SubscribeError> {
    const sub = new LocalSubscriber(broker, queueLimit);
    return broker.subscribe(options, sub).map(({ subscriptionId, headSeq }) => {
      sub.subscriptionId = subscriptionId;
      sub.headSeq = headSeq;
      return sub;
    });
  }

  deliver(delivery: Delivery): boolean {
    const w = this.#waiters.shift();
    if (w !== undefined) {
      clearTimeout(w.timer);
      w.resolve(delivery);
      return true;
    }
    this.#queue.push(delivery);
    if (this.#queue.length - this.#head >= this.#queueLimit) this.#paused = true;
    return !this.#paused;
  }

  closed(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(undefined);
    }
  }

  /** The next delivery, or undefined when closed or after `timeoutMs`. */
  next(timeoutMs?: number): Promise<Delivery | undefined> {
    if (this.#head < this.#queue.length) return Promise.resolve(this.#take());
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const w: Waiter = { resolve, timer: undefined };
      if (timeoutMs !== undefined) {
        w.timer = setTimeout(() => {
          this.#waiters = this.#waiters.filter((x) => x !== w);
          resolve(undefined);
        }, timeoutMs);
      }
      this.#waiters.push(w);
    });
  }

  /** Up to `count` deliveries, waiting at most `timeoutMs` for each. */
  async take(count: number, timeoutMs = 5000): Promise<Delivery[]> {
    const out: Delivery[] = [];
    while (out.length < count) {
      const d = await this.next(timeoutMs);
      if (d === undefined) break;
      out.push(d);
    }
    return out;
  }

  ack(seq: number): void {
    this.#broker.ack(this.subscriptionId, seq);
  }

  nack(seq: number, delayMs = 0): void {
    this.#broker.nack(this.subscriptionId, seq, delayMs);
  }

  close(): void {
    if (this.#closed) return;
    this.#broker.unsubscribe(this.subscriptionId);
    this.closed();
  }

  // A hand-written iterator rather than an async generator: one promise per message instead of several,
  // which shows in GC pauses at tens of thousands of messages per second.
  [Symbol.asyncIterator](): AsyncIterator<Delivery, undefined> {
    return {
      next: () => this.next().then((value) => (value === undefined ? { done: true, value: undefined } : { done: false, value })),
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  #take(): Delivery {
    const d = this.#queue[this.#head++]!;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.#paused && this.#queue.length - this.#head < this.#queueLimit / 2) {
      this.#paused = false;
      this.#broker.resume(this.subscriptionId);
    }
    return d;
  }
}
