// The PostgreSQL store's statements for the log, its consumers and their progress. Many rows go in one
// statement as arrays through unnest(): one round trip per kind of row, whatever the batch's size. With
// consumer-queries.ts (the operator surface), heartbeat-queries.ts (the cluster) and schema.ts, this is all
// its SQL but opening (connect.ts) and a transaction's BEGIN and COMMIT.
import type pg from 'pg';
import type { ConsumerRecord, DeliveryFailure, ProgressBatch } from '../../core/store-port.js';
import { MESSAGE_COLUMNS } from '../message-rows.js';
import { MESSAGE_STATUS } from '../message-statuses.js';
import { DELETE_REQUEUED_FROM } from './consumer-queries.js';

/** The channel appends notify on: one per schema, so logs in other schemas do not wake this one's brokers. */
export const notifyChannel = (schema: string): string => `eventbus_log_${schema}`;

export const HEAD = `SELECT seq FROM log_head WHERE id = 1`;

/**
 * Takes an advisory lock (connect.ts's lockKey) until the transaction ends: the writes that touch the
 * cluster's shared rows in no fixed order (heartbeats, a consumer's registration, rewind or removal) take
 * turns under one, and would deadlock otherwise.
 */
export const lockForTransaction = (key: string): string => `SELECT pg_advisory_xact_lock(${key})`;

/** Rewrites the head row unchanged: a write, so it proves the database can be written again. */
export const PROBE = `UPDATE log_head SET seq = seq WHERE id = 1`;

/** The stored seq of each id of $1 that is stored, probed one id at a time through the unique index. */
export const SEQS_OF_IDS = `SELECT i.id AS message_id, m.seq FROM unnest($1::text[]) AS i(id)
  CROSS JOIN LATERAL (SELECT seq FROM messages WHERE message_id = i.id LIMIT 1) m`;

/**
 * The append, in one statement and so one transaction and one round trip. Rows whose message id is
 * already stored are looked up first (one probe of the unique index each, never a scan of the log) and come
 * back as ($11's positions, their seqs) instead of being inserted. The head row's lock is taken next, the
 * other rows get the next seqs and the commit releases it, so a later seq never commits first. Commit times
 * never go back along seq, even when another broker's clock is ahead: a row takes the head's time if it is
 * later than its own (and its metadata's timestamp with it). A message id stored meanwhile by another broker
 * (after this statement's snapshot) is skipped by the unique index, and its seq is then never used. The
 * notification is sent at commit, once per transaction, and only if a row was inserted; it carries the
 * head's new seq, so that a listener need not ask for it.
 * $1 the latest commit time of the rows, $2..$8 the columns, $9 the channel. Seqs come back as float8,
 * which node-postgres reads as numbers (it reads bigint arrays as strings).
 */
export const APPEND = `
WITH r AS (
  SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::bigint[])
    WITH ORDINALITY AS r(message_id, topic, payload, metadata, ttl, ordering_key, created_at, ord)
),
known AS MATERIALIZED (
  SELECT r.ord, m.seq FROM r CROSS JOIN LATERAL (SELECT seq FROM messages WHERE message_id = r.message_id LIMIT 1) m
  WHERE r.message_id IS NOT NULL
),
f AS MATERIALIZED (
  SELECT r.*, row_number() OVER (ORDER BY r.ord) AS n FROM r WHERE NOT EXISTS (SELECT 1 FROM known k WHERE k.ord = r.ord)
),
o AS (SELECT seq, created_at FROM log_head WHERE id = 1 AND EXISTS (SELECT 1 FROM f) FOR UPDATE),
h AS (
  UPDATE log_head SET seq = o.seq + (SELECT count(*) FROM f), created_at = GREATEST(o.created_at, $1::bigint)
  FROM o WHERE log_head.id = 1
  RETURNING o.seq AS base, o.created_at AS floor
),
ins AS (
  INSERT INTO messages (seq, message_id, topic, payload, metadata, ttl, status, ordering_key, created_at)
  SELECT h.base + f.n, f.message_id, f.topic, f.payload,
    CASE WHEN f.created_at >= h.floor OR NOT starts_with(f.metadata, '{"timestamp":' || f.created_at) THEN f.metadata
      ELSE '{"timestamp":' || h.floor || substr(f.metadata, length('{"timestamp":' || f.created_at) + 1) END,
    f.ttl, '${MESSAGE_STATUS.pending}', f.ordering_key, GREATEST(f.created_at, h.floor)
  FROM h, f
  ON CONFLICT (message_id) WHERE message_id IS NOT NULL DO NOTHING
  RETURNING seq
)
SELECT (SELECT base FROM h) AS base,
  (SELECT array_agg(seq::float8) FROM ins) AS seqs,
  (SELECT array_agg(ord::int ORDER BY ord) FROM known) AS "knownAt",
  (SELECT array_agg(seq::float8 ORDER BY ord) FROM known) AS "knownSeqs",
  CASE WHEN EXISTS (SELECT 1 FROM ins) THEN pg_notify($9, ((SELECT base FROM h) + (SELECT count(*) FROM f))::text) END`;

