// The EventClient interface for event systems, in TypeScript: EventClient (send one or many, subscribe),
// EventReceiver (receive, ack, nack) and EventMessage. Three backends implement it: the WebSocket client
// (ws-event-client.ts), plain HTTP (http-event-client.ts) and the in-process broker (local-event-client.ts);
// code written against these types runs on any. Failures come back as neverthrow Results of EventError.
import { err, errAsync, ok, okAsync, ResultAsync, type Result } from 'neverthrow';
import type { ErrorCode } from '../../errors.js';
import { InFlight } from '../../util/in-flight.js';
import { EventBusError } from '../errors.js';

/** The error kinds of the EventClient interface, plus the broker's code when the broker gave one. */
export type EventErrorKind = 'Connection' | 'PublishError' | 'ReceiveError' | 'AcknowledgeError' | 'RuntimeError';

export interface EventError {
  readonly kind: EventErrorKind;
  readonly message: string;
  /** The broker's code (PROTOCOL.md §5), e.g. BAD_TOPIC, UNAVAILABLE. */
  readonly code?: ErrorCode;
}

export const eventError = (kind: EventErrorKind, message: string, code?: ErrorCode): EventError =>
  code === undefined ? { kind, message } : { kind, message, code };

export interface EventConfig {
  /** The topic sent to; also the pattern subscribe() listens on (so it may hold `*` or `#`). */
  readonly topicName: string;
  readonly projectId?: string;
  /**
   * Backend options. All: `consumer` (durable consumer name; default derived from the topic), `from_seq`,
   * `max_in_flight` (over HTTP: messages fetched at a time). WebSocket and in-process: `group`. WebSocket and
   * HTTP: `url` (ws://…/ws, or the broker's http:// address), `token`.
   */
  readonly options?: Readonly<Record<string, string>>;
}

// The message's attributes travel in the metadata under this key, apart from what the broker and this
// module put there (timestamp, content_type, the encoding marker), so any attribute name round-trips.
const ATTRIBUTES = 'attributes';
// Marks a payload the broker holds as base64 because the bytes were not UTF-8 text.
const ENCODING = 'content_encoding';
const BASE64 = 'base64';
// Metadata keys that are never a sender's attribute, for messages published without the ATTRIBUTES object.
const BROKER_METADATA = new Set(['timestamp', 'content_type', ENCODING]);

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class EventMessage {
  readonly data: Uint8Array;
  readonly attributes: Readonly<Record<string, string>>;
  readonly messageId: string | undefined;
  readonly orderingKey: string | undefined;

  constructor(data: Uint8Array | string, attributes: Record<string, string> = {}, messageId?: string, orderingKey?: string) {
    this.data = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    this.attributes = attributes;
    this.messageId = messageId;
    this.orderingKey = orderingKey;
  }

  static new(data: Uint8Array | string): EventMessage {
    return new EventMessage(data);
  }

  withAttribute(key: string, value: string): EventMessage {
    return new EventMessage(this.data, { ...this.attributes, [key]: value }, this.messageId, this.orderingKey);
  }

  withMessageId(messageId: string): EventMessage {
    return new EventMessage(this.data, this.attributes, messageId, this.orderingKey);
  }

  withOrderingKey(orderingKey: string): EventMessage {
    return new EventMessage(this.data, this.attributes, this.messageId, orderingKey);
  }

  dataAsString(): Result<string, EventError> {
    try {
      return ok(utf8.decode(this.data));
    } catch {
      return err(eventError('RuntimeError', 'the message data is not UTF-8 text'));
    }
  }

  /** The payload and metadata the broker stores: text as it is, other bytes as base64 (and marked so). */
  toPublish(): { payload: string; metadata: Record<string, unknown> } {
    const text = this.dataAsString();
    const metadata: Record<string, unknown> = { [ATTRIBUTES]: { ...this.attributes } };
    if (text.isOk()) return { payload: text.value, metadata };
    return { payload: Buffer.from(this.data).toString('base64'), metadata: { ...metadata, [ENCODING]: BASE64 } };
  }

  /**
   * A delivered message as the EventClient interface sees it. A message from another kind of publisher (telnet, the client
   * SDK) has its metadata, less the broker's own keys, as attributes, and is known by its seq if it has no id.
   */
  static fromDelivery(d: { seq: number; messageId: string | null; payload: string; metadata: Record<string, unknown>; orderingKey: string | null }): EventMessage {
    const data = d.metadata[ENCODING] === BASE64 ? new Uint8Array(Buffer.from(d.payload, 'base64')) : d.payload;
    const nested = d.metadata[ATTRIBUTES];
    const own = typeof nested === 'object' && nested !== null && !Array.isArray(nested);
    const source = own ? (nested as Record<string, unknown>) : d.metadata;
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(source)) {
      if (!own && BROKER_METADATA.has(k)) continue;
      attributes[k] = typeof v === 'string' ? v : JSON.stringify(v);
    }
    return new EventMessage(data, attributes, d.messageId ?? `seq:${d.seq}`, d.orderingKey ?? undefined);
  }
}

