// An in-process subscriber: a Sink with a bounded queue, read as an async iterator. What embedders, the
// benchmark and the tests use; the queue bound is the backpressure (the broker pauses when it is full).
import type { ResultAsync } from 'neverthrow';
import type { Broker, SubscribeError, SubscribeOptions } from '../core/broker.js';
import { AsyncQueue } from '../util/async-queue.js';
import type { Delivery, Sink } from '../core/types.js';

const DEFAULT_QUEUE = 1024;

export class LocalSubscriber implements Sink, AsyncIterable<Delivery> {
  readonly #broker: Broker;
  readonly #queue: AsyncQueue<Delivery>;
  /** Set once subscribed. */
  subscriptionId = '';
  headSeq = 0;

  private constructor(broker: Broker, queueLimit: number) {
    this.#broker = broker;
    // Full: deliver() says so and the broker holds the rest in the log; half empty again: resume.
    this.#queue = new AsyncQueue(queueLimit, { onFull: () => {}, onRoom: () => this.#broker.resume(this.subscriptionId) });
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
    return this.#queue.push(delivery);
  }

  closed(): void {
    this.#queue.end();
  }

  /** The next delivery, or undefined when closed or after `timeoutMs`. */
  next(timeoutMs?: number): Promise<Delivery | undefined> {
    return this.#queue.next(timeoutMs);
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

  // After close() the subscription is gone and its messages have gone back to the broker unacked: an ack or
  // nack then has nothing left to settle.
  ack(seq: number): void {
    this.#broker.ack(this.subscriptionId, seq).unwrapOr(undefined);
  }

  /** Sent again after `delayMs`; without it, after the consumer's backoff (none: at once). */
  nack(seq: number, delayMs?: number): void {
    this.#broker.nack(this.subscriptionId, seq, delayMs).unwrapOr(undefined);
  }

  close(): void {
    if (this.#queue.ended) return;
    this.#broker.unsubscribe(this.subscriptionId).unwrapOr(undefined); // ended by the broker already
    this.closed();
  }

  // A hand-written iterator rather than an async generator: one promise per queued message instead of
  // several, which shows in GC pauses at tens of thousands of messages per second.
  [Symbol.asyncIterator](): AsyncIterator<Delivery, undefined> {
    return {
      next: () => {
        const queued = this.#queue.poll();
        if (queued !== undefined) return Promise.resolve({ done: false, value: queued });
        return this.next().then((value) => (value === undefined ? { done: true, value: undefined } : { done: false, value }));
      },
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}
