// Every statement the PostgreSQL store runs. Many rows go in one statement as arrays through unnest(): one
// round trip per kind of row, whatever the batch's size. Together with schema.ts this is all its SQL.
import type pg from 'pg';
import type { ClusterView, ConsumerMembers, ConsumerRecord, DeliveryFailure, Heartbeat, ProgressBatch } from '../../core/store-port.js';
import { DELETE_REQUEUED_FROM } from './consumer-queries.js';

/** The channel appends notify on: one per schema, so logs in other schemas do not wake this one's brokers. */
export const notifyChannel = (schema: string): string => `eventbus_log_${schema}`;
/** The channel heartbeats announce members that came or went, and partitions given up, on (Heartbeat.announce). */
export const clusterChannel = (schema: string): string => `eventbus_cluster_${schema}`;

export const HEAD = `SELECT seq FROM log_head WHERE id = 1`;

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
    f.ttl, 'pending', f.ordering_key, GREATEST(f.created_at, h.floor)
  FROM h, f
  ON CONFLICT (message_id) WHERE message_id IS NOT NULL DO NOTHING
  RETURNING seq
)
SELECT (SELECT base FROM h) AS base,
  (SELECT array_agg(seq::float8) FROM ins) AS seqs,
  (SELECT array_agg(ord::int ORDER BY ord) FROM known) AS "knownAt",
  (SELECT array_agg(seq::float8 ORDER BY ord) FROM known) AS "knownSeqs",
  CASE WHEN EXISTS (SELECT 1 FROM ins) THEN pg_notify($9, ((SELECT base FROM h) + (SELECT count(*) FROM f))::text) END`;

const MESSAGE_COLUMNS = `seq, message_id, topic, payload, metadata, ttl, ordering_key, created_at`;
// With the status: a reader shown the message (an SSE event) gets it as the log holds it (PROTOCOL.md §8).
export const READ_FROM = `SELECT ${MESSAGE_COLUMNS}, status FROM messages WHERE seq >= $1 ORDER BY seq LIMIT $2`;
export const READ_TOPIC_FROM = `SELECT ${MESSAGE_COLUMNS}, status FROM messages WHERE topic = $1 AND seq >= $2 ORDER BY seq LIMIT $3`;

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
  pause_changed_at AS "pauseChangedAt", created_at AS "createdAt", updated_at AS "updatedAt", expires_at AS "expiresAt"`;
export const LIST_CONSUMERS = `SELECT ${CONSUMER_COLUMNS} FROM consumers ORDER BY created_at, id`;

// Positions move through the heartbeat (per partition); an update of the consumer's settings leaves it
// alone, and a rewind sets it (REWIND_PARTITIONS sets its partitions' and gives their leases back).
// A pause or resume is kept only over an older one: a broker whose view predates it does not undo it.
// A lease only moves on (GREATEST ignores a null): a broker's older view does not shorten a renewal made on another.
export const UPSERT_CONSUMER = `INSERT INTO consumers (id, address, patterns, position, filter, rewound_at, paused, pause_changed_at, created_at, updated_at, expires_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
  ON CONFLICT (id) DO UPDATE SET address = excluded.address, patterns = excluded.patterns, filter = excluded.filter,
    expires_at = GREATEST(consumers.expires_at, excluded.expires_at),
    rewound_at = GREATEST(consumers.rewound_at, excluded.rewound_at), updated_at = excluded.updated_at,
    position = CASE WHEN excluded.rewound_at > consumers.rewound_at THEN excluded.position ELSE consumers.position END,
    paused = CASE WHEN excluded.pause_changed_at > consumers.pause_changed_at THEN excluded.paused ELSE consumers.paused END,
    pause_changed_at = GREATEST(consumers.pause_changed_at, excluded.pause_changed_at)`;
export const CREATE_CONSUMER = `INSERT INTO consumers (id, address, patterns, position, filter, rewound_at, paused, pause_changed_at, created_at, updated_at, expires_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING`;
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
export const DEAD_LETTER_COUNT = `SELECT count(*)::int AS n FROM dead_letters WHERE consumer = $1 AND dead_at >= $2`;
// Each consumer's newest failure, one probe of the (consumer, failed_at) index each.
export const LAST_FAILURES = `SELECT c.id AS consumer, f.failed_at AS at, f.error FROM unnest($1::text[], $2::bigint[]) AS c(id, since)
  CROSS JOIN LATERAL (SELECT failed_at, error FROM delivery_failures WHERE consumer = c.id AND failed_at >= c.since
    ORDER BY failed_at DESC LIMIT 1) f`;
