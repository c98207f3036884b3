// One subscription of the client: a bounded queue of received messages read as an async iterator, and what
// it takes to resume the subscription on a new connection without a gap.
import { ackFrame, ackManyFrame, nackFrame, subscribeFrame, type MessageFrame } from '../protocol/client-frames.js';
import { AsyncQueue } from '../util/async-queue.js';
import type { EventBusError } from './errors.js';
import { clientTracing, type ProcessSpan } from './tracing.js';

// Enough to cover what a broker can send again after losing acks: the in-flight window plus the acks of a
// few progress flushes.
const SEEN_LIMIT = 16_384;

export interface SubscribeOptions {
  /** Replay from this seq, then continue live. */
  readonly fromSeq?: number;
  /** Replay from this time (ms since the epoch), then continue live. */
  readonly fromTime?: number;
  /** Durable consumer name: the broker keeps its acked position; every message must be acked. */
  readonly consumer?: string;
  /** Subscriptions of one consumer and group split its messages. */
  readonly group?: string;
  /** Unacked deliveries the broker allows this subscription (durable consumers). */
  readonly maxInFlight?: number;
  /** Content filter (README, "Filters"). */
  readonly filter?: unknown;
  /**
   * Durable consumers: the waits (ms) before the 1st, 2nd, … redelivery of a message, after an ack timeout or a
   * `nack()` without a delay; the last repeats. Set on the consumer and kept by the broker; absent: the
   * consumer's own is left as it is (none: redelivered at once). See docs/delivery.md, "Redelivery backoff".
   */
  readonly backoffMs?: readonly number[];
}

/** The consumer spans of messages received while tracing (tracing.ts), ended by their ack or nack. */
const spans = new WeakMap<ReceivedMessage, ProcessSpan>();

/**
 * A received message. `delivery > 1` means it was delivered before (not acked in time, nacked, or resumed).
 *
 * A class, not an object literal: callers hold it until they ack, and V8 may pretenure a literal's allocation
 * site; a dead old-generation object keeps the young strings it points to alive until a full GC. `ack`, `nack` and `json` are bound functions, so they may be passed around alone.
 */
export class ReceivedMessage {
  readonly seq: number;
  readonly messageId: string | null;
  readonly topic: string;
  readonly payload: string;
  readonly metadata: MessageFrame['metadata'];
  readonly orderingKey: string | null;
  /** The broker's id of the subscription that received it, on the connection it came on. */
  readonly subscriptionId: string;
  /** Marks it processed (durable consumers); a no-op for other subscriptions, which are acked on send. */
  readonly ack: () => void;
  /** Asks for it again after `delayMs`; without it, after the consumer's backoff (none: at once). */
  readonly nack: (delayMs?: number) => void;
  /** The payload parsed as JSON. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller's word for the payload's shape, as with JSON.parse
  readonly json: <T = unknown>() => T;
  /**
   * Runs `work` inside this message's consumer span (with @opentelemetry/api and a tracer provider: docs/observability.md),
   * so that the spans it makes are children of it; without tracing, just runs it.
   */
  readonly withTrace: <T>(work: () => T) => T;

  /** Made by the subscription that received `frame`; `settle` sends an ack or nack frame. */
  constructor(
    frame: MessageFrame,
    readonly delivery: number,
    settle: (serverId: string, frame: string) => void,
  ) {
    const { seq, subscription } = frame;
    this.seq = seq;
    this.messageId = frame.message_id;
    this.topic = frame.topic;
    this.payload = frame.payload;
    this.metadata = frame.metadata;
    this.orderingKey = frame.ordering_key ?? null;
    this.subscriptionId = subscription;
    this.ack = () => {
      spans.get(this)?.end();
      settle(subscription, ackFrame(subscription, seq));
    };
    this.nack = (delayMs?: number) => {
      spans.get(this)?.end(true);
      settle(subscription, nackFrame(subscription, seq, delayMs));
    };
    this.withTrace = (work) => {
      const span = spans.get(this);
      return span === undefined ? work() : span.run(work);
    };
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- see the field
    this.json = <T>() => JSON.parse(this.payload) as T;
  }
}

/** What the subscription needs from the client. */
export interface SubscriptionHost {
  send(frame: string): boolean;
  unsubscribe(subscription: Subscription): Promise<void>;
  /** The queues are full: stop reading from the socket until `release()`. */
  hold(): void;
  release(): void;
}

export class Subscription implements AsyncIterable<ReceivedMessage> {
  readonly pattern: string | readonly string[];
  readonly options: SubscribeOptions;
  /** The broker's id for it on the current connection; changes when it is resumed after a reconnect. */
  serverId = '';
  /** The broker has answered its subscribe at least once. */
  wasSubscribed = false;
  readonly #host: SubscriptionHost;
  /** Frames received and not read yet; turned into messages as they are read (that is when they count as seen). */
  readonly #queue: AsyncQueue<MessageFrame>;
  /** Seqs a durable subscription handed to the caller lately (a ring of SEEN_LIMIT), to mark repeats. */
  readonly #seen = new Set<number>();
  readonly #seenOrder: number[] = [];
  #seenNext = 0;
  /** Where a non-durable subscription resumes: after the last message received. */
  #nextSeq: number | undefined;
  /** Not durable (no ack expected): the span of the message read last, ended when the next one is read. */
  #lastSpan: ProcessSpan | undefined;

