// The HTTP API's bodies, queries and answers (PROTOCOL.md §8) as zod schemas, from which requests are
// validated and the OpenAPI document is made, and the pure mappings from the broker's values to them. Wire
// fields are snake_case; times are ms since the epoch. Pure: no I/O.
import { z } from 'zod';
import type { ConsumerReport, DeadLetterRow, MessageRecord, PublishTime, Pulled, RecurringInput, ScheduleRecord, TopicReport } from '../core/broker.js';
import type { PublishInput, StoredMessage } from '../core/types.js';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import { toStructured } from './cloudevents.js';
import { storedPayload } from './payload.js';
import { PUSH_FORMATS } from './push-format.js';
import { CONSUMER_LIMITS, DEFAULT_FETCH, limitRule, MAX_ACK_DEADLINE_MS, MAX_FETCH, MAX_FETCH_WAIT_MS, MAX_NACK_DELAY_MS, RULES as PULL_RULES } from './pull.js';
import { BACKOFF_RULE, MAX_BACKOFF_STEPS, MAX_BACKOFF_WAIT_MS } from './redelivery-backoff.js';

/** The most messages or dead letters one page returns; more is asked for, this many come (PROTOCOL.md §8). */
export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 100;

/**
 * A whole number in a query string or a path: digits only (`1e3`, `0x10` or `` are not what anyone means).
 * The document calls it an integer, what it is to a client (a generated client then takes a number).
 */