// Without the status: a reader that shows it (an SSE event, PROTOCOL.md §8) reads records (READ_RECORDS).
export const READ_FROM = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE seq >= $1 ORDER BY seq LIMIT $2`;
export const READ_TOPIC_FROM = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE topic = $1 AND seq >= $2 ORDER BY seq LIMIT $3`;

/**
 * The first seq committed at or after $1: a binary search over seq by primary-key lookups (created_at never
 * goes back along seq, and needs no index of its own), in one round trip.
 */
export const SEQ_AT_TIME = `
WITH RECURSIVE b(lo, hi) AS (
  SELECT (SELECT min(seq) FROM messages), (SELECT max(seq) + 1 FROM messages)
  UNION ALL
  SELECT CASE WHEN m.created_at IS NULL OR m.created_at >= $1 THEN b.lo ELSE m.seq + 1 END,
         CASE WHEN m.created_at IS NULL OR m.created_at >= $1 THEN (b.lo + b.hi) / 2 ELSE b.hi END
  FROM b LEFT JOIN LATERAL (SELECT seq, created_at FROM messages WHERE seq >= (b.lo + b.hi) / 2 ORDER BY seq LIMIT 1) m ON true
  WHERE b.lo < b.hi
)
SELECT (SELECT seq FROM messages WHERE seq >= (SELECT lo FROM b WHERE lo >= hi LIMIT 1) ORDER BY seq LIMIT 1) AS seq`;

const CONSUMER_COLUMNS = `id, address, patterns, position, filter, rewound_at AS "rewoundAt", paused,
  pause_changed_at AS "pauseChangedAt", created_at AS "createdAt", updated_at AS "updatedAt", expires_at AS "expiresAt",
  backoff_ms AS "backoffMs", format, ack_timeout_ms AS "ackTimeoutMs", max_deliveries AS "maxDeliveries", max_in_flight AS "maxInFlight"`;
export const LIST_CONSUMERS = `SELECT ${CONSUMER_COLUMNS} FROM consumers ORDER BY created_at, id`;

// Positions move through the heartbeat (per partition); an update of the consumer's settings leaves it
// alone, and a rewind sets it (REWIND_PARTITIONS sets its partitions' and gives their leases back).
// A pause or resume is kept only over an older one: a broker whose view predates it does not undo it.
// A lease only moves on (GREATEST ignores a null): a broker's older view does not shorten a renewal made on another.
export const UPSERT_CONSUMER = `INSERT INTO consumers (id, address, patterns, position, filter, rewound_at, paused, pause_changed_at, created_at, updated_at, expires_at, backoff_ms, format,
    ack_timeout_ms, max_deliveries, max_in_flight)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
  ON CONFLICT (id) DO UPDATE SET address = excluded.address, patterns = excluded.patterns, filter = excluded.filter,
    backoff_ms = excluded.backoff_ms, format = excluded.format,
    ack_timeout_ms = excluded.ack_timeout_ms, max_deliveries = excluded.max_deliveries, max_in_flight = excluded.max_in_flight,
    expires_at = GREATEST(consumers.expires_at, excluded.expires_at),
    rewound_at = GREATEST(consumers.rewound_at, excluded.rewound_at), updated_at = excluded.updated_at,
    position = CASE WHEN excluded.rewound_at > consumers.rewound_at THEN excluded.position ELSE consumers.position END,
    paused = CASE WHEN excluded.pause_changed_at > consumers.pause_changed_at THEN excluded.paused ELSE consumers.paused END,
    pause_changed_at = GREATEST(consumers.pause_changed_at, excluded.pause_changed_at)`;
