// The values that cross the broker API: what a publisher hands in, what the log stores, and what a
// subscriber receives. Front-ends map their wire formats to and from these; nothing here knows a socket.

/** What a publisher hands to the broker. */
export interface PublishInput {
  readonly topic: string;
  /** Stored and delivered verbatim. */
  readonly payload: string;
  /** Deduplication key: a repeated id stores nothing and answers with the original seq. */
  readonly messageId?: string | undefined;
  /** Seconds the message is kept; 0 = until retention removes it; absent = the configured default. */
  readonly ttlSeconds?: number | undefined;
  /** The publisher's attributes plus optional `content_type`; the broker adds `timestamp`. */
  readonly metadata?: Readonly<Record<string, unknown>> | undefined;
  /** Messages with the same key go to the same queue-group member, in order. */
  readonly orderingKey?: string | undefined;
}

/** The answer to a publish once the message is durable. */
export interface Published {
  readonly seq: number;
  readonly messageId: string | null;
  /** True when `messageId` was already in the log: nothing was stored and `seq` is the original's. */
  readonly duplicate: boolean;
}

/** When a publish is to be appended: at a time (ms since the epoch, or ISO 8601 text), or after a delay. */
export interface PublishTime {
  readonly deliverAt?: number | string | undefined;
  readonly delayMs?: number | undefined;
}

/** The answer to a publish for later, once its schedule is durable. */
export interface Scheduled {
  readonly scheduleId: string;
  readonly deliverAt: number;
  readonly messageId: string | null;
  /** A schedule with this message_id was waiting already: nothing new is stored, and this is that one. */
  readonly duplicate: boolean;
}

/** One row of the log, as read back. */
export interface StoredMessage {
  readonly seq: number;
  readonly messageId: string | null;
  readonly topic: string;
  readonly payload: string;
  /** The stored JSON text: `{"timestamp":…,"content_type":…,…attributes}`. Parse with messageMetadata(). */
  readonly metadata: string;
  readonly ttlSeconds: number;
  readonly orderingKey: string | null;
  /** Commit time, ms since the epoch; never decreases along seq. */
  readonly createdAt: number;
  /** Its status (PROTOCOL.md §6) as read from the log; a message just committed is `pending`. */
  readonly status?: MessageStatus;
}

export type MessageStatus = 'pending' | 'processed' | 'dead';

/** Where a subscription starts when it has no stored position to resume from. */
export type StartAt =
  | { readonly kind: 'head' }
  | { readonly kind: 'seq'; readonly seq: number }
  | { readonly kind: 'time'; readonly timeMs: number };

/** One message handed to a subscriber; a class, not a literal, as LogMessage says why. */
export class Delivery {
  constructor(
    readonly subscriptionId: string,
    readonly message: StoredMessage,
    /** Attempts so far, counting this one, from 1. */
    readonly delivery: number,
  ) {}
}

/**
 * How the core hands deliveries to a front-end (a WebSocket session, a push client, an in-process
 * iterator). The core owns this interface; adapters implement it.
 */
export interface Sink {
  /**
   * Takes one delivery. Returns false when the front-end cannot take more right now (a socket's buffer
   * is full); the core then sends nothing more until the subscription's `resume()` is called.
   */
  deliver(delivery: Delivery): boolean;
  /** The subscription ended from the broker's side (broker stopping, consumer unregistered). */
  closed?(reason: string): void;
  /**
   * It shows each message's status (an SSE event, a pull's answer): a catch-up reads the status column for it.
   * Other sinks spare every message read that column.
   */
  readonly showsStatus?: boolean;
}

/** One failed push attempt to a registered consumer, as the delivery_failures table keeps it. */
export interface DeliveryFailure {
  readonly consumer: string;
  readonly address: string;
  /** Null for a failed connection attempt, which carries no message. */
  readonly seq: number | null;
  readonly attempt: number;
  readonly failedAt: number;
  readonly latencyMs: number;
  readonly error: string;
  readonly httpStatus: number | null;
}
