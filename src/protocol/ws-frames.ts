// The WebSocket API's frames as the broker sees them (PROTOCOL.md §5): client frames parsed into typed
// values, server frames built as JSON text (their types, and the client's side, are in client-frames.ts).
// prk_eventbus's client frames (no `id`, `ack` by seq and message_id only) parse unchanged. Pure.
import { err, ok, type Result } from 'neverthrow';
import type { Published, PublishInput, PublishTime, Scheduled, StoredMessage } from '../core/types.js';
import { brokerError, type BrokerError } from '../errors.js';
import { storedPayload } from './payload.js';
import { checkBackoffMs } from './redelivery-backoff.js';

/** A request's id, echoed in the reply; any string (numbers are echoed as they came). */
export type FrameId = string | number | undefined;

export interface SubscribeRequest {
  readonly pattern: string | readonly string[];
  readonly startingSeq?: number | undefined;
  readonly startingTime?: number | undefined;
  readonly consumer?: string | undefined;
  readonly group?: string | undefined;
  readonly maxInFlight?: number | undefined;
  readonly filter?: unknown;
  /** The durable consumer's redelivery backoff to set (PROTOCOL.md §11); absent or null: its own is kept. */
  readonly backoffMs?: readonly number[] | undefined;
}

export type ClientFrame =
  | { readonly type: 'publish'; readonly id: FrameId; readonly message: PublishInput; readonly time: PublishTime | undefined }
  /** `times` when some message of the batch has one (PROTOCOL.md §11). */
  | { readonly type: 'publish_batch'; readonly id: FrameId; readonly messages: PublishInput[]; readonly times: PublishTime[] | undefined }
  | { readonly type: 'subscribe'; readonly id: FrameId; readonly request: SubscribeRequest }
  | { readonly type: 'ack'; readonly id: FrameId; readonly subscription: string | undefined; readonly seqs: readonly number[] }
  | { readonly type: 'nack'; readonly id: FrameId; readonly subscription: string | undefined; readonly seq: number; readonly delayMs: number | undefined }
  | { readonly type: 'unsubscribe'; readonly id: FrameId; readonly subscription: string }
  | { readonly type: 'ping'; readonly id: FrameId };

export type FrameError = BrokerError<'BAD_FRAME'>;

/** The parse failure, with the id of the frame when one could be read (so the error can carry it). */
export interface BadFrame {
  readonly id: FrameId;
  readonly error: FrameError;
}

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads a frame's fields and keeps the first problem instead of throwing: a field that fails its check
 * reads as undefined (typed as present where required), so a frame built while `problem` is set is thrown
 * away unread. Reading on after a problem costs nothing and keeps the happy path free of exceptions.
 */
class Fields {
  problem: string | undefined;

  fail(reason: string): void {
    this.problem ??= reason;
  }

  optional<T>(o: Obj, key: string, check: (v: unknown) => v is T, what: string): T | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (check(v)) return v;
    this.fail(`"${key}" must be ${what}`);
    return undefined;
  }

  required<T>(o: Obj, key: string, check: (v: unknown) => v is T, what: string): T {
    const v = this.optional(o, key, check, what);
    if (v === undefined) this.fail(`"${key}" is missing`);
    return v as T;
  }
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isWhole = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isPositive = (v: unknown): v is number => isWhole(v) && v > 0;
const isSeqs = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every(isWhole);
const isPatterns = (v: unknown): v is string | string[] => isString(v) || (Array.isArray(v) && v.every(isString));
const isNumber = (v: unknown): v is number => typeof v === 'number';
const isTimeValue = (v: unknown): v is number | string => typeof v === 'number' || typeof v === 'string';

/** A message's `deliver_at` / `delay_ms` (PROTOCOL.md §11), undefined when it has neither; the broker checks the values. */
function publishTime(f: Fields, data: unknown): PublishTime | undefined {
  if (!isObject(data) || (data['deliver_at'] === undefined && data['delay_ms'] === undefined)) return undefined;
  return { deliverAt: f.optional(data, 'deliver_at', isTimeValue, 'ms since the epoch or an ISO 8601 time'), delayMs: f.optional(data, 'delay_ms', isNumber, 'a number of ms') };
}

