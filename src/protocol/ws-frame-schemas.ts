// The WebSocket API's frames (PROTOCOL.md §5, §11) and the events of GET /api/subscribe (§8, §13) as zod
// schemas, from which the AsyncAPI document (asyncapi.ts) is made. The broker does not parse with them: the
// hand-written parser of ws-frames.ts is on the publish path. test/protocol/ws-frame-schemas.test.ts holds the
// two to the same frames, and test/transports/asyncapi.test.ts holds the frames the broker sends to these. Pure.
import { z } from 'zod';
import type { ErrorCode } from '../errors.js';
import { StreamedMessage } from './http-bodies.js';
import { BACKOFF_RULE, MAX_BACKOFF_STEPS, MAX_BACKOFF_WAIT_MS } from './redelivery-backoff.js';

// --- what the client sends ---
// Objects are loose: the parser ignores fields it does not know (prk_eventbus's clients send some), and reads
// null in an optional field as the field left out, so each optional field is nullish.

const whole = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const seq = whole.meta({ description: 'a seq of the log' });
const jsonObject = z.record(z.string(), z.unknown());

const requestId = z
  .union([z.string(), z.number()])
  .nullish()
  .meta({ description: 'any string (a number is echoed as it came); the answer carries it, so a client can match answers to requests sent ahead' });

const time = z.union([z.number(), z.string()]).meta({ description: 'ms since the epoch, or an ISO 8601 time' });

export const PublishData = z
  .looseObject({
    topic: z.string().meta({ description: '1 to 255 bytes of segments of letters, digits, _, - and :, separated by dots; the broker answers BAD_TOPIC otherwise' }),
    payload: z.unknown().meta({ description: 'a string, stored as it is, or any other JSON value, stored as its JSON text with content_type application/json; at most EVENTBUS_MAX_PAYLOAD bytes (TOO_LARGE)' }),
    message_id: z.string().nullish().meta({ description: 'deduplication key, 1 to 255 bytes: a repeat stores nothing and is answered with the original seq and "duplicate": true' }),
    metadata: jsonObject.nullish().meta({ description: 'attributes kept with the message; content_type, if given, must be a string; traceparent and tracestate are handed on (docs/observability.md)' }),
    ttl: whole.nullish().meta({ description: "seconds the message is kept; wins over the frame's ttl; absent: EVENTBUS_DEFAULT_TTL" }),
    ordering_key: z.string().nullish(),
    deliver_at: time.nullish().meta({ description: 'appended to the log at this time, not before; one not in the future publishes at once; not with delay_ms, not past EVENTBUS_MAX_DELAY' }),
    delay_ms: z.number().nullish().meta({ description: 'appended to the log this many ms from now; a whole number ≥ 0, not with deliver_at, not past EVENTBUS_MAX_DELAY' }),
  })
  .meta({ description: 'One message to publish' });

const frameTtl = whole.nullish().meta({ description: 'seconds the message(s) are kept when a message gives no ttl of its own' });

export const PublishFrame = z
  .looseObject({ type: z.literal('publish'), id: requestId, data: PublishData, ttl: frameTtl })
  .meta({ description: 'Publishes one message. Answered `published` once it is durable, `scheduled` once a delayed one is stored, or `error`' });

export const PublishBatchFrame = z
  .looseObject({ type: z.literal('publish_batch'), id: requestId, messages: z.array(PublishData).min(1), ttl: frameTtl })
  .meta({ description: 'Publishes several messages, all or none. Answered `published` with `seqs` (and `schedule_ids` when some are delayed), or `error`' });

export const SubscribeFrame = z
  .looseObject({
    type: z.literal('subscribe'),
    id: requestId,
    pattern: z.union([z.string(), z.array(z.string())]).meta({ description: 'a pattern (docs/delivery.md) or several; BAD_PATTERN when one is not' }),
    starting_seq: whole.nullish().meta({ description: 'replay from this seq, then go on live with no gap and no duplicate' }),
    starting_time: whole.nullish().meta({ description: 'replay from the first message at or after this time (ms since the epoch), then go on live' }),
    consumer: z.string().nullish().meta({ description: 'a durable consumer: its acked position is kept, deliveries must be acked, and a later subscribe without starting_seq resumes after the last acked' }),
    group: z.string().nullish().meta({ description: "subscriptions with the same consumer and group split the consumer's messages between them; without a consumer it is refused" }),
    max_in_flight: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).nullish().meta({ description: 'unacked deliveries before the broker waits; absent: EVENTBUS_MAX_IN_FLIGHT' }),
    filter: z.unknown().optional().meta({ description: 'a JSON object of conditions on the seq, topic, metadata and payload (docs/delivery.md, Filters); the broker answers BAD_FRAME when it is not one' }),
    backoff_ms: z
      .array(z.number().int().min(0).max(MAX_BACKOFF_WAIT_MS))
      .min(1)
      .max(MAX_BACKOFF_STEPS)
      .nullish()
      .meta({ description: `the durable consumer's redelivery backoff, set by this subscribe; ${BACKOFF_RULE}` }),
  })
  .meta({ description: 'Subscribes to a pattern. Answered `subscribed`, then `message` frames; or `error`' });