/**
 * When sent messages are appended to the log (docs/scheduling.md): at `deliverAt` or `delayMs` from now, not
 * both. They are stored as schedules until then, and received with a new seq when due; a time not in the
 * future sends them at once. Absent: at once.
 */
export interface SendOptions {
  /** ms since the epoch, or a Date. */
  readonly deliverAt?: number | Date;
  /** Whole ms, 0 or more. */
  readonly delayMs?: number;
}

export interface EventClient {
  /**
   * Resolves with the message's id (the given one, or one the client made) once the broker stored it: in the
   * log, or with a time in `options`, as a schedule (the id is then the one it is received with when due).
   */
  sendMessage(message: EventMessage, options?: SendOptions): ResultAsync<string, EventError>;
  /** All stored or none; `options` applies to each of them. */
  sendMessages(messages: readonly EventMessage[], options?: SendOptions): ResultAsync<string[], EventError>;
  /** A receiver for the configured topic (pattern), as the configured durable consumer. */
  subscribe(): ResultAsync<EventReceiver, EventError>;
  isConnected(): boolean;
  topicName(): string;
  projectId(): string;
  close(): Promise<void>;
}

export interface EventReceiver {
  /** The next message; null when the receiver is closed or nothing came within `timeoutMs`. */
  receiveMessage(timeoutMs?: number): ResultAsync<EventMessage | null, EventError>;
  /** Up to `limit` messages: waits for the first (at most `timeoutMs`), then takes what is already there. */
  receiveMessages(limit: number, timeoutMs?: number): ResultAsync<EventMessage[], EventError>;
  acknowledge(messageId: string): ResultAsync<void, EventError>;
  acknowledgeMessages(messageIds: readonly string[]): ResultAsync<void, EventError>;
  /** Asks for the message again after `delayMs`; without it, after the consumer's backoff (none: at once). */
  nack(messageId: string, delayMs?: number): ResultAsync<void, EventError>;
  nackMessages(messageIds: readonly string[], delayMs?: number): ResultAsync<void, EventError>;
  isConnected(): boolean;
  topicName(): string;
  close(): Promise<void>;
}

/** The durable consumer name a receiver uses when the config names none: the topic, made a valid name. */
export function consumerName(config: EventConfig): string {
  return config.options?.['consumer'] ?? `${config.topicName.replace(/[^A-Za-z0-9_.:@-]/g, '_')}.receiver`;
}

/** Subscribe settings from the config's options, shared by both backends. */
export function receiverOptions(config: EventConfig): { consumer: string; group?: string; fromSeq?: number; maxInFlight?: number } {
  const o = config.options ?? {};
  const num = (key: string): number | undefined => (o[key] === undefined ? undefined : Number(o[key]));
  const out: { consumer: string; group?: string; fromSeq?: number; maxInFlight?: number } = { consumer: consumerName(config) };
  if (o['group'] !== undefined) out.group = o['group'];
  const fromSeq = num('from_seq');
  if (fromSeq !== undefined) out.fromSeq = fromSeq;
  const maxInFlight = num('max_in_flight');
  if (maxInFlight !== undefined) out.maxInFlight = maxInFlight;
  return out;
}

/**
 * What the backends that hold no connection of their own share (in process, plain HTTP): the config, whether the
 * client is closed, and sendMessage as a batch of one.
 */
export abstract class BaseClient implements EventClient {
  protected readonly config: EventConfig;
  #open = true;

  constructor(config: EventConfig) {
    this.config = config;
  }

  abstract sendMessages(messages: readonly EventMessage[], options?: SendOptions): ResultAsync<string[], EventError>;
  abstract subscribe(): ResultAsync<EventReceiver, EventError>;

  sendMessage(message: EventMessage, options?: SendOptions): ResultAsync<string, EventError> {
    return this.sendMessages([message], options).map(([id]) => id!);
  }

  /** The error of a call on a closed client, or undefined while it is open. */
  protected closedError(): EventError | undefined {
    return this.#open ? undefined : eventError('Connection', 'the client is closed');
  }

  isConnected(): boolean {
    return this.#open;
  }

  topicName(): string {
    return this.config.topicName;
  }

  projectId(): string {
    return this.config.projectId ?? '';
  }

  close(): Promise<void> {
    this.#open = false;
    return Promise.resolve();
  }
}