/** `{topic, payload, message_id?, metadata?, ordering_key?}`, with the frame's `ttl` when it has none. */
function publishInput(f: Fields, data: unknown, frameTtl: number | undefined, where: string): PublishInput | undefined {
  if (!isObject(data)) {
    f.fail(`"${where}" must be an object with topic and payload`);
    return undefined;
  }
  const topic = f.required(data, 'topic', isString, 'a string');
  if (!('payload' in data)) {
    f.fail(`"payload" is missing`);
    return undefined;
  }
  const { payload, metadata } = storedPayload(data['payload'], f.optional(data, 'metadata', isObject, 'an object'));
  return {
    topic,
    payload,
    messageId: f.optional(data, 'message_id', isString, 'a string'),
    ttlSeconds: f.optional(data, 'ttl', isWhole, 'a whole number of seconds') ?? frameTtl,
    orderingKey: f.optional(data, 'ordering_key', isString, 'a string'),
    metadata,
  };
}

/** `backoff_ms` of a subscribe: null reads as absent, as every optional field does. */
function backoffOf(f: Fields, value: unknown): readonly number[] | undefined {
  if (value === undefined || value === null) return undefined;
  const checked = checkBackoffMs(value);
  if (checked.isErr()) f.fail(checked.error.message);
  return checked.unwrapOr(undefined) ?? undefined;
}

function frameOf(f: Fields, o: Obj, id: FrameId): ClientFrame | undefined {
  const type = o['type'];
  switch (type) {
    case 'publish': {
      const ttl = f.optional(o, 'ttl', isWhole, 'a whole number of seconds');
      const message = publishInput(f, o['data'], ttl, 'data');
      return message && { type, id, message, time: publishTime(f, o['data']) };
    }
    case 'publish_batch': {
      const ttl = f.optional(o, 'ttl', isWhole, 'a whole number of seconds');
      const list = o['messages'];
      if (!Array.isArray(list) || list.length === 0) {
        f.fail('"messages" must be a non-empty array');
        return undefined;
      }
      const messages: PublishInput[] = [];
      const times = list.map((m) => publishTime(f, m));
      for (const [i, m] of list.entries()) {
        const message = publishInput(f, m, ttl, `messages[${i}]`);
        if (message === undefined) return undefined;
        messages.push(message);
      }
      return { type, id, messages, times: times.some((t) => t !== undefined) ? times.map((t) => t ?? {}) : undefined };
    }
    case 'subscribe':
      return {
        type,
        id,
        request: {
          pattern: f.required(o, 'pattern', isPatterns, 'a pattern or an array of patterns'),
          startingSeq: f.optional(o, 'starting_seq', isWhole, 'a whole number, 0 or more'),
          startingTime: f.optional(o, 'starting_time', isWhole, 'a whole number of ms since the epoch'),
          consumer: f.optional(o, 'consumer', isString, 'a string'),
          group: f.optional(o, 'group', isString, 'a string'),
          maxInFlight: f.optional(o, 'max_in_flight', isPositive, 'a whole number from 1'),
          filter: o['filter'] ?? undefined,
          backoffMs: backoffOf(f, o['backoff_ms']),
        },
      };
    case 'ack': {
      const subscription = f.optional(o, 'subscription', isString, 'a string');
      // Many seqs in one frame (a page of a replay acked at once), or the one seq of prk_eventbus's form.
      const seqs = f.optional(o, 'seqs', isSeqs, 'a non-empty array of seqs');
      if (seqs !== undefined && o['seq'] !== undefined) {
        f.fail('give "seq" or "seqs", not both');
        return undefined;
      }
      return { type, id, subscription, seqs: seqs ?? [f.required(o, 'seq', isWhole, 'a seq')] };
    }
    case 'nack':
      return {
        type,
        id,
        subscription: f.optional(o, 'subscription', isString, 'a string'),
        seq: f.required(o, 'seq', isWhole, 'a seq'),
        // None: the consumer's backoff decides (PROTOCOL.md §11).
        delayMs: f.optional(o, 'delay_ms', isWhole, 'a whole number of ms'),
      };
    case 'unsubscribe':
      return { type, id, subscription: f.required(o, 'subscription', isString, 'a string') };
    case 'ping':
      return { type, id };
    default:
      f.fail(
        type === undefined ? '"type" is missing' : `unknown type ${JSON.stringify(type).slice(0, 64)}; expected publish, publish_batch, subscribe, ack, nack, unsubscribe or ping`,
      );
      return undefined;
  }
}

// The ack of one delivery as clients send it, one per message received (the TypeScript client's ackFrame, and
// `JSON.stringify` of those three keys in that order): read without JSON.parse and its objects. The
// subscription has no escape or control character, the seq no leading zero, so the text is valid JSON and
// the match means what JSON.parse would read; anything else takes the general path.
// eslint-disable-next-line no-control-regex -- a JSON string holds none: the quick form refuses what JSON.parse does
const PLAIN_ACK = /^\{"type":"ack","subscription":"([^"\\\u0000-\u001f]*)","seq":(0|[1-9]\d{0,15})\}$/;