const ackSubscription = z.string().nullish().meta({ description: "the subscription; absent: every durable subscription of this connection (prk_eventbus's ack)" });

// Two shapes: several seqs, or prk_eventbus's one seq. Giving seqs and seq is refused.
export const AckFrame = z
  .union([
    z.looseObject({
      type: z.literal('ack'),
      id: requestId,
      subscription: ackSubscription,
      seq,
      seqs: z.null().optional(),
      message_id: z.unknown().optional().meta({ description: "prk_eventbus's ack names the message_id too; the broker goes by seq" }),
    }),
    z.looseObject({
      type: z.literal('ack'),
      id: requestId,
      subscription: ackSubscription,
      seqs: z.array(seq).min(1).meta({ description: 'several deliveries at once' }),
      seq: z.never().optional(),
    }),
  ])
  .meta({ description: 'Acknowledges deliveries of a durable subscription. Not answered, unless the subscription is unknown (`error` UNKNOWN_SUBSCRIPTION)' });

export const NackFrame = z
  .looseObject({
    type: z.literal('nack'),
    id: requestId,
    subscription: ackSubscription,
    seq,
    delay_ms: whole.nullish().meta({ description: "redelivered after this many ms; absent: after the consumer's backoff (docs/delivery.md), at once without one" }),
  })
  .meta({ description: 'Gives a delivery back to be redelivered. Not answered, unless the subscription is unknown (`error` UNKNOWN_SUBSCRIPTION)' });

export const UnsubscribeFrame = z
  .looseObject({ type: z.literal('unsubscribe'), id: requestId, subscription: z.string() })
  .meta({ description: 'Ends a subscription of this connection. Answered `unsubscribed`, or `error` UNKNOWN_SUBSCRIPTION' });

export const PingFrame = z.looseObject({ type: z.literal('ping'), id: requestId }).meta({ description: 'Asks whether the broker is reading this connection. Answered `pong`' });

/** Every frame a client may send, by the name of its message in the AsyncAPI document. */
export const CLIENT_FRAMES = {
  publish: PublishFrame,
  publish_batch: PublishBatchFrame,
  subscribe: SubscribeFrame,
  ack: AckFrame,
  nack: NackFrame,
  unsubscribe: UnsubscribeFrame,
  ping: PingFrame,
} as const;

// --- what the broker sends ---
// Objects are strict: a field the broker sends and the document does not name fails the tests.

const echoedId = z.union([z.string(), z.number()]).optional().meta({ description: "the request's id, as it came; absent when the request had none" });

/** The codes an `error` frame carries: the ws session's, with BAD_ARGS told as BAD_FRAME. */
export const WS_ERROR_CODES = [
  'BAD_FRAME',
  'BAD_TOPIC',
  'BAD_PATTERN',
  'TOO_LARGE',
  'UNKNOWN_SUBSCRIPTION',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'UNAVAILABLE',
] as const satisfies readonly ErrorCode[];

const messageId = z.string().nullable().meta({ description: 'the message_id it was published with, or null' });

export const PublishedFrame = z
  .strictObject({
    type: z.literal('published'),
    id: echoedId,
    seq,
    message_id: messageId,
    duplicate: z.literal(true).optional().meta({ description: 'the message_id was in the log already: nothing was stored, and seq is the original' }),
  })
  .meta({ description: 'A publish is durable in the log' });

export const PublishedBatchFrame = z
  .strictObject({
    type: z.literal('published'),
    id: echoedId,
    seqs: z.array(seq.nullable()).meta({ description: "each message's seq in the order sent; null for one stored for later" }),
    message_ids: z.array(messageId),
    schedule_ids: z.array(z.string().nullable()).optional().meta({ description: 'with delayed messages in the batch: the schedule id of each, null for one appended at once' }),
  })
  .meta({ description: 'A publish_batch is stored, all of it' });

export const ScheduledFrame = z
  .strictObject({
    type: z.literal('scheduled'),
    id: echoedId,
    schedule_id: z.string(),
    deliver_at: whole.meta({ description: 'when it will be appended to the log, ms since the epoch' }),
    message_id: messageId,
    duplicate: z.literal(true).optional().meta({ description: 'a schedule with this message_id was waiting already, and this is that one' }),
  })
  .meta({ description: 'A delayed publish (docs/scheduling.md) is stored for later' });