/** One received message and how its backend settles it: at once, or by a request that resolves once answered. */
export interface ReceivedHandle {
  readonly message: EventMessage;
  ack(): void | Promise<void>;
  nack(delayMs: number | undefined): void | Promise<void>;
}

/**
 * The receiver logic both backends share: what was received and not settled yet, by message id, and the
 * waiting-for-messages part. A backend supplies how to take the next delivery and how to ack or nack one.
 */
export abstract class BaseReceiver implements EventReceiver {
  readonly #topic: string;
  /**
   * Received and unsettled, by a receive counter: a ring whose slots are cleared as messages are settled
   * (util/in-flight.ts says why not a Map of the handles). `#keyOf` finds them by message id.
   */
  readonly #unsettled = new InFlight<ReceivedHandle>();
  readonly #keyOf = new Map<string, number>();
  #received = 0;

  constructor(topic: string) {
    this.#topic = topic;
  }

  /** The next delivery, or undefined when closed or after `timeoutMs` (0: only what is already there). */
  protected abstract nextDelivery(timeoutMs: number | undefined): Promise<ReceivedHandle | undefined>;
  abstract isConnected(): boolean;
  abstract close(): Promise<void>;

  topicName(): string {
    return this.#topic;
  }

  receiveMessage(timeoutMs?: number): ResultAsync<EventMessage | null, EventError> {
    return this.#receive(timeoutMs).map((h) => h?.message ?? null);
  }

  receiveMessages(limit: number, timeoutMs?: number): ResultAsync<EventMessage[], EventError> {
    if (limit < 1) return okAsync([]);
    return this.#receive(timeoutMs).andThen((first) => {
      const out: EventMessage[] = first === undefined ? [] : [first.message];
      const more = async (): Promise<EventMessage[]> => {
        while (out.length < limit) {
          const h = await this.nextDelivery(0);
          if (h === undefined) break;
          out.push(this.#hold(h).message);
        }
        return out;
      };
      return fromPromise(more(), 'ReceiveError');
    });
  }

  acknowledge(messageId: string): ResultAsync<void, EventError> {
    return this.#settle([messageId], (h) => h.ack());
  }

  acknowledgeMessages(messageIds: readonly string[]): ResultAsync<void, EventError> {
    return this.#settle(messageIds, (h) => h.ack());
  }

  nack(messageId: string, delayMs?: number): ResultAsync<void, EventError> {
    return this.#settle([messageId], (h) => h.nack(delayMs));
  }

  nackMessages(messageIds: readonly string[], delayMs?: number): ResultAsync<void, EventError> {
    return this.#settle(messageIds, (h) => h.nack(delayMs));
  }

  #receive(timeoutMs: number | undefined): ResultAsync<ReceivedHandle | undefined, EventError> {
    return fromPromise(
      this.nextDelivery(timeoutMs).then((h) => (h === undefined ? undefined : this.#hold(h))),
      'ReceiveError',
    );
  }

  #hold(h: ReceivedHandle): ReceivedHandle {
    const id = h.message.messageId!;
    const earlier = this.#keyOf.get(id);
    if (earlier !== undefined) this.#unsettled.delete(earlier); // received again: the newer delivery counts
    const key = ++this.#received;
    this.#unsettled.push(key, h);
    this.#keyOf.set(id, key);
    return h;
  }

  /** Every id must be one received and not settled; otherwise nothing is settled. */
  #settle(ids: readonly string[], act: (h: ReceivedHandle) => void | Promise<void>): ResultAsync<void, EventError> {
    const keys: number[] = [];
    for (const id of ids) {
      const key = this.#keyOf.get(id);
      if (key === undefined) return errAsync(eventError('AcknowledgeError', `no received, unsettled message ${id}`));
      keys.push(key);
    }
    const requests: Promise<void>[] = [];
    for (const [i, key] of keys.entries()) {
      const h = this.#unsettled.get(key);
      if (h === undefined) continue; // the same id twice in `ids`
      this.#unsettled.delete(key);
      this.#keyOf.delete(ids[i]!);
      const sent = act(h);
      if (sent !== undefined) requests.push(sent);
    }
    return requests.length === 0 ? okAsync(undefined) : fromPromise(Promise.all(requests).then(() => undefined), 'AcknowledgeError');
  }
}

/** A promise as a Result; a rejection becomes an EventError of `kind`, keeping a broker code if it had one. */
export function fromPromise<T>(p: Promise<T>, kind: EventErrorKind): ResultAsync<T, EventError> {
  return ResultAsync.fromPromise(p, (e) => {
    if (e instanceof EventBusError) return eventError(kind, e.message, e.code);
    return eventError(kind, e instanceof Error ? e.message : String(e));
  });
}