export const wholeText = (what: string) =>
  z
    .string()
    .regex(/^\d{1,16}$/, `${what} must be a whole number`)
    .transform(Number)
    .pipe(z.number().max(Number.MAX_SAFE_INTEGER, `${what} is too large`))
    .meta({ type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const whole = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const seqNumber = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const jsonObject = z.record(z.string(), z.unknown());
const time = z.union([z.number(), z.string()]).meta({ description: 'ms since the epoch, or an ISO 8601 time' });
export const pageLimit = wholeText('limit')
  .pipe(z.number().min(1, 'limit must be 1 or more'))
  .transform((n) => Math.min(n, MAX_PAGE))
  .meta({ minimum: 1, description: `default ${DEFAULT_PAGE}; more than ${MAX_PAGE} is taken as ${MAX_PAGE}` });

export const ErrorBody = z
  .object({ code: z.enum(ERROR_CODES), message: z.string() })
  .meta({ id: 'Error', description: 'What went wrong: an error code (the table of error codes in the README) and one line for people' });

// --- publishing ---

export const PublishMessage = z
  .object({
    topic: z.string(),
    payload: z.unknown().refine((v) => v !== undefined, '"payload" is missing').meta({ description: 'a string, stored as it is, or any JSON value, stored as its JSON text (content_type application/json)' }),
    message_id: z.string().optional().meta({ description: 'deduplication key: a repeat stores nothing and answers the original seq' }),
    metadata: jsonObject.optional(),
    ttl: whole.optional().meta({ description: 'seconds the message is kept; 0 until retention removes it; absent: EVENTBUS_DEFAULT_TTL' }),
    ordering_key: z.string().optional(),
    deliver_at: time.optional().meta({ description: 'appended to the log at this time, not before (docs/scheduling.md); one not in the future publishes at once' }),
    delay_ms: z.number().optional().meta({ description: 'appended to the log this many ms from now; not with deliver_at' }),
  })
  .meta({ id: 'PublishMessage' });
export const PublishBatch = z.object({ messages: z.array(PublishMessage).min(1, '"messages" must not be empty') }).meta({ id: 'PublishBatch' });
/** What a publish body with neither form's key is told: not the closest form's first problem, but what is missing. */
const NEITHER_FORM = 'the body needs "topic" and "payload" (one message) or "messages" (a batch)';
export const PublishBody = z.union([PublishBatch, PublishMessage], {
  error: (issue) => (typeof issue.input === 'object' && issue.input !== null && ('topic' in issue.input || 'messages' in issue.input) ? undefined : NEITHER_FORM),
});
export type PublishMessage = z.infer<typeof PublishMessage>;

export const Published = z.object({ seq: z.number(), message_id: z.string().nullable(), duplicate: z.boolean() }).meta({ id: 'Published' });
export const Scheduled = z
  .object({ schedule_id: z.string(), deliver_at: z.number(), message_id: z.string().nullable(), duplicate: z.boolean() })
  .meta({ id: 'Scheduled', description: 'stored for later: appended to the log at deliver_at' });
export const PublishedBatch = z
  .object({
    seqs: z.array(z.number().nullable()),
    message_ids: z.array(z.string().nullable()),
    duplicates: z.array(z.boolean()).meta({ description: 'true where the message repeated a message_id already stored (or scheduled): nothing new was stored for it' }),
    schedule_ids: z.array(z.string().nullable()).optional().meta({ description: 'with delayed messages: each one\'s schedule id, null for those appended at once (whose seq is in seqs)' }),
  })
  .meta({ id: 'PublishedBatch' });

// --- reading the log ---

export const Message = z
  .object({
    seq: z.number(),
    topic: z.string(),
    payload: z.string(),
    message_id: z.string().nullable(),
    metadata: jsonObject,
    ordering_key: z.string().nullable(),
    created_at: z.number(),
    status: z.enum(['pending', 'processed', 'dead']),
  })
  .meta({ id: 'Message' });
export const MessagesPage = z.object({ messages: z.array(Message), next_seq: z.number().meta({ description: 'the from_seq of the next page' }) }).meta({ id: 'MessagesPage' });

/** Where reading starts: `from_seq`, or the first message at or after `from_time`. */
const startQuery = {
  from_seq: wholeText('from_seq').optional(),
  from_time: wholeText('from_time').optional().meta({ description: 'ms since the epoch' }),
};
export const MessagesQuery = z.object({
  ...startQuery,
  pattern: z.string().optional(),
  limit: pageLimit.optional(),
});
export const SubscribeQuery = z.object({
  ...startQuery,
  pattern: z.union([z.string(), z.array(z.string())]).optional().meta({ description: 'default #: every topic; may be repeated' }),
  format: z.enum(['cloudevents']).optional().meta({ description: "cloudevents: each event's data is the message as a structured CloudEvent (docs/observability.md)" }),
});
export const SeqParam = z.object({ seq: wholeText('seq') });

/** An SSE message event's data: the message as GET /api/messages answers it, its status as when it was read. */
export const StreamedMessage = Message.meta({ id: 'StreamedMessage' });

export const Topic = z
  .object({ topic: z.string(), messages: z.number(), first_seq: z.number(), last_seq: z.number(), published_per_s: z.number() })
  .meta({ id: 'Topic' });

// --- consumers ---

export const IdParam = z.object({ id: z.string().min(1) });

const backoffMs = z
  .array(z.number().int(BACKOFF_RULE).min(0, BACKOFF_RULE).max(MAX_BACKOFF_WAIT_MS, BACKOFF_RULE))
  .min(1, BACKOFF_RULE)
  .max(MAX_BACKOFF_STEPS, BACKOFF_RULE);

/** A consumer's own limit as PUT takes it: a number sets it, null gives it back to the setting, absent keeps it. */
const ownLimit = (key: keyof typeof CONSUMER_LIMITS, what: string) =>
  z
    .number()
    .int(limitRule(key))
    .min(1, limitRule(key))
    .max(CONSUMER_LIMITS[key].max, limitRule(key))
    .nullable()
    .optional()
    .meta({ description: `${what}, for this consumer alone, over ${CONSUMER_LIMITS[key].setting} (1 to ${CONSUMER_LIMITS[key].max}); null: back to the setting's; absent: the one it has is kept` });

export const Consumer = z
  .object({
    id: z.string(),
    address: z.string().nullable(),
    patterns: z.array(z.string()),
    filter: jsonObject.nullable(),
    state: z.string().meta({ description: 'paused, connected, retrying or offline' }),
    paused: z.boolean(),
    position: z.number(),
    lag: z.number().meta({ description: 'messages matching its patterns and filter that it has neither acked nor dead-lettered' }),
    in_flight: z.number().meta({ description: 'deliveries sent and awaiting an ack now, on every broker' }),
    dead_letters: z.number(),
    last_failure: z
      .object({
        at: z.number().meta({ description: 'when, ms since the epoch' }),
        error: z.string().meta({ description: 'what went wrong, e.g. `cannot connect: connect ECONNREFUSED 127.0.0.1:9997` or `HTTP 500 Internal Server Error: <the start of the body>`' }),
      })
      .nullable()
      .meta({ description: "the push consumer's last failed delivery or connection attempt (kept as long as EVENTBUS_FAILURE_LOG_MAX_AGE), or null; it stays once the consumer recovers, with its time" }),
    backoff_ms: z
      .array(z.number())
      .nullable()
      .meta({ description: 'its redelivery backoff (docs/delivery.md): the k-th redelivery of a message waits the k-th of these ms (the last once past the end); null: redelivered at once' }),
    format: z
      .enum(PUSH_FORMATS)
      .meta({ description: 'what its http(s) pushes carry: eventbus, the JSON body of a push (docs/protocol.md); cloudevents, a binary-mode CloudEvent (docs/observability.md)' }),
    ack_timeout_ms: z.number().meta({ description: 'an unacked delivery is sent again after this: its own, else EVENTBUS_ACK_TIMEOUT_MS' }),
    max_deliveries: z.number().meta({ description: 'deliveries of a message before it is dead-lettered: its own, else EVENTBUS_MAX_DELIVERIES' }),
    max_in_flight: z.number().meta({ description: 'unacked deliveries per member (subscription, pull member, push address): its own, else EVENTBUS_MAX_IN_FLIGHT' }),
  })
  .meta({ id: 'Consumer' });

export const ConsumerBody = z
  .object({
    address: z.string().optional().meta({ description: 'tcp://, udp://, ws:// or http:// push address; none: a consumer read over the WebSocket API or the SDK' }),
    patterns: z.array(z.string()),
    filter: jsonObject.nullable().optional(),
    lease_ms: z
      .number()
      .int()
      .min(1)
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .meta({ description: 'removed by the broker once this many ms pass without a PUT giving it again (a side replay\'s temporary consumer); absent: a lease it has is kept as it is' }),
    backoff_ms: backoffMs
      .nullable()
      .optional()
      .meta({
        description: `the waits (ms) before its 1st, 2nd, … redelivery of a message, after an ack timeout or a nack without delay_ms; the last repeats; 1 to ${MAX_BACKOFF_STEPS} of them, each at most ${MAX_BACKOFF_WAIT_MS} (24 h); null removes it; absent: the one it has is kept`,
      }),
    format: z
      .enum(PUSH_FORMATS)
      .nullable()
      .optional()
      .meta({
        description:
          'what its http(s) pushes carry: eventbus (the default), the JSON body of a push (docs/protocol.md); cloudevents, a binary-mode CloudEvent (docs/observability.md), for an http:// or https:// address only; null: back to eventbus; absent: the one it has is kept',
      }),
    ack_timeout_ms: ownLimit('ackTimeoutMs', 'ms before an unacked delivery is sent again'),
    max_deliveries: ownLimit('maxDeliveries', 'deliveries of a message before it is dead-lettered'),
    max_in_flight: ownLimit('maxInFlight', 'unacked deliveries per member; a subscription asking for more gets this many'),
  })
  .meta({ id: 'ConsumerBody' });

export const ReplayBody = z
  .object({ from_seq: seqNumber.optional(), from_time: whole.optional().meta({ description: 'ms since the epoch' }) })
  .refine((r) => (r.from_seq === undefined) !== (r.from_time === undefined), 'give from_seq or from_time, one of them')
  .meta({ id: 'ReplayBody', description: 'where the consumer starts again: from_seq, or the first message at or after from_time' });

export const Removed = z.object({ id: z.string() });

export const DeadLetter = z
  .object({
    seq: z.number(),
    topic: z.string(),
    payload: z.string(),
    metadata: jsonObject,
    reason: z.string(),
    deliveries: z.number(),
    dead_at: z.number(),
  })
  .meta({ id: 'DeadLetter' });
export const DeadLettersPage = z.object({ dead_letters: z.array(DeadLetter), next_seq: z.number() }).meta({ id: 'DeadLettersPage' });
export const DeadLettersQuery = z.object({ from_seq: wholeText('from_seq').optional(), limit: pageLimit.optional() });
export const RequeueBody = z
  .object({
    seqs: z.array(seqNumber).optional(),
    filter: jsonObject.optional().meta({ description: 'a filter as subscribe takes it, on the dead letter\'s topic, payload and metadata' }),
  })
  .meta({ id: 'RequeueBody' });
export const DeleteDeadLettersBody = z.object({ seqs: z.array(seqNumber).optional() }).meta({ id: 'DeleteDeadLettersBody' });
export const Requeued = z.object({ requeued: z.number() });

// --- pulling a consumer's messages ---

const ruledWhole = (min: number, max: number, rule: string) => z.number().int(rule).min(min, rule).max(max, rule);

export const FetchBody = z
  .object({
    max: ruledWhole(1, MAX_FETCH, PULL_RULES.max).optional().meta({ description: `at most this many messages (1 to ${MAX_FETCH}); default ${DEFAULT_FETCH}` }),
    wait_ms: ruledWhole(0, MAX_FETCH_WAIT_MS, PULL_RULES.waitMs)
      .optional()
      .meta({ description: `with none ready, wait up to this long for some (0 to ${MAX_FETCH_WAIT_MS}); default 0, answer at once` }),
  })
  .meta({ id: 'FetchBody' });
export const FetchedMessage = Message.extend({
  delivery: z.number().meta({ description: 'attempts so far, counting this one, from 1' }),
  ack_deadline: z.number().meta({ description: 'sent again after this time (ms since the epoch) unless acked or extended' }),
}).meta({ id: 'FetchedMessage' });
export const Fetched = z.object({ messages: z.array(FetchedMessage) }).meta({ id: 'Fetched' });
const fetchedSeqs = z.array(z.number().int(PULL_RULES.seqs).min(1, PULL_RULES.seqs).max(Number.MAX_SAFE_INTEGER, PULL_RULES.seqs));
export const AckBody = z
  .object({ seqs: fetchedSeqs.meta({ description: 'seqs of messages fetched from this consumer through this broker' }) })
  .meta({ id: 'AckBody' });
export const NackBody = z
  .object({
    seqs: fetchedSeqs,
    delay_ms: ruledWhole(0, MAX_NACK_DELAY_MS, PULL_RULES.nackDelayMs)
      .optional()
      .meta({ description: "sent again after this long; absent: after the consumer's backoff_ms (none: at once)" }),
  })
  .meta({ id: 'NackBody' });
export const ExtendBody = z
  .object({
    seqs: fetchedSeqs,
    ms: ruledWhole(0, MAX_ACK_DEADLINE_MS, PULL_RULES.extendMs).meta({ description: `the new ack deadline, this many ms from now (0 to ${MAX_ACK_DEADLINE_MS}, 12 h)` }),
  })
  .meta({ id: 'ExtendBody' });
export const Acked = z.object({ acked: z.number().meta({ description: 'deliveries acked; seqs this consumer did not fetch here, or acked already, are counted out' }) });
export const Nacked = z.object({ nacked: z.number() });
export const Extended = z.object({ extended: z.number() });
export const Deleted = z.object({ deleted: z.number() });

// --- the broker ---

export const Stats = z
  .object({
    node_id: z.string(),
    head_seq: z.number(),
    topics: z.number(),
    consumers: z.number(),
    subscriptions: z.number(),
    connections: z.record(z.string(), z.number()).meta({ description: 'open connections by front-end' }),
    nodes: z.array(z.object({ node_id: z.string(), last_seen: z.number() })).meta({ description: 'the brokers alive on the database' }),
  })
  .meta({ id: 'Stats' });
export const StatsEvent = z
  .object({
    at: z.number().meta({ description: 'when these figures were taken, ms since the epoch' }),
    node_id: z.string(),
    head_seq: z.number(),
    published_per_s: z.number().meta({ description: 'messages published per second, all topics, over the last second' }),
    delivered_per_s: z.number().meta({ description: 'messages sent to subscribers and push consumers per second over the last second, redeliveries included' }),
    topics: z.array(Topic),
    consumers: z.array(Consumer),
    connections: z.record(z.string(), z.number()),
  })
  .meta({ id: 'StatsEvent', description: 'one `stats` event of GET /api/stats/stream' });
export type StatsEvent = z.infer<typeof StatsEvent>;
export const Health = z.object({ status: z.string(), head_seq: z.number() }).meta({ id: 'Health' });
/** What /livez and /readyz answer: the status and nothing else. */
export const Probe = z.object({ status: z.enum(['ok', 'unavailable']) }).meta({ id: 'Probe' });

// --- mappings ---

/** When a message of the body is to be appended (PublishTime of the broker). */
export function publishTimeOf(m: PublishMessage): PublishTime {
  return { deliverAt: m.deliver_at, delayMs: m.delay_ms };
}

export function publishInputOf(m: PublishMessage): PublishInput {
  const { payload, metadata } = storedPayload(m.payload, m.metadata);
  return { topic: m.topic, payload, messageId: m.message_id, ttlSeconds: m.ttl, orderingKey: m.ordering_key, metadata };
}

/** The HTTP status of an error code (PROTOCOL.md §8). */
export function httpStatusOf(code: ErrorCode): 400 | 401 | 403 | 404 | 413 | 429 | 503 {
  if (code === 'UNAUTHORIZED') return 401;
  if (code === 'FORBIDDEN') return 403;
  if (code === 'RATE_LIMITED') return 429;
  if (code === 'TOO_LARGE') return 413;
  if (code === 'UNAVAILABLE') return 503;
  if (code.startsWith('UNKNOWN_') && code !== 'UNKNOWN_COMMAND') return 404;
  return 400;
}

function parseObject(json: string): Record<string, unknown> {
  const value = JSON.parse(json) as unknown;
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** A message as §8 shows it; one just committed, read from no table, is `pending`. */
export function streamedMessage(m: StoredMessage): z.infer<typeof StreamedMessage> {
  return {
    seq: m.seq,
    topic: m.topic,
    payload: m.payload,
    message_id: m.messageId,
    metadata: parseObject(m.metadata),
    ordering_key: m.orderingKey,
    created_at: m.createdAt,
    status: m.status ?? 'pending',
  };
}

export function wireMessage(m: MessageRecord): z.infer<typeof Message> {
  return streamedMessage(m);
}

export function wireConsumer(c: ConsumerReport, state: string): z.infer<typeof Consumer> {
  return {
    id: c.id,
    address: c.address,
    patterns: [...c.patterns],
    filter: c.filter === null ? null : parseObject(c.filter),
    state,
    paused: c.paused,
    position: c.position,
    lag: c.lag,
    in_flight: c.inFlight,
    dead_letters: c.deadLetters,
    last_failure: c.lastFailure === null ? null : { at: c.lastFailure.at, error: c.lastFailure.error },
    backoff_ms: c.backoffMs === null ? null : [...c.backoffMs],
    format: c.format,
    ack_timeout_ms: c.ackTimeoutMs,
    max_deliveries: c.maxDeliveries,
    max_in_flight: c.maxInFlight,
  };
}

/**
 * A fetch's answer (the Fetched schema) as JSON text: each message as §8 shows it, with its attempt and ack
 * deadline. Written here rather than parsed and stringified again, as a WebSocket message frame is: the stored
 * metadata is JSON text already, and a batch of a thousand is read back by the fetcher right away.
 */
export function fetchedJson(pulled: readonly Pulled[]): string {
  let out = '{"messages":[';
  for (let i = 0; i < pulled.length; i++) {
    const { message: m, delivery, ackDeadline } = pulled[i]!;
    out +=
      `${i === 0 ? '' : ','}{"seq":${m.seq},"topic":${JSON.stringify(m.topic)},"payload":${JSON.stringify(m.payload)},"message_id":${JSON.stringify(m.messageId)},` +
      `"metadata":${m.metadata},"ordering_key":${JSON.stringify(m.orderingKey)},"created_at":${m.createdAt},"status":"${m.status ?? 'pending'}",` +
      `"delivery":${delivery},"ack_deadline":${ackDeadline}}`;
  }
  return `${out}]}`;
}

export function wireDeadLetter(d: DeadLetterRow): z.infer<typeof DeadLetter> {
  return { seq: d.seq, topic: d.topic, payload: d.payload, metadata: parseObject(d.metadata), reason: d.reason, deliveries: d.deliveries, dead_at: d.deadAt };
}

export function wireTopic(t: TopicReport): z.infer<typeof Topic> {
  return { topic: t.topic, messages: t.messages, first_seq: t.firstSeq, last_seq: t.lastSeq, published_per_s: t.publishedPerSec };
}

/** One SSE event: the message, its seq as the event id (a reconnect resumes after it with Last-Event-ID). */
export function sseMessageEvent(m: StoredMessage): string {
  // JSON.stringify escapes every line break inside strings, so the data is one line.
  return `id: ${m.seq}\nevent: message\ndata: ${JSON.stringify(streamedMessage(m))}\n\n`;
}

/** An SSE message event whose data is the message as a structured CloudEvent (`format=cloudevents`). */
export function sseCloudEvent(m: StoredMessage, source: string): string {
  return `id: ${m.seq}\nevent: message\ndata: ${JSON.stringify(toStructured(m, source))}\n\n`;
}

/** A zod failure as one line: where and what, for the first few problems. */
export function describeIssues(error: z.ZodError): string {
  return flattenUnion(error.issues)
    .slice(0, 3)
    .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/**
 * A union's failure told as its closest branch's: the one with the fewest problems, the last on a tie (a
 * single message rather than a batch, whose only problem is then a missing "messages").
 */
function flattenUnion(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code !== 'invalid_union' || issue.errors.length === 0 || issue.message === NEITHER_FORM) return [issue];
    const closest = issue.errors.reduce((best, branch) => (branch.length <= best.length ? branch : best));
    return flattenUnion(closest);
  });
}

/** A publish's W3C trace context as HTTP headers (PROTOCOL.md §13); one that is not valid is ignored. */
export const TraceHeaders = z.object({
  traceparent: z.string().optional().meta({ description: 'W3C traceparent: kept in the metadata of each message that carries none of its own' }),
  tracestate: z.string().optional().meta({ description: 'W3C tracestate, kept with it' }),
});

// --- messages in time ---

export const ScheduleKindQuery = z.enum(['once', 'cron', 'every']);

export const ScheduleBody = z
  .object({
    topic: z.string(),
    payload: z.unknown().refine((v) => v !== undefined, '"payload" is missing').meta({ description: 'as in a publish' }),
    cron: z.string().optional().meta({ description: 'a cron expression of 5 fields, or 6 with seconds first; not with every_ms' }),
    every_ms: z.number().optional().meta({ description: 'fires every this many ms, from 1000; not with cron' }),
    timezone: z.string().optional().meta({ description: 'the IANA time zone cron is read in; default UTC' }),
    metadata: jsonObject.optional(),
    ttl: whole.optional(),
    ordering_key: z.string().optional(),
    start_at: time.optional().meta({ description: 'no fire before it; an every_ms schedule fires first then' }),
    end_at: time.optional().meta({ description: 'no fire after it' }),
  })
  .meta({ id: 'ScheduleBody' });
export type ScheduleBody = z.infer<typeof ScheduleBody>;

export const Schedule = z
  .object({
    id: z.string(),
    kind: ScheduleKindQuery.meta({ description: 'once (a delayed message not yet due), cron or every' }),
    topic: z.string(),
    payload: z.string(),
    cron: z.string().nullable(),
    every_ms: z.number().nullable(),
    timezone: z.string(),
    start_at: z.number().nullable(),
    end_at: z.number().nullable(),
    next_at: z.number().nullable().meta({ description: 'the next fire, ms since the epoch; null when there is none' }),
    last_at: z.number().nullable().meta({ description: 'the last fire time, or null' }),
    fires: z.number(),
    missed: z.number().meta({ description: 'fire times passed while no broker ran, not fired one by one' }),
    paused: z.boolean(),
    created_at: z.number(),
  })
  .meta({ id: 'Schedule' });

export const ScheduleList = z.object({ schedules: z.array(Schedule), next: z.string().nullable().meta({ description: 'the `from` of the next page, or null' }) }).meta({ id: 'ScheduleList' });
export const ScheduleListQuery = z.object({ kind: ScheduleKindQuery.optional(), from: z.string().optional(), limit: pageLimit.optional() });

export function wireSchedule(s: ScheduleRecord): z.infer<typeof Schedule> {
  return {
    id: s.id,
    kind: s.kind,
    topic: s.topic,
    payload: s.payload,
    cron: s.cron,
    every_ms: s.everyMs,
    timezone: s.timezone,
    start_at: s.startAt,
    end_at: s.endAt,
    next_at: s.nextAt,
    last_at: s.lastAt,
    fires: s.fires,
    missed: s.missed,
    paused: s.paused,
    created_at: s.createdAt,
  };
}

/** A schedule's body as the broker takes it. */
export function recurringInputOf(body: ScheduleBody): RecurringInput {
  const { payload, metadata } = storedPayload(body.payload, body.metadata);
  return {
    topic: body.topic,
    payload,
    metadata,
    cron: body.cron,
    everyMs: body.every_ms,
    timezone: body.timezone,
    ttlSeconds: body.ttl,
    orderingKey: body.ordering_key,
    startAt: body.start_at,
    endAt: body.end_at,
  };
}