export const CREATE_CONSUMER = `INSERT INTO consumers (id, address, patterns, position, filter, rewound_at, paused, pause_changed_at, created_at, updated_at, expires_at, backoff_ms, format,
    ack_timeout_ms, max_deliveries, max_in_flight)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT (id) DO NOTHING`;

/** A consumers row as CONSUMER_COLUMNS reads it: the JSON columns still text. */
export type StoredConsumerRow = Omit<ConsumerRecord, 'patterns' | 'backoffMs'> & { patterns: string; backoffMs: string | null };

/** A consumer's record as UPSERT_CONSUMER's and CREATE_CONSUMER's values. */
export function consumerValues(r: ConsumerRecord): unknown[] {
  return [r.id, r.address, JSON.stringify(r.patterns), r.position, r.filter, r.rewoundAt, r.paused, r.pauseChangedAt, r.createdAt, r.updatedAt, r.expiresAt,
    r.backoffMs === null ? null : JSON.stringify(r.backoffMs), r.format, r.ackTimeoutMs, r.maxDeliveries, r.maxInFlight];
}
export const CONSUMER = `SELECT ${CONSUMER_COLUMNS} FROM consumers WHERE id = $1`;
export const REWOUND_AT = `SELECT rewound_at AS "rewoundAt" FROM consumers WHERE id = $1 FOR UPDATE`;
// A rewind starts the counts over: what is delivered again from there is a first delivery.
export const REWIND_PARTITIONS = `UPDATE consumer_partitions SET node = NULL, expires_at = 0, position = $2, reserved_seq = 0 WHERE consumer = $1`;
/** A leased consumer whose lease has lapsed as the store has it (a renewal through another broker counts). */
export const DELETE_LAPSED_CONSUMER = 'DELETE FROM consumers WHERE id = $1 AND expires_at <= $2';
/** What is kept for a consumer alone, and the lease of its push delivery. */
export const DELETE_CONSUMER = [
  'DELETE FROM consumers WHERE id = $1',
  'DELETE FROM delivery_counts WHERE consumer = $1',
  'DELETE FROM requeued_messages WHERE consumer = $1',
  'DELETE FROM consumer_partitions WHERE consumer = $1',
  'DELETE FROM consumer_members WHERE consumer = $1',
  `DELETE FROM leases WHERE name = 'push:' || $1`,
];

// Strictly after the rewind, as in the SQLite store; a dead letter is done with too.
export const PROCESSED_ABOVE = `SELECT seq FROM processed_messages WHERE consumer = $1 AND seq > $2 AND processed_at > $3
  UNION SELECT seq FROM dead_letters WHERE consumer = $1 AND seq > $2 AND dead_at > $3 ORDER BY seq`;
export const DELIVERY_COUNTS_ABOVE = `SELECT seq, deliveries FROM delivery_counts WHERE consumer = $1 AND seq > $2`;
// Each consumer's newest failure, one probe of the (consumer, failed_at) index each.
export const LAST_FAILURES = `SELECT c.id AS consumer, f.failed_at AS at, f.error FROM unnest($1::text[], $2::bigint[]) AS c(id, since)
  CROSS JOIN LATERAL (SELECT failed_at, error FROM delivery_failures WHERE consumer = c.id AND failed_at >= c.since
    ORDER BY failed_at DESC LIMIT 1) f`;
