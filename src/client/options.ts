// What a caller can set on the client and on each publish, and the defaults of the connection's settings.

export interface ConnectOptions {
  /** First wait before a reconnect attempt; doubles per failed attempt up to `maxReconnectIntervalMs`. */
  readonly reconnectIntervalMs?: number;
  readonly maxReconnectIntervalMs?: number;
  /** Failed attempts in a row before the client gives up (pending calls and subscriptions then fail). */
  readonly maxRetries?: number;
  /** EVENTBUS_TOKEN of the broker, sent as `Authorization: Bearer`. */
  readonly token?: string;
  /**
   * For a `wss://` URL: the PEM certificate(s) of the CA that signed the broker's certificate (or the broker's
   * self-signed certificate itself), trusted instead of Node's bundled CAs. A certificate the client does not
   * trust fails connect() at once with UNAVAILABLE, without retrying.
   */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** How long a publish or subscribe may wait for its answer, connected or not. */
  readonly requestTimeoutMs?: number;
  /** Publishes that may wait for a connection; one more fails at once. */
  readonly maxPendingPublishes?: number;
  /** Received messages queued per subscription before the client stops reading from the socket. */
  readonly queueLimit?: number;
  /** A ping this often; a connection that misses a pong is dropped and re-made. 0 = no pings. */
  readonly pingIntervalMs?: number;
  readonly onStatus?: (status: ClientStatus) => void;
}

export type ClientStatus = 'connected' | 'disconnected' | 'reconnected' | 'closed';

export interface PublishOptions {
  readonly messageId?: string;
  readonly metadata?: Record<string, unknown>;
  readonly orderingKey?: string;
  /** Seconds the broker keeps the message; 0 = until retention removes it. */
  readonly ttl?: number;
}

export interface BatchMessage extends Omit<PublishOptions, 'ttl'> {
  readonly topic: string;
  readonly payload: unknown;
}

/**
 * When a message is appended to the log, for a publish made now (docs/scheduling.md): at `deliverAt` or
 * `delayMs` from now, not both. The broker stores it as a schedule and answers once that is durable; a time
 * not in the future publishes at once.
 */
export interface PublishTime {
  /** ms since the epoch, a Date, or an ISO 8601 string such as `2026-12-01T22:00:00Z`. */
  readonly deliverAt?: number | Date | string;
  /** Whole ms, 0 or more. */
  readonly delayMs?: number;
}

/** Options that say no time: such a publish resolves with its seq alone. */
export interface PublishNow {
  readonly deliverAt?: undefined;
  readonly delayMs?: undefined;
}

/** A message stored for later: appended to the log at `deliverAt`, with a new seq then. */
export interface Scheduled {
  /** Cancels it with DELETE /api/schedules/<id> (or `eventbus schedule rm <id>`) while it waits. */
  readonly scheduleId: string;
  /** ms since the epoch. */
  readonly deliverAt: number;
  readonly messageId: string | null;
  /** The same message id was already waiting: nothing new was stored, and this is that schedule. */
  readonly duplicate: boolean;
}

/** One message of a batch with times in it: its seq when appended at once, or its schedule id when stored for later. */
export type BatchEntry = number | { readonly scheduleId: string; readonly messageId: string | null };

export const CONNECT_DEFAULTS = {
  reconnectIntervalMs: 250,
  maxReconnectIntervalMs: 5000,
  maxRetries: 20,
  requestTimeoutMs: 30_000,
  maxPendingPublishes: 10_000,
  queueLimit: 10_000,
  pingIntervalMs: 15_000,
};