export function parseClientFrame(text: string): Result<ClientFrame, BadFrame> {
  const plainAck = text.length < 256 ? PLAIN_ACK.exec(text) : null;
  if (plainAck !== null) {
    const seq = Number(plainAck[2]);
    if (Number.isSafeInteger(seq)) return ok({ type: 'ack', id: undefined, subscription: plainAck[1]!, seqs: [seq] });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return err({ id: undefined, error: brokerError('BAD_FRAME', `invalid JSON: ${(e as Error).message}`) });
  }
  if (!isObject(value)) return err({ id: undefined, error: brokerError('BAD_FRAME', 'a frame is a JSON object with a "type"') });
  const rawId = value['id'];
  const id: FrameId = typeof rawId === 'string' || typeof rawId === 'number' ? rawId : undefined;
  const fields = new Fields();
  const frame = frameOf(fields, value, id);
  if (fields.problem !== undefined || frame === undefined) return err({ id, error: brokerError('BAD_FRAME', fields.problem ?? 'unreadable frame') });
  return ok(frame);
}

// Server frames. Built by hand where they are hot (one per publish and per delivery): the stored metadata is
// already JSON text and goes in as it is.

const idPart = (id: FrameId): string => (id === undefined ? '' : `,"id":${JSON.stringify(id)}`);

export function publishedFrame(id: FrameId, p: Published): string {
  return `{"type":"published"${idPart(id)},"seq":${p.seq},"message_id":${JSON.stringify(p.messageId)}${p.duplicate ? ',"duplicate":true' : ''}}`;
}

export function scheduledFrame(id: FrameId, s: Scheduled): string {
  return JSON.stringify({ type: 'scheduled', id, schedule_id: s.scheduleId, deliver_at: s.deliverAt, message_id: s.messageId, ...(s.duplicate ? { duplicate: true } : {}) });
}

/** A batch's answer with delayed messages in it: each one's seq or schedule id, null where the other applies. */
export function publishedLaterFrame(id: FrameId, answers: readonly (Published | Scheduled)[]): string {
  return JSON.stringify({
    type: 'published',
    id,
    seqs: answers.map((a) => ('seq' in a ? a.seq : null)),
    message_ids: answers.map((a) => a.messageId),
    schedule_ids: answers.map((a) => ('scheduleId' in a ? a.scheduleId : null)),
  });
}

export function publishedBatchFrame(id: FrameId, published: readonly Published[]): string {
  return JSON.stringify({
    type: 'published',
    id,
    seqs: published.map((p) => p.seq),
    message_ids: published.map((p) => p.messageId),
  });
}

export const subscribedFrame = (id: FrameId, subscription: string, headSeq: number): string =>
  JSON.stringify({ type: 'subscribed', id, subscription, head_seq: headSeq });

/** The answer to unsubscribe, or (no id, with a reason) the broker ending a subscription itself. */
export const unsubscribedFrame = (id: FrameId, subscription: string, reason?: string): string =>
  JSON.stringify({ type: 'unsubscribed', id, subscription, reason });

/** The answer to ping: the connection is accepted and the broker is reading its frames. */
export const pongFrame = (id: FrameId): string => JSON.stringify({ type: 'pong', id });

export const errorFrame = (id: FrameId, e: BrokerError): string =>
  JSON.stringify({ type: 'error', id, code: e.code, message: e.message });

// What a message frame says of the message itself, kept for the last message framed: the dispatcher offers a
// new message to every subscription it matches in turn, so a message fanned out to many subscriptions is
// escaped once, not once per subscription (a cache of one: a map of many would cost the GC more than it saves).
let lastMessage: StoredMessage | undefined;
let lastBody = '';

function messageBody(m: StoredMessage): string {
  if (m !== lastMessage) {
    lastBody =
      `"seq":${m.seq},"message_id":${JSON.stringify(m.messageId)},"topic":${JSON.stringify(m.topic)},"payload":${JSON.stringify(m.payload)},` +
      `"metadata":${m.metadata},${m.orderingKey === null ? '' : `"ordering_key":${JSON.stringify(m.orderingKey)},`}`;
    lastMessage = m;
  }
  return lastBody;
}

/**
 * A delivery as a `message` frame: to a WebSocket subscriber (`subscription` is its subscription id) and to
 * a ws:// push consumer (the consumer's id).
 */
export function messageFrame(subscription: string, m: StoredMessage, delivery: number): string {
  return `{"type":"message","subscription":${JSON.stringify(subscription)},${messageBody(m)}"delivery":${delivery}}`;
}
