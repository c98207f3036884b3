// The PostgreSQL store's statements for the operator surface: pausing a consumer, its dead letters (listing,
// requeueing, deleting) and what is read to count lag and browse the log. As in queries.ts, every statement
// walks an index whatever the table's size (test/store/postgres-plans.test.ts plans each).
import type pg from 'pg';
import type { ConsumerSignal, DeadLetterSelection } from '../../core/store-port.js';
import { MESSAGE_COLUMNS, STATUS_CODE } from '../message-rows.js';
import { MESSAGE_STATUS } from '../message-statuses.js';

/** The channel pauses and requeues notify on, one per schema: other brokers apply them at once. */
export const consumerChannel = (schema: string): string => `eventbus_consumers_${schema}`;


// A pause or resume older than the one stored is a late echo and changes nothing; the notification goes at
// commit, and only for a change that was made.
export const SET_PAUSED = `WITH u AS (
  UPDATE consumers SET paused = $2, pause_changed_at = $3 WHERE id = $1 AND pause_changed_at < $3 RETURNING id
)
SELECT pg_notify($4, $5) FROM u`;

export const LIST_DEAD_LETTERS = `SELECT seq, topic, payload, metadata, reason, deliveries, dead_at AS "deadAt" FROM dead_letters
  WHERE consumer = $1 AND dead_at >= $2 AND seq >= $3 ORDER BY seq LIMIT $4`;
export const TAKE_DEAD = `DELETE FROM dead_letters WHERE consumer = $1 AND dead_at >= $2 AND seq = ANY($3::bigint[]) RETURNING seq`;
export const TAKE_ALL_DEAD = `DELETE FROM dead_letters WHERE consumer = $1 AND dead_at >= $2 RETURNING seq`;
// Only messages the log still holds can be delivered again.
export const INSERT_REQUEUED = `INSERT INTO requeued_messages (consumer, seq, requeued_at)
  SELECT $1, seq, $3 FROM messages WHERE seq = ANY($2::bigint[])
  ON CONFLICT (consumer, seq) DO UPDATE SET requeued_at = excluded.requeued_at`;
// Dead for no consumer any more: pending again, until its consumers ack it.
export const REVIVE = `UPDATE messages m SET status = '${MESSAGE_STATUS.pending}' WHERE m.seq = ANY($1::bigint[]) AND m.status = '${MESSAGE_STATUS.dead}'
  AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.seq = m.seq)`;
// A deleted dead letter above the position stays done for the consumer: as an ack, not a message to resend.
export const RECORD_DONE = `INSERT INTO processed_messages (consumer, seq, processed_at, delivery)
  SELECT c.id, s.seq, $3, 0 FROM consumers c CROSS JOIN unnest($2::bigint[]) AS s(seq) WHERE c.id = $1 AND s.seq > c.position
  ON CONFLICT (consumer, seq) DO NOTHING`;
export const NOTIFY = `SELECT pg_notify($1, $2)`;

// One primary-key probe of the log per requeued message.
export const REQUEUED = `SELECT m.* FROM requeued_messages r
  CROSS JOIN LATERAL (SELECT ${MESSAGE_COLUMNS} FROM messages WHERE seq = r.seq LIMIT 1) m WHERE r.consumer = $1 ORDER BY r.seq`;
/** Acked or dead-lettered again: no longer waiting as requeued (in one statement with the delivery counts). */
export const DELETE_REQUEUED_FROM = `DELETE FROM requeued_messages r USING unnest($1::text[], $2::bigint[]) AS a(consumer, seq)
  WHERE r.consumer = a.consumer AND r.seq >= a.seq`;
export const DELETE_ORPHAN_REQUEUED = `DELETE FROM requeued_messages r WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.seq = r.seq)`;

export const COUNT_TOPICS = `SELECT count(*)::int AS n FROM messages WHERE topic = ANY($1::text[]) AND seq > $2 AND seq <= $3`;
// The tallies of every consumer of a read: $1..$5 are the consumers, their positions, heads, last rewinds and
// creation times, one probe of each table's (consumer, ...) key per consumer.
const TALLY_ASKED = `unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS a(consumer, after, upto, rewound, since)`;
// Lateral, so that each consumer's rows are a probe of the keys whatever the planner thinks of the tables' size.
export const TALLY_RESOLVED = `SELECT a.consumer, m.seq, m.topic FROM ${TALLY_ASKED}
  CROSS JOIN LATERAL (
    SELECT seq FROM processed_messages p WHERE p.consumer = a.consumer AND p.seq > a.after AND p.seq <= a.upto AND p.processed_at > a.rewound
    UNION SELECT seq FROM dead_letters d WHERE d.consumer = a.consumer AND d.seq > a.after AND d.seq <= a.upto AND d.dead_at > a.rewound
  ) r
  CROSS JOIN LATERAL (SELECT seq, topic FROM messages WHERE seq = r.seq) m ORDER BY a.consumer, m.seq`;
