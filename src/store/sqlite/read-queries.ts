// The statements the main thread runs: reads only (catch-up pages, start-up state, retention scans), and the
// check of a transactional consumer's ack. Every write goes through the writer thread (write-queries.ts).
// Together with schema.ts these two files are all the SQL the SQLite store runs.
import type Database from 'better-sqlite3';
import { MESSAGE_COLUMNS, TOPIC_MESSAGE_COLUMNS, STATUS_CODE } from '../message-rows.js';
import type { Db } from './open.js';
import { consumers } from './schema.js';

// Typed by hand: declaration emit (the package's .d.ts) cannot name better-sqlite3's inner namespace, which
// the inferred types (drizzle's prepared queries too) would mention.
type Statement = Database.Statement;
type ConsumerRow = typeof consumers.$inferSelect;
interface AllQuery<R> {
  all(): R[];
}

export interface ReadQueries {
  readonly lastSeq: Statement;
  readonly readFrom: Statement;
  readonly readTopicFrom: Statement;
  readonly firstSeqAtOrAfter: Statement;
  readonly maxSeqStored: Statement;
  readonly minSeqStored: Statement;
  readonly processedAbove: Statement;
  readonly deliveryCountsAbove: Statement;
  readonly reservation: Statement;
  readonly topicCounts: Statement;
  readonly readHeaders: Statement;
  readonly listConsumers: AllQuery<ConsumerRow>;
  readonly listDeadLetters: Statement;
  readonly requeued: Statement;
  readonly countTopic: Statement;
  readonly tallyResolved: Statement;
  readonly tallyRequeued: Statement;
  readonly tallyDeadLetters: Statement;
  readonly message: Statement;
  readonly readRecords: Statement;
  readonly readTopicRecords: Statement;
  readonly firstOfTopic: Statement;
  readonly lastOfTopic: Statement;
  readonly lastFailures: Statement;
}

const TALLY_ASKED = `asked AS (SELECT value ->> 0 AS consumer, value ->> 1 AS after, value ->> 2 AS upto, value ->> 3 AS rewound,
  value ->> 4 AS since FROM json_each(?))`;

