// The database as users see it (PROTOCOL.md §6). drizzle-kit generates drizzle/ from this file; columns are
// snake_case as the protocol fixes them, times are integers in ms since the epoch unless named otherwise.
import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { MESSAGE_STATUS, MESSAGE_STATUSES } from '../message-statuses.js';

/** The log. AUTOINCREMENT keeps seq from being reused after the newest rows are deleted (sqlite_sequence). */
export const messages = sqliteTable(
  'messages',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    messageId: text('message_id'),
    topic: text('topic').notNull(),
    payload: text('payload').notNull(),
    /** JSON: timestamp, content_type and the publisher's attributes. */
    metadata: text('metadata').notNull().default('{}'),
    /** Seconds; 0 = kept until a retention rule removes it. */
    ttl: integer('ttl').notNull().default(0),
    status: text('status', { enum: MESSAGE_STATUSES }).notNull().default(MESSAGE_STATUS.pending),
    /** The ordering key: one queue-group member receives all of a key's messages, in order. */
    orderingKey: text('ordering_key'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [
    // Partial: most messages carry no id, and they should not pay for an index entry.
    uniqueIndex('messages_message_id_unique').on(t.messageId).where(sql`message_id IS NOT NULL`),
    // Catch-up of a subscription to one exact topic reads only that topic's rows.
    index('messages_topic_seq').on(t.topic, t.seq),
    // TTL expiry finds due rows without a scan; only messages with a TTL are indexed.
    index('messages_expires_at').on(sql`created_at + ttl * 1000`).where(sql`ttl > 0`),
  ],
);

/** Durable consumers: push endpoints (address set) and named API consumers (address null). */
export const consumers = sqliteTable('consumers', {
  id: text('id').primaryKey(),
  /** `tcp://…`, `udp://…`, `ws://…`, `http://…` for push consumers; null for consumers that pull over the API. */
  address: text('address'),
  /** JSON array of patterns. */
  patterns: text('patterns').notNull().default('[]'),
  /** Ack floor: every matching message with seq <= position is acked or dead-lettered. */
  position: integer('position').notNull().default(0),
  /** JSON content filter (see README), or null. */
  filter: text('filter'),
  /** Last REPLAY/rewind; acks recorded before it no longer count as processed for resuming. */
  rewoundAt: integer('rewound_at').notNull().default(0),
  /** PAUSE: nothing is delivered to the consumer until RESUME; its position is kept. */
  paused: integer('paused', { mode: 'boolean' }).notNull().default(false),
  /** When `paused` last changed (never goes back): a broker's older view of the row does not undo a newer pause or resume. */
  pauseChangedAt: integer('pause_changed_at').notNull().default(0),
  /**
   * Written ahead of deliveries, a chunk at a time: the consumer may have been sent messages up to this seq
   * since the broker last stopped cleanly (0 then). After a kill, the unacked messages above the position and
   * up to it count as delivered once more.
   */
  reservedSeq: integer('reserved_seq').notNull().default(0),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
  /** A leased consumer (a side replay's): removed once this time (ms) passes without a renewal; null: kept. */
  expiresAt: integer('expires_at'),
  /** JSON array of ms: the k-th redelivery of a message waits the k-th (or the last) of them; null: at once. */
  backoffMs: text('backoff_ms'),
  /** What its http(s) pushes carry (PROTOCOL.md §13): `cloudevents`, or null for the default JSON body (`eventbus`). */
  format: text('format'),
  /** Its own ack timeout (ms), over EVENTBUS_ACK_TIMEOUT_MS; null: the setting's. */
  ackTimeoutMs: integer('ack_timeout_ms'),
  /** Its own deliveries before a dead letter, over EVENTBUS_MAX_DELIVERIES; null: the setting's. */
  maxDeliveries: integer('max_deliveries'),
  /** Its own unacked deliveries per member, over EVENTBUS_MAX_IN_FLIGHT; null: the setting's. */
  maxInFlight: integer('max_in_flight'),
});

/** Which consumer acked which message, and when. WITHOUT ROWID, by the custom migration 0001. */
export const processedMessages = sqliteTable(
  'processed_messages',
  {
    consumer: text('consumer').notNull(),
    seq: integer('seq').notNull(),
    processedAt: integer('processed_at').notNull(),
    /** The delivery attempt that was acked, from 1. */
    delivery: integer('delivery').notNull().default(1),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.seq] })],
);

/**
 * How many times a durable consumer has been sent a message it has not acked yet, so that the count (and
 * EVENTBUS_MAX_DELIVERIES) carries on across restarts. Written with the progress batches, for deliveries
 * that stayed unacked through one flush; rows at or below the consumer's position are dropped as it moves.
 * WITHOUT ROWID, by its migration.
 */
export const deliveryCounts = sqliteTable(
  'delivery_counts',
  {
    consumer: text('consumer').notNull(),
    seq: integer('seq').notNull(),
    /** Attempts so far, from 1. */
    deliveries: integer('deliveries').notNull(),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.seq] })],
);