export const TOPIC_COUNTS = `SELECT topic, count(*)::int AS n FROM messages GROUP BY topic`;
export const READ_HEADERS = `SELECT seq, topic, created_at AS "createdAt" FROM messages WHERE seq > $1 ORDER BY seq LIMIT $2`;
/** Retention's removal of the messages it chose. */
// The deletes below tell the other brokers in the same statement (at its commit, or never): a lag they keep
// counts the log as it was until they count again (lag.ts). The span of seqs, not each one, so that a
// notification stays small; $2 is the consumers' channel, $3 the sender (consumer-queries.ts's signal payload).
const TELL_REMOVED = `told AS (SELECT pg_notify($2, json_build_object('from', $3::text, 'kind', 'removed', 'first', min(seq), 'last', max(seq))::text)
  FROM gone HAVING count(*) > 0)`;

export const DELETE_SEQS = `WITH gone AS (DELETE FROM messages WHERE seq = ANY($1::bigint[]) RETURNING seq), ${TELL_REMOVED}
  SELECT count(*) FROM told`;

// A dead letter outranks a later 'processed' from another consumer: the message failed somewhere. The seqs
// of the runs are listed, so that each is one probe of the primary key (a join of ranges may scan the log).
export const MARK_PROCESSED = `UPDATE messages SET status = '${MESSAGE_STATUS.processed}'
  WHERE seq = ANY(ARRAY(SELECT generate_series(r.f, r.t) FROM unnest($1::bigint[], $2::bigint[]) AS r(f, t)))
  AND status = '${MESSAGE_STATUS.pending}'`;

// At most $2 expired rows per call, so that one call never holds locks for long; soonest expired first, along
// the expiry index.
export const DELETE_EXPIRED = `WITH gone AS (DELETE FROM messages WHERE seq = ANY(ARRAY(
  SELECT seq FROM messages WHERE ttl > 0 AND created_at + ttl::bigint * 1000 <= $1 ORDER BY created_at + ttl::bigint * 1000 LIMIT $4
)) RETURNING seq, topic), ${TELL_REMOVED}
  SELECT seq, topic FROM gone WHERE (SELECT count(*) FROM told) >= 0`;

// Acks that no longer matter: of messages the log no longer holds, at or below their consumer's position,
// and every ack of a consumer that was removed (the broker never reads them again).
export const PRUNE_PROCESSED = `
WITH lim AS (SELECT coalesce((SELECT min(seq) FROM messages), (SELECT seq + 1 FROM log_head WHERE id = 1)) AS oldest),
doomed AS (
  SELECT p.consumer, p.seq FROM processed_messages p CROSS JOIN lim LEFT JOIN consumers c ON c.id = p.consumer
  WHERE c.id IS NULL OR p.seq <= LEAST(c.position, lim.oldest - 1)
  LIMIT $1
)
DELETE FROM processed_messages p USING doomed d WHERE p.consumer = d.consumer AND p.seq = d.seq`;

// Failures are recorded about in time order: only the first $1 rows by id are looked at.
export const PRUNE_FAILURES = `DELETE FROM delivery_failures WHERE id = ANY(ARRAY(
  SELECT id FROM (SELECT id, failed_at FROM delivery_failures ORDER BY id LIMIT $1) f WHERE failed_at < $2
))`;

export const INSERT_FAILURES = `INSERT INTO delivery_failures (consumer, address, seq, attempt, failed_at, latency_ms, error, http_status)
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::bigint[], $6::int[], $7::text[], $8::int[])`;

export function failureColumns(failures: readonly DeliveryFailure[]): unknown[][] {
  return [
    failures.map((f) => f.consumer),
    failures.map((f) => f.address),
    failures.map((f) => f.seq),
    failures.map((f) => f.attempt),
    failures.map((f) => f.failedAt),
    failures.map((f) => Math.round(f.latencyMs)),
    failures.map((f) => f.error),
    failures.map((f) => f.httpStatus),
  ];
}

export const ALREADY_PROCESSED = `SELECT 1 FROM processed_messages p JOIN consumers c ON c.id = p.consumer
  WHERE p.consumer = $1 AND p.seq = $2 AND p.processed_at > c.rewound_at`;