  constructor(pattern: string | readonly string[], options: SubscribeOptions, host: SubscriptionHost, queueLimit: number) {
    this.pattern = pattern;
    this.options = options;
    this.#host = host;
    this.#queue = new AsyncQueue(queueLimit, { onFull: () => host.hold(), onRoom: () => host.release() });
  }

  get durable(): boolean {
    return this.options.consumer !== undefined;
  }

  /** The subscribe frame for the first connection, or to resume on a later one. */
  subscribeFrame(id: string, resuming: boolean): string {
    const o = this.options;
    let start: { starting_seq?: number | undefined; starting_time?: number | undefined } = { starting_seq: o.fromSeq, starting_time: o.fromTime };
    // A durable consumer resumes after its last ack on its own; anything else resumes after what it received.
    if (resuming && this.durable) start = {};
    else if (resuming && this.#nextSeq !== undefined) start = { starting_seq: this.#nextSeq };
    return subscribeFrame(id, { pattern: this.pattern, ...start, consumer: o.consumer, group: o.group, max_in_flight: o.maxInFlight, filter: o.filter, backoff_ms: o.backoffMs });
  }

  /** The broker answered subscribe on a (new) connection. */
  subscribed(serverId: string, headSeq: number, resuming: boolean): void {
    this.serverId = serverId;
    this.wasSubscribed = true;
    if (!resuming && this.options.fromSeq === undefined && this.options.fromTime === undefined) this.#nextSeq = headSeq + 1;
    else if (!resuming && this.options.fromSeq !== undefined) this.#nextSeq = Math.max(1, this.options.fromSeq);
  }

  /** The connection dropped. A durable consumer's undelivered queue goes: the broker sends those again. */
  disconnected(): void {
    this.serverId = '';
    if (this.durable) this.#queue.clear();
  }

  receive(frame: MessageFrame): void {
    if (this.#queue.ended) return;
    if (this.#nextSeq === undefined || frame.seq >= this.#nextSeq) this.#nextSeq = frame.seq + 1;
    this.#queue.push(frame);
  }

  /** The message as the caller gets it; this is when it counts as seen. */
  #toMessage(frame: MessageFrame): ReceivedMessage {
    let delivery = frame.delivery;
    if (this.durable) {
      // The broker may send again what it never heard acked (its acks lost in a restart or a crash) as a
      // first delivery; the caller has seen it, so it is a redelivery.
      if (delivery === 1 && this.#seen.has(frame.seq)) delivery = 2;
      this.#see(frame.seq);
    }
    const span = clientTracing()?.process(frame, delivery, this.options.consumer);
    if (span === undefined) return new ReceivedMessage(frame, delivery, this.#settle);
    if (!this.durable) {
      this.#lastSpan?.end();
      this.#lastSpan = span;
    }
    const message = new ReceivedMessage(frame, delivery, this.#settle);
    spans.set(message, span);
    return message;
  }

  // An ack for a delivery of an earlier connection is dropped: the broker redelivers it (delivery > 1).
  readonly #settle = (serverId: string, frame: string): void => {
    if (serverId === this.serverId) this.#host.send(frame);
  };

  /**
   * Acks many messages in one frame, as a reader of a replay acks a page at once. Like `ack()`, a message
   * received on an earlier connection is left out: the broker sends it again.
   */
  ackAll(messages: Iterable<ReceivedMessage>): void {
    const seqs: number[] = [];
    for (const m of messages) {
      spans.get(m)?.end();
      if (m.subscriptionId === this.serverId) seqs.push(m.seq);
    }
    if (seqs.length > 0) this.#host.send(ackManyFrame(this.serverId, seqs));
  }

  #see(seq: number): void {
    if (this.#seen.has(seq)) return;
    this.#seen.add(seq);
    const evicted = this.#seenOrder[this.#seenNext];
    if (evicted !== undefined) this.#seen.delete(evicted);
    this.#seenOrder[this.#seenNext] = seq;
    this.#seenNext = (this.#seenNext + 1) % SEEN_LIMIT;
  }

  /** Ends the iteration: cleanly (null) or with an error thrown to the reader. */
  end(error: EventBusError | null): void {
    this.#lastSpan?.end();
    this.#queue.end(error);
  }

  /** Unsubscribes; the iteration ends after the messages already received. */
  close(): Promise<void> {
    return this.#host.unsubscribe(this);
  }

  /** The next message; undefined once the subscription has ended (or after `timeoutMs`). */
  async next(timeoutMs?: number): Promise<ReceivedMessage | undefined> {
    const frame = await this.#queue.next(timeoutMs);
    return frame === undefined ? undefined : this.#toMessage(frame);
  }

  [Symbol.asyncIterator](): AsyncIterator<ReceivedMessage, undefined> {
    return {
      next: () => this.next().then((value) => (value === undefined ? { done: true, value: undefined } : { done: false, value })),
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }
}
