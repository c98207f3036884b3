// The tables of PROTOCOL.md §6 in PostgreSQL, with the SQLite store's names and columns (src/store/sqlite/schema.ts),
// so that the SQL recipes of docs/database.md read both. drizzle-kit generates drizzle/postgres/ from this
// file. The tables are created unqualified: the broker sets search_path to EVENTBUS_PG_SCHEMA, so one
// database can hold several logs. Seqs, times and counts are bigint read as JS numbers (seqs stay far below
// 2^53).
import { sql } from 'drizzle-orm';
import { bigint, bigserial, boolean, index, integer, pgTable, primaryKey, smallint, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { MESSAGE_STATUS, MESSAGE_STATUSES } from '../message-statuses.js';

const int8 = (name: string) => bigint(name, { mode: 'number' });

/** The log. Seq is assigned from log_head under its row lock, so seq order is commit order. */
export const messages = pgTable(
  'messages',
  {
    seq: int8('seq').primaryKey(),
    messageId: text('message_id'),
    topic: text('topic').notNull(),
    payload: text('payload').notNull(),
    metadata: text('metadata').notNull().default('{}'),
    ttl: integer('ttl').notNull().default(0),
    status: text('status', { enum: MESSAGE_STATUSES }).notNull().default(MESSAGE_STATUS.pending),
    orderingKey: text('ordering_key'),
    createdAt: int8('created_at').notNull(),
  },
  (t) => [
    uniqueIndex('messages_message_id_unique').on(t.messageId).where(sql`message_id IS NOT NULL`),
    index('messages_topic_seq').on(t.topic, t.seq),
    // ttl as bigint: seconds times 1000 outgrow an integer past 24 days.
    index('messages_expires_at').on(sql`(created_at + ttl::bigint * 1000)`).where(sql`ttl > 0`),
  ],
);

/**
 * One row: the last seq assigned and the last commit time. Every append updates it in the transaction that
 * inserts the messages; its row lock is the log's head lock (docs/internals.md), and it keeps seq from being
 * reused when the newest messages are deleted.
 */
export const logHead = pgTable('log_head', {
  id: smallint('id').primaryKey().default(1),
  seq: int8('seq').notNull().default(0),
  createdAt: int8('created_at').notNull().default(0),
});

export const consumers = pgTable('consumers', {
  id: text('id').primaryKey(),
  address: text('address'),
  patterns: text('patterns').notNull().default('[]'),
  position: int8('position').notNull().default(0),
  filter: text('filter'),
  rewoundAt: int8('rewound_at').notNull().default(0),
  paused: boolean('paused').notNull().default(false),
  pauseChangedAt: int8('pause_changed_at').notNull().default(0),
  createdAt: int8('created_at').notNull(),
  updatedAt: int8('updated_at').notNull(),
  /** A leased consumer (a side replay's): removed once this time (ms) passes without a renewal; null: kept. */
  expiresAt: int8('expires_at'),
  /** JSON array of ms: the k-th redelivery of a message waits the k-th (or the last) of them; null: at once. */
  backoffMs: text('backoff_ms'),
  /** What its http(s) pushes carry (PROTOCOL.md §13): `cloudevents`, or null for the default JSON body (`eventbus`). */
  format: text('format'),
  /** Its own ack timeout (ms), over EVENTBUS_ACK_TIMEOUT_MS; null: the setting's. */
  ackTimeoutMs: int8('ack_timeout_ms'),
  /** Its own deliveries before a dead letter, over EVENTBUS_MAX_DELIVERIES; null: the setting's. */
  maxDeliveries: integer('max_deliveries'),
  /** Its own unacked deliveries per member, over EVENTBUS_MAX_IN_FLIGHT; null: the setting's. */
  maxInFlight: integer('max_in_flight'),
});

export const processedMessages = pgTable(
  'processed_messages',
  {
    consumer: text('consumer').notNull(),
    seq: int8('seq').notNull(),
    processedAt: int8('processed_at').notNull(),
    delivery: integer('delivery').notNull().default(1),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.seq] })],
);

export const deliveryCounts = pgTable(
  'delivery_counts',
  {
    consumer: text('consumer').notNull(),
    seq: int8('seq').notNull(),
    deliveries: integer('deliveries').notNull(),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.seq] })],
);

export const deadLetters = pgTable(
  'dead_letters',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    consumer: text('consumer').notNull(),
    seq: int8('seq').notNull(),
    topic: text('topic').notNull(),
    payload: text('payload').notNull(),
    metadata: text('metadata').notNull(),
    reason: text('reason').notNull(),
    deliveries: integer('deliveries').notNull(),
    deadAt: int8('dead_at').notNull(),
  },
  (t) => [
    index('dead_letters_consumer_seq').on(t.consumer, t.seq),
    // Whether any consumer still has a message dead, when one of them requeues it.
    index('dead_letters_seq').on(t.seq),
  ],
);