// An ack of a delivery sent before the consumer's last rewind is left out (AckColumns.sentAts): the rewind sends
// the message again.
export const UPSERT_ACKS = `INSERT INTO processed_messages (consumer, seq, processed_at, delivery)
  SELECT r.consumer, r.seq, r.at, r.delivery FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[], $5::bigint[]) AS r(consumer, seq, at, delivery, sent_at)
    JOIN consumers c ON c.id = r.consumer WHERE r.sent_at >= c.rewound_at
  ON CONFLICT (consumer, seq) DO UPDATE SET processed_at = excluded.processed_at, delivery = excluded.delivery`;
export const INSERT_ACK = `INSERT INTO processed_messages (consumer, seq, processed_at, delivery) VALUES ($1, $2, $3, $4)
  ON CONFLICT (consumer, seq) DO UPDATE SET processed_at = excluded.processed_at, delivery = excluded.delivery`;
export const UPSERT_COUNTS = `INSERT INTO delivery_counts (consumer, seq, deliveries)
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[])
  ON CONFLICT (consumer, seq) DO UPDATE SET deliveries = excluded.deliveries`;
export const DELETE_COUNTS_FROM = `DELETE FROM delivery_counts d USING unnest($1::text[], $2::bigint[]) AS r(consumer, seq)
  WHERE d.consumer = r.consumer AND d.seq >= r.seq`;
export const DELETE_COUNTS_UP_TO = `DELETE FROM delivery_counts d USING unnest($1::text[], $2::bigint[]) AS r(consumer, seq)
  WHERE d.consumer = r.consumer AND d.seq <= r.seq`;
// Acked or dead-lettered: no attempt count to keep, and no longer waiting as requeued; one round trip for both.
export const DELETE_PENDING_OF = `WITH r AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS r(consumer, seq)),
  counts AS (DELETE FROM delivery_counts d USING r WHERE d.consumer = r.consumer AND d.seq = r.seq)
  DELETE FROM requeued_messages q USING r WHERE q.consumer = r.consumer AND q.seq = r.seq`;
export const INSERT_DEAD_LETTERS = `INSERT INTO dead_letters (consumer, seq, topic, payload, metadata, reason, deliveries, dead_at)
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::bigint[])`;
export const SET_POSITIONS = `UPDATE consumers c SET position = r.position, updated_at = $3
  FROM unnest($1::text[], $2::bigint[]) AS r(id, position) WHERE c.id = r.id`;
export const MARK_DEAD = `UPDATE messages SET status = '${MESSAGE_STATUS.dead}' WHERE seq = ANY($1::bigint[])`;

// A durable consumer's partitions: floors and reservations, written by their holder with the progress
// batches, and the consumer's position, the lowest floor.
export const SET_FLOORS = `UPDATE consumer_partitions cp SET position = GREATEST(cp.position, r.f)
  FROM unnest($2::text[], $3::int[], $4::bigint[]) AS r(c, p, f) WHERE cp.consumer = r.c AND cp.partition = r.p AND cp.node = $1`;
const RESERVE = `UPDATE consumer_partitions cp SET reserved_seq = GREATEST(cp.reserved_seq, r.u)
  FROM unnest($2::text[], $3::int[], $4::bigint[]) AS r(c, p, u) WHERE cp.consumer = r.c AND cp.partition = r.p AND cp.node = $1`;
/**
 * Taken before a consumer's position is set from its partitions' (CONSUMER_POSITIONS), and before its
 * partitions' rows: two brokers writing their partitions' floors at once would each read the other's as they
 * were and write a position that neither leaves behind; with the row locked first, the second reads (in a
 * statement begun after the lock) what the first committed.
 */
export const LOCK_CONSUMERS = `SELECT id FROM consumers WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`;
/** A consumer's position, the lowest of its partitions'. */
export const CONSUMER_POSITIONS = `UPDATE consumers c SET position = m.pos
  FROM (SELECT consumer, min(position) AS pos FROM consumer_partitions WHERE consumer = ANY($1::text[]) GROUP BY consumer) m
  WHERE c.id = m.consumer AND c.position <> m.pos`;