/** Messages a consumer gave up on after EVENTBUS_MAX_DELIVERIES attempts, with a copy of the message. */
export const deadLetters = sqliteTable(
  'dead_letters',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    consumer: text('consumer').notNull(),
    seq: integer('seq').notNull(),
    topic: text('topic').notNull(),
    payload: text('payload').notNull(),
    metadata: text('metadata').notNull(),
    reason: text('reason').notNull(),
    deliveries: integer('deliveries').notNull(),
    deadAt: integer('dead_at').notNull(),
  },
  (t) => [
    index('dead_letters_consumer_seq').on(t.consumer, t.seq),
    // Whether any consumer still has a message dead, when one of them requeues it.
    index('dead_letters_seq').on(t.seq),
  ],
);

/**
 * Dead letters requeued for a consumer and not acked (or dead-lettered again) since: delivered to it again
 * after a restart too, even below its position.
 */
export const requeuedMessages = sqliteTable(
  'requeued_messages',
  {
    consumer: text('consumer').notNull(),
    seq: integer('seq').notNull(),
    requeuedAt: integer('requeued_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.seq] })],
);

/** Every failed push attempt, kept for SQL: "which messages failed on endpoint X last night". */
export const deliveryFailures = sqliteTable(
  'delivery_failures',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    consumer: text('consumer').notNull(),
    /** The push address at the time. */
    address: text('address').notNull(),
    /** Null for a failed connection attempt, which carries no message. */
    seq: integer('seq'),
    /** The delivery attempt that failed, from 1 (the reconnect attempt for a connection failure). */
    attempt: integer('attempt').notNull(),
    failedAt: integer('failed_at').notNull(),
    latencyMs: integer('latency_ms').notNull(),
    error: text('error').notNull(),
    httpStatus: integer('http_status'),
  },
  (t) => [index('delivery_failures_consumer_failed_at').on(t.consumer, t.failedAt)],
);

/**
 * Messages in time (PROTOCOL.md §11): a delayed message not yet due (`once`, removed once appended) or a
 * recurring schedule (`cron`, `every`). The due ones are read along next_at, a page at a time.
 */
export const schedules = sqliteTable(
  'schedules',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: ['once', 'cron', 'every'] }).notNull(),
    topic: text('topic').notNull(),
    payload: text('payload').notNull(),
    /** JSON: the publisher's metadata, which each message it appends carries. */
    metadata: text('metadata').notNull().default('{}'),
    ttl: integer('ttl').notNull().default(0),
    orderingKey: text('ordering_key'),
    /** A delayed message's message_id when it fires (the publisher's, or one made from the schedule). */
    messageId: text('message_id'),
    cron: text('cron'),
    everyMs: integer('every_ms'),
    timezone: text('timezone').notNull().default('UTC'),
    startAt: integer('start_at'),
    endAt: integer('end_at'),
    /** The next fire time, in ms; null once there is none (past end_at). */
    nextAt: integer('next_at'),
    lastAt: integer('last_at'),
    fires: integer('fires').notNull().default(0),
    /** Fire times that passed while no broker ran, not fired one by one. */
    missed: integer('missed').notNull().default(0),
    paused: integer('paused', { mode: 'boolean' }).notNull().default(false),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('schedules_message_id_unique').on(t.messageId).where(sql`message_id IS NOT NULL`),
    index('schedules_due').on(t.nextAt).where(sql`paused = 0 AND next_at IS NOT NULL`),
  ],
);

/** Credentials (PROTOCOL.md §12): each with its permissions; its token only as a hash. */
export const credentials = sqliteTable(
  'credentials',
  {
    name: text('name').primaryKey(),
    /** SHA-256 of the token, hex: the token itself is shown once, when made, and kept nowhere. */
    tokenHash: text('token_hash').notNull(),
    /** JSON lists: topic patterns it may publish to and read, consumer-id globs it may use. */
    publish: text('publish').notNull().default('[]'),
    subscribe: text('subscribe').notNull().default('[]'),
    consumers: text('consumers').notNull().default('[]'),
    monitor: integer('monitor', { mode: 'boolean' }).notNull().default(false),
    admin: integer('admin', { mode: 'boolean' }).notNull().default(false),
    /** Messages a second it may publish, per broker; null for no limit. */
    publishRate: integer('publish_rate'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    lastUsedAt: integer('last_used_at'),
  },
  (t) => [uniqueIndex('credentials_token_hash_unique').on(t.tokenHash)],
);

/** Every administrative action and every refusal (PROTOCOL.md §12), pruned by age as the failure log is. */
export const auditLog = sqliteTable(
  'audit_log',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: integer('at').notNull(),
    credential: text('credential'),
    peer: text('peer').notNull(),
    action: text('action').notNull(),
    target: text('target'),
    outcome: text('outcome').notNull(),
  },
  (t) => [index('audit_log_at').on(t.at)],
);