export const TALLY_REQUEUED = `SELECT r.consumer, m.seq, m.topic FROM ${TALLY_ASKED}
  JOIN requeued_messages r ON r.consumer = a.consumer JOIN messages m ON m.seq = r.seq ORDER BY r.consumer, m.seq`;
export const TALLY_DEAD_LETTERS = `SELECT a.consumer,
  (SELECT count(*)::int FROM dead_letters d WHERE d.consumer = a.consumer AND d.dead_at >= a.since) AS n FROM ${TALLY_ASKED}`;
export const MESSAGE = `SELECT ${MESSAGE_COLUMNS}, ${STATUS_CODE} FROM messages WHERE seq = $1`;
export const READ_RECORDS = `SELECT ${MESSAGE_COLUMNS}, ${STATUS_CODE} FROM messages WHERE seq >= $1 ORDER BY seq LIMIT $2`;
export const READ_TOPIC_RECORDS = `SELECT ${MESSAGE_COLUMNS}, ${STATUS_CODE} FROM messages WHERE topic = $1 AND seq >= $2 ORDER BY seq LIMIT $3`;
export const TOPIC_BOUNDS = `SELECT t.topic,
  (SELECT seq FROM messages WHERE topic = t.topic ORDER BY seq LIMIT 1) AS first,
  (SELECT seq FROM messages WHERE topic = t.topic ORDER BY seq DESC LIMIT 1) AS last
  FROM unnest($1::text[]) AS t(topic)`;

/** The selected dead letters, deleted inside the caller's transaction: their distinct seqs and how many rows went. */
async function take(c: pg.PoolClient, selection: DeadLetterSelection): Promise<{ seqs: number[]; rows: number }> {
  const { consumer, sinceMs } = selection;
  const taken =
    selection.seqs === undefined
      ? await c.query<{ seq: number }>(TAKE_ALL_DEAD, [consumer, sinceMs])
      : await c.query<{ seq: number }>(TAKE_DEAD, [consumer, sinceMs, selection.seqs]);
  return { seqs: [...new Set(taken.rows.map((r) => r.seq))], rows: taken.rows.length };
}

/** A notification of the consumers' channel: the signal, and which store sent it (a store ignores its own). */
export function signalPayload(from: string, signal: ConsumerSignal): string {
  return JSON.stringify({ from, ...signal });
}

/** Requeues the selected dead letters, inside the caller's transaction; other brokers hear of it at commit. */
export async function requeueDeadLetters(
  c: pg.PoolClient,
  selection: DeadLetterSelection,
  atMs: number,
  notify: { channel: string; from: string },
): Promise<number> {
  const { seqs, rows } = await take(c, selection);
  if (seqs.length === 0) return 0;
  await c.query(INSERT_REQUEUED, [selection.consumer, seqs, atMs]);
  await c.query(REVIVE, [seqs]);
  await c.query(NOTIFY, [notify.channel, signalPayload(notify.from, { kind: 'requeued', consumer: selection.consumer })]);
  return rows;
}

/** Deletes the selected dead letters, inside the caller's transaction. */
export async function deleteDeadLetters(c: pg.PoolClient, selection: DeadLetterSelection, atMs: number): Promise<number> {
  const { seqs, rows } = await take(c, selection);
  if (seqs.length > 0) await c.query(RECORD_DONE, [selection.consumer, seqs, atMs]);
  return rows;
}

/** A notification of the consumers' channel and who sent it, or undefined for one this version does not know. */
export function parseSignal(payload: string | undefined): { from: string; signal: ConsumerSignal } | undefined {
  try {
    const s = JSON.parse(payload ?? '') as (Partial<ConsumerSignal> & { from?: unknown }) | null;
    const from = typeof s?.from === 'string' ? s.from : '';
    if (s?.kind === 'credentials') return { from, signal: { kind: 'credentials' } };
    if (s?.kind === 'removed' && typeof s.first === 'number' && typeof s.last === 'number') return { from, signal: { kind: 'removed', first: s.first, last: s.last } };
    if (s?.kind === 'requeued' && typeof s.consumer === 'string') return { from, signal: { kind: 'requeued', consumer: s.consumer } };
    if (s?.kind === 'paused' && typeof s.consumer === 'string' && typeof s.paused === 'boolean' && typeof s.changedAt === 'number') {
      return { from, signal: { kind: 'paused', consumer: s.consumer, paused: s.paused, changedAt: s.changedAt } };
    }
  } catch {
    // not ours
  }
  return undefined;
}