export const TOPIC_COUNTS = `SELECT topic, count(*)::int AS n FROM messages GROUP BY topic`;
export const READ_HEADERS = `SELECT seq, topic, created_at AS "createdAt" FROM messages WHERE seq > $1 ORDER BY seq LIMIT $2`;

// A dead letter outranks a later 'processed' from another consumer: the message failed somewhere. The seqs
// of the runs are listed, so that each is one probe of the primary key (a join of ranges may scan the log).
export const MARK_PROCESSED = `UPDATE messages SET status = 'processed'
  WHERE seq = ANY(ARRAY(SELECT generate_series(r.f, r.t) FROM unnest($1::bigint[], $2::bigint[]) AS r(f, t)))
  AND status = 'pending'`;

// At most $2 expired rows per call, so that one call never holds locks for long; soonest expired first, along
// the expiry index.
export const DELETE_EXPIRED = `DELETE FROM messages WHERE seq = ANY(ARRAY(
  SELECT seq FROM messages WHERE ttl > 0 AND created_at + ttl::bigint * 1000 <= $1 ORDER BY created_at + ttl::bigint * 1000 LIMIT $2
)) RETURNING topic`;

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

export const UPSERT_ACKS = `INSERT INTO processed_messages (consumer, seq, processed_at, delivery)
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[])
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
export const MARK_DEAD = `UPDATE messages SET status = 'dead' WHERE seq = ANY($1::bigint[])`;

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
  if (batch.rewinds.size > 0) {
    const rewinds = [[...batch.rewinds.keys()], [...batch.rewinds.values()]];
    await c.query(DELETE_COUNTS_FROM, rewinds);
    await c.query(DELETE_REQUEUED_FROM, rewinds);
  }
  const counts = lastPerKey(batch.deliveryCounts.flatMap((d) => d.seqs.map((seq, i) => [d.consumer, seq, d.deliveries[i]!])));
  if (counts.length > 0) await c.query(UPSERT_COUNTS, transpose(counts, 3));
  const { consumers, consumerOf, seqs, ats, deliveries } = batch.acks;
  if (seqs.length > 0) {
    const acks = lastPerKey(Array.from(seqs, (seq, i) => [consumers[consumerOf[i]!]!, seq, ats[i]!, deliveries[i]!]));
    await c.query(UPSERT_ACKS, transpose(acks, 4));
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
    await setConsumerPositions(c, [...new Set(f.map((x) => x.consumer))]);
  }
}

// The cluster's heartbeat (src/core/cluster.ts), one transaction per beat. Beats of all brokers take turns
// under one advisory lock: they touch the same lease rows in no fixed order, and would deadlock otherwise.
const DB_NOW = `SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint AS now`;
const BEAT_NODE = `WITH old AS (SELECT instance, last_seen FROM nodes WHERE node_id = $1)
  INSERT INTO nodes (node_id, instance, last_seen) VALUES ($1, $2, $3)
  ON CONFLICT (node_id) DO UPDATE SET instance = excluded.instance, last_seen = excluded.last_seen
  RETURNING (SELECT instance FROM old) AS "oldInstance", (SELECT last_seen FROM old) AS "oldSeen"`;
const DROP_SILENT_NODES = `DELETE FROM nodes WHERE last_seen < $1`;
const CLEAR_MEMBERS = `DELETE FROM consumer_members WHERE node = $1 OR expires_at < $2`;
const SET_MEMBERS = `INSERT INTO consumer_members (consumer, node, members, in_flight, expires_at)
  SELECT r.c, $1, r.m, r.f, $2 FROM unnest($3::text[], $4::int[], $5::int[]) AS r(c, m, f)
  WHERE EXISTS (SELECT 1 FROM consumers WHERE id = r.c)`;
// A consumer's partitions start at its position.
const ADD_PARTITIONS = `INSERT INTO consumer_partitions (consumer, partition, position)
  SELECT c.id, p, c.position FROM consumers c CROSS JOIN generate_series(0, $2::int - 1) AS p WHERE c.id = ANY($1::text[])
  ON CONFLICT DO NOTHING`;
export const SET_FLOORS = `UPDATE consumer_partitions cp SET position = GREATEST(cp.position, r.f)
  FROM unnest($2::text[], $3::int[], $4::bigint[]) AS r(c, p, f) WHERE cp.consumer = r.c AND cp.partition = r.p AND cp.node = $1`;
// Given up cleanly, every attempt count is written: the next holder has nothing to count again, unless
// part of a crash's range was never read here (keep).
const RELEASE = `UPDATE consumer_partitions cp SET node = NULL, expires_at = 0, reserved_seq = CASE WHEN r.k THEN cp.reserved_seq ELSE 0 END
  FROM unnest($2::text[], $3::int[], $4::boolean[]) AS r(c, p, k) WHERE cp.consumer = r.c AND cp.partition = r.p AND cp.node = $1`;
const RESERVE = `UPDATE consumer_partitions cp SET reserved_seq = GREATEST(cp.reserved_seq, r.u)
  FROM unnest($2::text[], $3::int[], $4::bigint[]) AS r(c, p, u) WHERE cp.consumer = r.c AND cp.partition = r.p AND cp.node = $1`;
const RENEW = `UPDATE consumer_partitions SET expires_at = $2 WHERE node = $1`;
const ACQUIRE = `UPDATE consumer_partitions cp SET node = $1, expires_at = $2
  FROM unnest($4::text[], $5::int[]) AS r(c, p)
  WHERE cp.consumer = r.c AND cp.partition = r.p AND (cp.node IS NULL OR cp.expires_at < $3)`;
export const LOCK_CONSUMERS = `SELECT id FROM consumers WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`;
export const CONSUMER_POSITIONS = `UPDATE consumers c SET position = m.pos
  FROM (SELECT consumer, min(position) AS pos FROM consumer_partitions WHERE consumer = ANY($1::text[]) GROUP BY consumer) m
  WHERE c.id = m.consumer AND c.position <> m.pos`;

/**
 * A consumer's position, the lowest of its partitions', inside the caller's transaction. Two brokers
 * writing their partitions' floors at once would each read the other's as they were and write a position
 * that neither leaves behind; with the consumer's row locked first, the second reads (in a statement begun
 * after the lock) what the first committed.
 */
export async function setConsumerPositions(c: pg.PoolClient, consumers: readonly string[]): Promise<void> {
  await c.query(LOCK_CONSUMERS, [consumers]);
  await c.query(CONSUMER_POSITIONS, [consumers]);
}
const DROP_LEASES = `DELETE FROM leases WHERE node = $1 AND NOT (name = ANY($2::text[]))`;
const TAKE_LEASES = `INSERT INTO leases (name, node, expires_at) SELECT n, $1, $2 FROM unnest($4::text[]) AS n
  ON CONFLICT (name) DO UPDATE SET node = excluded.node, expires_at = excluded.expires_at
  WHERE leases.node = excluded.node OR leases.expires_at < $3
  RETURNING name`;
const HELD = `SELECT consumer, partition, position, reserved_seq AS reserved FROM consumer_partitions WHERE node = $1`;
const MEMBERS = `SELECT consumer, node, members, in_flight AS "inFlight" FROM consumer_members ORDER BY consumer, node`;
const NODES = `SELECT node_id AS node, last_seen AS "lastSeen" FROM nodes ORDER BY node_id`;
const ANNOUNCE = `SELECT pg_notify($1, $2)`;
// PostgreSQL refuses a payload of 8,000 bytes or more; past this the consumers are left out, meaning any.
const MAX_ANNOUNCE_BYTES = 7000;

/** A heartbeat's announcement: who sent it, and the consumers it concerns (undefined: any). */
export function announcement(from: string, consumers: readonly string[]): string {
  const payload = JSON.stringify({ from, consumers });
  return Buffer.byteLength(payload) <= MAX_ANNOUNCE_BYTES ? payload : JSON.stringify({ from });
}

export function parseAnnouncement(payload: string | undefined): { from: string; consumers: string[] | undefined } | undefined {
  try {
    const a = JSON.parse(payload ?? '') as { from?: unknown; consumers?: unknown } | null;
    if (typeof a?.from !== 'string') return undefined;
    const consumers = Array.isArray(a.consumers) && a.consumers.every((c) => typeof c === 'string') ? a.consumers : undefined;
    return { from: a.from, consumers };
  } catch {
    return undefined; // not ours
  }
}

export const CLUSTER_LOCK = 'cluster';

export interface BeatResult {
  readonly view: ClusterView;
  /** Another process beat under this broker's name lately. */
  readonly clash: boolean;
}

/** One heartbeat, inside the caller's transaction (which holds the cluster lock); its announcement goes on `channel` at commit. */
export async function heartbeat(c: pg.PoolClient, node: string, instance: string, beat: Heartbeat, channel: string): Promise<BeatResult> {
  const now = (await c.query<{ now: number }>(DB_NOW)).rows[0]!.now;
  const until = now + beat.ttlMs;
  const seen = (await c.query<{ oldInstance: string | null; oldSeen: number | null }>(BEAT_NODE, [node, instance, now])).rows[0]!;
  const clash = seen.oldInstance !== null && seen.oldInstance !== instance && seen.oldSeen! >= now - beat.nodeTimeoutMs;
  await c.query(DROP_SILENT_NODES, [now - beat.nodeTimeoutMs]);
  await c.query(CLEAR_MEMBERS, [node, now]);
  const ids = beat.members.map((m) => m.consumer);
  if (ids.length > 0) {
    await c.query(SET_MEMBERS, [node, until, ids, beat.members.map((m) => m.members), beat.members.map((m) => m.inFlight)]);
    await c.query(ADD_PARTITIONS, [ids, beat.partitions]);
  }
  if (beat.release.length > 0) {
    const r = beat.release;
    await c.query(RELEASE, [node, r.map((x) => x.consumer), r.map((x) => x.partition), r.map((x) => x.keep === true)]);
  }
  await c.query(RENEW, [node, until]);
  if (beat.want.length > 0) await c.query(ACQUIRE, [node, until, now, beat.want.map((w) => w.consumer), beat.want.map((w) => w.partition)]);
  const moved = [...new Set(beat.release.map((r) => r.consumer))];
  if (moved.length > 0) await setConsumerPositions(c, moved);
  await c.query(DROP_LEASES, [node, beat.leases]);
  const taken = beat.leases.length === 0 ? [] : (await c.query<{ name: string }>(TAKE_LEASES, [node, until, now, beat.leases])).rows;
  const held = new Map<string, Map<number, number>>();
  const reserved = new Map<string, Map<number, number>>();
  for (const r of (await c.query<{ consumer: string; partition: number; position: number; reserved: number }>(HELD, [node])).rows) {
    let of = held.get(r.consumer);
    if (of === undefined) held.set(r.consumer, (of = new Map<number, number>()));
    of.set(r.partition, r.position);
    let marks = reserved.get(r.consumer);
    if (marks === undefined) reserved.set(r.consumer, (marks = new Map<number, number>()));
    marks.set(r.partition, r.reserved);
  }
  const members = new Map<string, ConsumerMembers[]>();
  for (const r of (await c.query<ConsumerMembers & { consumer: string }>(MEMBERS)).rows) {
    let of = members.get(r.consumer);
    if (of === undefined) members.set(r.consumer, (of = []));
    of.push({ node: r.node, members: r.members, inFlight: r.inFlight });
  }
  const nodes = (await c.query<{ node: string; lastSeen: number }>(NODES)).rows;
  if (beat.announce.length > 0) await c.query(ANNOUNCE, [channel, announcement(instance, beat.announce)]);
  const consumers = (await c.query<ConsumerRecord & { patterns: string }>(LIST_CONSUMERS)).rows.map(parseConsumer);
  return { view: { consumers, held, reserved, members, leases: new Set(taken.map((t) => t.name)), nodes }, clash };
}

export function parseConsumer(row: ConsumerRecord & { patterns: string }): ConsumerRecord {
  return { ...row, patterns: JSON.parse(row.patterns) as string[] };
}
