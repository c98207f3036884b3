// The WebSocket API's frames as a client sees them (PROTOCOL.md §5): the frames it sends, built here, and
// the broker's frames, recognised here. The TypeScript client's one way to the wire; the broker's side is in
// ws-frames.ts. Pure and dependency-free: the client package loads it at run time.

/** A request's id, echoed in the reply. */
export type RequestId = string;

/** The `data` of a publish, or one entry of a batch, as it goes on the wire. */
export interface WireMessage {
  readonly topic: string;
  readonly payload: unknown;
  readonly message_id?: string | undefined;
  readonly metadata?: Readonly<Record<string, unknown>> | undefined;
  readonly ordering_key?: string | undefined;
  /** PROTOCOL.md §11: appended to the log at this time (ms since the epoch or ISO 8601), not before. */
  readonly deliver_at?: number | string | undefined;
  readonly delay_ms?: number | undefined;
}

export interface WireSubscribe {
  readonly pattern: string | readonly string[];
  readonly starting_seq?: number | undefined;
  readonly starting_time?: number | undefined;
  readonly consumer?: string | undefined;
  readonly group?: string | undefined;
  readonly max_in_flight?: number | undefined;
  readonly filter?: unknown;
  readonly backoff_ms?: readonly number[] | undefined;
}

// Fields that are undefined are left out by JSON.stringify, as the broker reads an absent field.
export const publishFrame = (id: RequestId, data: WireMessage, ttl?: number): string => JSON.stringify({ type: 'publish', id, data, ttl });

export const publishBatchFrame = (id: RequestId, messages: readonly WireMessage[], ttl?: number): string =>
  JSON.stringify({ type: 'publish_batch', id, messages, ttl });

export const subscribeFrame = (id: RequestId, request: WireSubscribe): string => JSON.stringify({ type: 'subscribe', id, ...request });

export const unsubscribeFrame = (id: RequestId | undefined, subscription: string): string =>
  JSON.stringify({ type: 'unsubscribe', id, subscription });

export const pingFrame = (id: RequestId): string => JSON.stringify({ type: 'ping', id });

/** Built by hand: one per message received. */
export const ackFrame = (subscription: string, seq: number): string => `{"type":"ack","subscription":${JSON.stringify(subscription)},"seq":${seq}}`;

export const ackManyFrame = (subscription: string, seqs: readonly number[]): string => `{"type":"ack","subscription":${JSON.stringify(subscription)},"seqs":[${seqs.join(',')}]}`;

/** Without `delayMs`, the broker waits the consumer's backoff (PROTOCOL.md §11). */
export const nackFrame = (subscription: string, seq: number, delayMs?: number): string =>
  JSON.stringify({ type: 'nack', subscription, seq, delay_ms: delayMs });

/** A delivered message, as the broker frames it (also what a ws:// push consumer receives). */
export interface MessageFrame {
  type: 'message';
  subscription: string;
  seq: number;
  message_id: string | null;
  topic: string;
  payload: string;
  metadata: { timestamp: number; content_type: string; [attribute: string]: unknown };
  ordering_key?: string;
  delivery: number;
}

/**
 * The broker's frames. A batch with delayed messages in it answers `schedule_ids` beside `seqs`, each null
 * where the other applies (PROTOCOL.md §11).
 */
export type ServerFrame =
  | { type: 'published'; id?: RequestId; seq: number; message_id: string | null; duplicate?: boolean }
  | { type: 'published'; id?: RequestId; seqs: (number | null)[]; message_ids: (string | null)[]; schedule_ids?: (string | null)[] }
  | { type: 'scheduled'; id?: RequestId; schedule_id: string; deliver_at: number; message_id: string | null; duplicate?: boolean }
  | { type: 'subscribed'; id?: RequestId; subscription: string; head_seq: number }
  | { type: 'unsubscribed'; id?: RequestId; subscription: string; reason?: string }
  | { type: 'error'; id?: RequestId; code: string; message: string }
  | { type: 'pong'; id?: RequestId }
  | MessageFrame;

const SERVER_TYPES: ReadonlySet<string> = new Set(['published', 'scheduled', 'subscribed', 'unsubscribed', 'error', 'pong', 'message']);

/**
 * One frame of the broker's, or undefined for text that is not one (not JSON, not an object, an unknown
 * type). Its other fields are the broker's word: the client trusts the broker it connected to.
 */
export function readServerFrame(text: string): ServerFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !SERVER_TYPES.has(type)) return undefined;
  // An id is echoed as the request sent it; the client sends strings.
  const id = (value as { id?: unknown }).id;
  if (id !== undefined && typeof id !== 'string') return undefined;
  return value as ServerFrame;
}