export function makeReadQueries(sqlite: Database.Database, db: Db): ReadQueries {
  return {
    // AUTOINCREMENT's high-water mark: survives deletion of the newest rows.
    lastSeq: sqlite.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'messages'`).pluck(),
    // Without the status: a reader that shows it (an SSE event, PROTOCOL.md §8) reads records (readRecords).
    readFrom: sqlite.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE seq >= ? ORDER BY seq LIMIT ?`).raw(),
    readTopicFrom: sqlite.prepare(`SELECT ${TOPIC_MESSAGE_COLUMNS} FROM messages WHERE topic = ? AND seq >= ? ORDER BY seq LIMIT ?`).raw(),
    // created_at never decreases along seq, so the rowid order answers "first message at or after T".
    firstSeqAtOrAfter: sqlite.prepare(`SELECT seq, created_at AS createdAt FROM messages WHERE seq >= ? ORDER BY seq LIMIT 1`),
    maxSeqStored: sqlite.prepare(`SELECT max(seq) FROM messages`).pluck(),
    minSeqStored: sqlite.prepare(`SELECT min(seq) FROM messages`).pluck(),
    // Strictly after the rewind: an ack in the rewind's own millisecond may predate it (at worst a redelivery).
    // A dead letter is done with too: after a restart it is not delivered again.
    processedAbove: sqlite
      .prepare(
        `SELECT seq FROM processed_messages WHERE consumer = @consumer AND seq > @after AND processed_at > @since
         UNION SELECT seq FROM dead_letters WHERE consumer = @consumer AND seq > @after AND dead_at > @since ORDER BY seq`,
      )
      .pluck(),
    reservation: sqlite.prepare(`SELECT reserved_seq FROM consumers WHERE id = ?`).pluck(),
    deliveryCountsAbove: sqlite.prepare(`SELECT seq, deliveries FROM delivery_counts WHERE consumer = ? AND seq > ?`).raw(),
    topicCounts: sqlite.prepare(`SELECT topic, count(*) AS n FROM messages GROUP BY topic`).raw(),
    readHeaders: sqlite.prepare(`SELECT seq, topic, created_at AS createdAt FROM messages WHERE seq > ? ORDER BY seq LIMIT ?`),
    listConsumers: db.select().from(consumers).prepare(),
    // Each consumer's newest row, one index probe each: [[id, since], ...] in, (consumer, at, error) out.
    lastFailures: sqlite.prepare(
      `SELECT f.consumer, f.failed_at AS at, f.error FROM json_each(?) AS c
       JOIN delivery_failures f ON f.id = (
         SELECT id FROM delivery_failures WHERE consumer = c.value ->> 0 AND failed_at >= c.value ->> 1
         ORDER BY failed_at DESC, id DESC LIMIT 1)`,
    ),
    listDeadLetters: sqlite.prepare(
      `SELECT seq, topic, payload, metadata, reason, deliveries, dead_at AS deadAt FROM dead_letters
       WHERE consumer = ? AND dead_at >= ? AND seq >= ? ORDER BY seq, id LIMIT ?`,
    ),
    requeued: sqlite
      .prepare(
        `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE seq IN (SELECT seq FROM requeued_messages WHERE consumer = ?) ORDER BY seq`,
      )
      .raw(),
    // Along the (topic, seq) index: a count without reading a message row.
    countTopic: sqlite.prepare(`SELECT count(*) FROM messages WHERE topic = ? AND seq > ? AND seq <= ?`).pluck(),
    // The tallies: one statement each for every consumer of a read, given as a JSON array of
    // [consumer, afterSeq, toSeq, rewoundAt, sinceMs]; each a seek of its table's (consumer, ...) key per consumer.
    tallyResolved: sqlite.prepare(
      `WITH ${TALLY_ASKED}
       SELECT r.consumer, m.seq, m.topic FROM (
         SELECT a.consumer, p.seq FROM asked a JOIN processed_messages p
           ON p.consumer = a.consumer AND p.seq > a.after AND p.seq <= a.upto AND p.processed_at > a.rewound
         UNION SELECT a.consumer, d.seq FROM asked a JOIN dead_letters d
           ON d.consumer = a.consumer AND d.seq > a.after AND d.seq <= a.upto AND d.dead_at > a.rewound
       ) r JOIN messages m ON m.seq = r.seq ORDER BY r.consumer, m.seq`,
    ),
    tallyRequeued: sqlite.prepare(
      `WITH ${TALLY_ASKED}
       SELECT r.consumer, m.seq, m.topic FROM asked a JOIN requeued_messages r ON r.consumer = a.consumer
       JOIN messages m ON m.seq = r.seq ORDER BY r.consumer, m.seq`,
    ),
    tallyDeadLetters: sqlite.prepare(
      `WITH ${TALLY_ASKED}
       SELECT a.consumer, (SELECT count(*) FROM dead_letters d WHERE d.consumer = a.consumer AND d.dead_at >= a.since) AS n FROM asked a`,
    ),
    message: sqlite.prepare(`SELECT ${MESSAGE_COLUMNS}, ${STATUS_CODE} FROM messages WHERE seq = ?`).raw(),
    readRecords: sqlite.prepare(`SELECT ${MESSAGE_COLUMNS}, ${STATUS_CODE} FROM messages WHERE seq >= ? ORDER BY seq LIMIT ?`).raw(),
    readTopicRecords: sqlite
      .prepare(`SELECT ${MESSAGE_COLUMNS}, ${STATUS_CODE} FROM messages WHERE topic = ? AND seq >= ? ORDER BY seq LIMIT ?`)
      .raw(),
    // Two statements, not min() and max() in one: SQLite answers each alone with one seek of the index.
    firstOfTopic: sqlite.prepare(`SELECT seq FROM messages WHERE topic = ? ORDER BY seq LIMIT 1`).pluck(),
    lastOfTopic: sqlite.prepare(`SELECT seq FROM messages WHERE topic = ? ORDER BY seq DESC LIMIT 1`).pluck(),
  };
}

/**
 * Whether a transactional consumer's ack is recorded since the consumer's last rewind; run on the main
 * connection, inside the application's transaction (with write-queries.ts's INSERT_PROCESSED).
 */
export const ALREADY_PROCESSED = `SELECT 1 FROM processed_messages p JOIN consumers c ON c.id = p.consumer
  WHERE p.consumer = ? AND p.seq = ? AND p.processed_at > c.rewound_at`;