export const SubscribedFrame = z
  .strictObject({
    type: z.literal('subscribed'),
    id: echoedId,
    subscription: z.string().meta({ description: 'names this subscription in its message frames, acks, nacks and unsubscribe' }),
    head_seq: whole.meta({ description: 'the last seq in the log when it was made' }),
  })
  .meta({ description: 'A subscription is made; its `message` frames follow' });

export const UnsubscribedFrame = z
  .strictObject({
    type: z.literal('unsubscribed'),
    id: echoedId,
    subscription: z.string(),
    reason: z.string().optional().meta({ description: 'present when the broker ended the subscription itself (no id then)' }),
  })
  .meta({ description: 'A subscription has ended: the answer to unsubscribe, or the broker ending it' });

export const PongFrame = z.strictObject({ type: z.literal('pong'), id: echoedId }).meta({ description: 'The answer to ping: the connection is accepted and its frames are read' });

export const ErrorFrame = z
  .strictObject({
    type: z.literal('error'),
    id: echoedId,
    code: z.enum(WS_ERROR_CODES),
    message: z.string().meta({ description: 'one line for people' }),
  })
  .meta({
    description:
      'A request failed (with its id), or the broker refuses the connection (UNAUTHORIZED, UNAVAILABLE: then it closes it) or ends a subscription the credential may no longer read (FORBIDDEN). A bad frame never closes the connection',
  });

export const MessageFrame = z
  .strictObject({
    type: z.literal('message'),
    subscription: z.string().meta({ description: "the subscription it is delivered to (a ws:// push consumer's id)" }),
    seq,
    message_id: messageId,
    topic: z.string(),
    payload: z.string().meta({ description: 'the string that was published (a JSON payload as its text)' }),
    metadata: z
      .looseObject({
        timestamp: z.number().meta({ description: 'when it was committed, ms since the epoch' }),
        content_type: z.string(),
      })
      .meta({ description: "the publisher's attributes, with the broker's timestamp and content_type (and schedule_id, scheduled_at for a delayed message)" }),
    ordering_key: z.string().optional(),
    delivery: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).meta({ description: 'the delivery attempt, from 1' }),
  })
  .meta({ description: 'A delivery. A durable subscription expects an ack (or nack) for it; others are acked on send' });

/** Every frame the broker sends, by the name of its message in the AsyncAPI document. */
export const SERVER_FRAMES = {
  published: PublishedFrame,
  published_batch: PublishedBatchFrame,
  scheduled: ScheduledFrame,
  subscribed: SubscribedFrame,
  unsubscribed: UnsubscribedFrame,
  pong: PongFrame,
  error: ErrorFrame,
  message: MessageFrame,
} as const;

// --- GET /api/subscribe (Server-Sent Events) ---

export const SseCloudEvent = z
  .strictObject({
    specversion: z.literal('1.0'),
    id: z.string().meta({ description: 'the message_id, or eventbus-<seq>' }),
    source: z.string().meta({ description: "the broker's EVENTBUS_NODE_ID as a URI reference" }),
    type: z.string().meta({ description: 'the topic' }),
    time: z.string().meta({ description: 'when it was committed, ISO 8601' }),
    datacontenttype: z.string().meta({ description: "the message's content_type" }),
    sequence: z.string().meta({ description: 'the seq, as a string (the CloudEvents sequence extension)' }),
    traceparent: z.string().optional(),
    tracestate: z.string().optional(),
    data: z.unknown().meta({ description: 'a JSON payload as JSON, any other as the text it is' }),
  })
  .meta({ description: 'The data of a `message` event with format=cloudevents: the message as a structured CloudEvent 1.0 (docs/observability.md)' });

export const SseError = z
  .strictObject({ code: z.enum(['UNAUTHORIZED', 'FORBIDDEN']), message: z.string() })
  .meta({ description: 'The data of an `error` event: the credential was rotated or removed, or may no longer read a pattern of the stream; the stream ends after it' });

/**
 * Every event of GET /api/subscribe, by the name of its message in the AsyncAPI document: its SSE event name,
 * and the schema of its data (StreamedMessage is the one the OpenAPI document gives the route).
 */
export const SSE_EVENTS = {
  sse_message: { event: 'message', schema: StreamedMessage, description: 'The data of a `message` event: the message as GET /api/messages answers it, `id:` its seq' },
  sse_cloudevent: { event: 'message', schema: SseCloudEvent, description: SseCloudEvent.description },
  sse_error: { event: 'error', schema: SseError, description: SseError.description },
} as const;