/**
 * Rows keyed by (consumer, seq), the last of each key kept: one INSERT … ON CONFLICT DO UPDATE may not touch
 * a row twice.
 */
function lastPerKey<T extends unknown[]>(rows: T[]): T[] {
  const byKey = new Map<string, T>();
  for (const r of rows) byKey.set(`${String(r[0])}\u0000${String(r[1])}`, r);
  return [...byKey.values()];
}

function transpose(rows: readonly unknown[][], width: number): unknown[][] {
  return Array.from({ length: width }, (_, i) => rows.map((r) => r[i]));
}

/** A progress batch, in the order the SQLite store writes it, inside the caller's transaction. */
export async function writeProgress(c: pg.PoolClient, batch: ProgressBatch, node: string): Promise<void> {
  // A consumer's row before its partitions' rows, the order of a rewind (REWOUND_AT, then REWIND_PARTITIONS)
  // and of a heartbeat: in the other order, a rewind made meanwhile on another broker deadlocks with this batch.
  const partitioned = [...new Set([...batch.floors, ...batch.partitionReservations].map((x) => x.consumer))];
  if (partitioned.length > 0) await c.query(LOCK_CONSUMERS, [partitioned]);
  if (batch.rewinds.size > 0) {
    const rewinds = [[...batch.rewinds.keys()], [...batch.rewinds.values()]];
    await c.query(DELETE_COUNTS_FROM, rewinds);
    await c.query(DELETE_REQUEUED_FROM, rewinds);
  }
  const counts = lastPerKey(batch.deliveryCounts.flatMap((d) => d.seqs.map((seq, i) => [d.consumer, seq, d.deliveries[i]!])));
  if (counts.length > 0) await c.query(UPSERT_COUNTS, transpose(counts, 3));
  const { consumers, consumerOf, seqs, ats, deliveries, sentAts } = batch.acks;
  if (seqs.length > 0) {
    const acks = lastPerKey(Array.from(seqs, (seq, i) => [consumers[consumerOf[i]!]!, seq, ats[i]!, deliveries[i]!, sentAts[i]!]));
    await c.query(UPSERT_ACKS, transpose(acks, 5));
    // Positions are per partition here and do not clear the counts below them: an ack does.
    await c.query(DELETE_PENDING_OF, transpose(acks, 2));
  }
  if (batch.deadLetters.length > 0) {
    const rows = batch.deadLetters.map((d) => [d.consumer, d.message.seq, d.message.topic, d.message.payload, d.message.metadata, d.reason, d.deliveries, d.at]);
    await c.query(INSERT_DEAD_LETTERS, transpose(rows, 8));
    await c.query(DELETE_PENDING_OF, transpose(rows, 2));
  }
  if (batch.positions.size > 0) {
    const ids = [...batch.positions.keys()];
    const positions = [...batch.positions.values()];
    await c.query(SET_POSITIONS, [ids, positions, Date.now()]);
    await c.query(DELETE_COUNTS_UP_TO, [ids, positions]);
  }
  if (batch.dead.length > 0) await c.query(MARK_DEAD, [batch.dead]);
  if (batch.partitionReservations.length > 0) {
    const r = lastPerKey(batch.partitionReservations.map((x) => [x.consumer, x.partition, x.upTo]));
    await c.query(RESERVE, [node, ...transpose(r, 3)]);
  }
  if (batch.floors.length > 0) {
    const f = batch.floors;
    await c.query(SET_FLOORS, [node, f.map((x) => x.consumer), f.map((x) => x.partition), f.map((x) => x.floor)]);
    await c.query(CONSUMER_POSITIONS, [[...new Set(f.map((x) => x.consumer))]]);
  }
}

export function parseConsumer(row: StoredConsumerRow): ConsumerRecord {
  return { ...row, patterns: JSON.parse(row.patterns) as string[], backoffMs: row.backoffMs === null ? null : (JSON.parse(row.backoffMs) as number[]) };
}