export const requeuedMessages = pgTable(
  'requeued_messages',
  {
    consumer: text('consumer').notNull(),
    seq: int8('seq').notNull(),
    requeuedAt: int8('requeued_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.seq] })],
);

export const deliveryFailures = pgTable(
  'delivery_failures',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    consumer: text('consumer').notNull(),
    address: text('address').notNull(),
    seq: int8('seq'),
    attempt: integer('attempt').notNull(),
    failedAt: int8('failed_at').notNull(),
    latencyMs: integer('latency_ms').notNull(),
    error: text('error').notNull(),
    httpStatus: integer('http_status'),
  },
  (t) => [index('delivery_failures_consumer_failed_at').on(t.consumer, t.failedAt)],
);

// Coordination of the brokers sharing the database (src/core/cluster.ts). Times are the database's clock,
// so that brokers whose clocks disagree still agree on when a lease runs out.

/** The brokers alive on the database: each heartbeat refreshes its row; rows silent too long are dropped. */
export const nodes = pgTable('nodes', {
  nodeId: text('node_id').primaryKey(),
  /** Which process beats under this name: two at once is a configuration error, logged. */
  instance: text('instance').notNull(),
  lastSeen: int8('last_seen').notNull(),
});

/** The brokers with members of each durable consumer, and how many: a consumer's partitions are shared among them. */
export const consumerMembers = pgTable(
  'consumer_members',
  {
    consumer: text('consumer').notNull(),
    node: text('node').notNull(),
    members: integer('members').notNull(),
    inFlight: integer('in_flight').notNull(),
    expiresAt: int8('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.node] })],
);

/**
 * A durable consumer's partitions: who holds each (null: nobody) until when, and its position (every message
 * of the partition up to it is acked or dead-lettered). consumers.position is the lowest of them.
 */
export const consumerPartitions = pgTable(
  'consumer_partitions',
  {
    consumer: text('consumer').notNull(),
    partition: integer('partition').notNull(),
    node: text('node'),
    expiresAt: int8('expires_at').notNull().default(0),
    position: int8('position').notNull().default(0),
    /**
     * Written ahead of deliveries by the holder, a chunk at a time: it may have sent this partition's messages
     * up to this seq; 0 once given up cleanly. Whoever takes the partition with it above the position counts
     * the unacked messages up to it as delivered once more.
     */
    reservedSeq: int8('reserved_seq').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.partition] }), index('consumer_partitions_node').on(t.node)],
);

/** Named leases: a push consumer's delivery (push:<id>) and background jobs (job:<name>), one broker at a time. */
export const leases = pgTable('leases', {
  name: text('name').primaryKey(),
  node: text('node').notNull(),
  expiresAt: int8('expires_at').notNull(),
});

/** Messages in time (PROTOCOL.md §11), as the SQLite store keeps them (src/store/sqlite/schema.ts). */
export const schedules = pgTable(
  'schedules',
  {
    id: text('id').primaryKey(),
    kind: text('kind').notNull(),
    topic: text('topic').notNull(),
    payload: text('payload').notNull(),
    metadata: text('metadata').notNull().default('{}'),
    ttl: integer('ttl').notNull().default(0),
    orderingKey: text('ordering_key'),
    messageId: text('message_id'),
    cron: text('cron'),
    everyMs: int8('every_ms'),
    timezone: text('timezone').notNull().default('UTC'),
    startAt: int8('start_at'),
    endAt: int8('end_at'),
    nextAt: int8('next_at'),
    lastAt: int8('last_at'),
    fires: int8('fires').notNull().default(0),
    missed: int8('missed').notNull().default(0),
    paused: boolean('paused').notNull().default(false),
    createdAt: int8('created_at').notNull(),
    updatedAt: int8('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('schedules_message_id_unique').on(t.messageId).where(sql`message_id IS NOT NULL`),
    index('schedules_due').on(t.nextAt).where(sql`NOT paused AND next_at IS NOT NULL`),
  ],
);

/** Credentials (PROTOCOL.md §12): each with its permissions; its token only as a hash. */
export const credentials = pgTable(
  'credentials',
  {
    name: text('name').primaryKey(),
    /** SHA-256 of the token, hex: the token itself is shown once, when made, and kept nowhere. */
    tokenHash: text('token_hash').notNull(),
    /** JSON lists: topic patterns it may publish to and read, consumer-id globs it may use. */
    publish: text('publish').notNull().default('[]'),
    subscribe: text('subscribe').notNull().default('[]'),
    consumers: text('consumers').notNull().default('[]'),
    monitor: boolean('monitor').notNull().default(false),
    admin: boolean('admin').notNull().default(false),
    /** Messages a second it may publish, per broker; null for no limit. */
    publishRate: integer('publish_rate'),
    createdAt: int8('created_at').notNull(),
    updatedAt: int8('updated_at').notNull(),
    lastUsedAt: int8('last_used_at'),
  },
  (t) => [uniqueIndex('credentials_token_hash_unique').on(t.tokenHash)],
);

/** Every administrative action and every refusal (PROTOCOL.md §12), pruned by age as the failure log is. */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: int8('at').notNull(),
    credential: text('credential'),
    peer: text('peer').notNull(),
    action: text('action').notNull(),
    target: text('target'),
    outcome: text('outcome').notNull(),
  },
  (t) => [index('audit_log_at').on(t.at)],
);
