// Every statement the broker runs against SQLite, prepared once per open database. Hot paths (append, read,
// acks) are better-sqlite3 statements; the rest are drizzle queries. A reviewer learns all the broker's SQL
// from this file and schema.ts.
import type Database from 'better-sqlite3';
import { eq, sql } from 'drizzle-orm';
import type { Db } from './db.js';
import { consumers, deadLetters } from './schema.js';

// Column aliases match StoredMessage's fields, so a row needs no mapping.
const MESSAGE_COLUMNS = `seq, message_id AS messageId, topic, payload, metadata, ttl AS ttlSeconds,
  ordering_key AS orderingKey, created_at AS createdAt`;

export function makeQueries(sqlite: Database.Database, db: Db) {
  return {
    insertMessage: sqlite.prepare(
      `INSERT INTO messages (message_id, topic, payload, metadata, ttl, status, ordering_key, created_at)
       VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
    ),
    // A message_id already in the log makes this a no-op (changes = 0); the caller then looks up its seq.
    insertMessageOnce: sqlite.prepare(
      `INSERT INTO messages (message_id, topic, payload, metadata, ttl, status, ordering_key, created_at)
       VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)
       ON CONFLICT (message_id) WHERE message_id IS NOT NULL DO NOTHING`,
    ),
    seqOfMessageId: sqlite.prepare(`SELECT seq FROM messages WHERE message_id = ?`).pluck(),
    // AUTOINCREMENT's high-water mark: survives deletion of the newest rows.
    lastSeq: sqlite.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'messages'`).pluck(),
    readFrom: sqlite.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE seq >= ? ORDER BY seq LIMIT ?`),
    readTopicFrom: sqlite.prepare(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE topic = ? AND seq >= ? ORDER BY seq LIMIT ?`,
    ),
    // created_at never decreases along seq, so the rowid order answers "first message at or after T".
    firstSeqAtOrAfter: sqlite.prepare(`SELECT seq, created_at AS createdAt FROM messages WHERE seq >= ? ORDER BY seq LIMIT 1`),
    maxSeqStored: sqlite.prepare(`SELECT max(seq) FROM messages`).pluck(),
    minSeqStored: sqlite.prepare(`SELECT min(seq) FROM messages`).pluck(),

    insertProcessed: sqlite.prepare(
      `INSERT INTO processed_messages (consumer, seq, processed_at, delivery) VALUES (?, ?, ?, ?)
       ON CONFLICT (consumer, seq) DO UPDATE SET processed_at = excluded.processed_at, delivery = excluded.delivery`,
    ),
    processedAbove: sqlite
      .prepare(`SELECT seq FROM processed_messages WHERE consumer = ? AND seq > ? AND processed_at >= ? ORDER BY seq`)
      .pluck(),
    setPosition: sqlite.prepare(`UPDATE consumers SET position = ?, updated_at = ? WHERE id = ?`),
    insertDeadLetter: sqlite.prepare(
      `INSERT INTO dead_letters (consumer, seq, topic, payload, metadata, reason, deliveries, dead_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    setStatus: sqlite.prepare(`UPDATE messages SET status = ? WHERE seq = ?`),
    // A dead letter outranks a later 'processed' from another consumer: the message failed somewhere.
    markProcessed: sqlite.prepare(`UPDATE messages SET status = 'processed' WHERE seq = ? AND status = 'pending'`),

    topicCounts: sqlite.prepare(`SELECT topic, count(*) AS n FROM messages GROUP BY topic`).raw(),
    // At most `limit` expired rows per call, so one call never holds the write lock for long.
    deleteExpired: sqlite
      .prepare(
        `DELETE FROM messages WHERE seq IN (
           SELECT seq FROM messages WHERE ttl > 0 AND created_at + ttl * 1000 <= ? LIMIT ?
         ) RETURNING topic`,
      )
      .pluck(),
    readHeaders: sqlite.prepare(
      `SELECT seq, topic, created_at AS createdAt FROM messages WHERE seq > ? ORDER BY seq LIMIT ?`,
    ),
    deleteSeq: sqlite.prepare(`DELETE FROM messages WHERE seq = ?`),

    listConsumers: db.select().from(consumers).prepare(),
    upsertConsumer: db
      .insert(consumers)
      .values({
        id: sql.placeholder('id'),
        address: sql.placeholder('address'),
        patterns: sql.placeholder('patterns'),
        position: sql.placeholder('position'),
        filter: sql.placeholder('filter'),
        rewoundAt: sql.placeholder('rewoundAt'),
        createdAt: sql.placeholder('createdAt'),
        updatedAt: sql.placeholder('updatedAt'),
      })
      .onConflictDoUpdate({
        target: consumers.id,
        set: {
          address: sql`excluded.address`,
          patterns: sql`excluded.patterns`,
          position: sql`excluded.position`,
          filter: sql`excluded.filter`,
          rewoundAt: sql`excluded.rewound_at`,
          updatedAt: sql`excluded.updated_at`,
        },
      })
      .prepare(),
    deleteConsumer: db.delete(consumers).where(eq(consumers.id, sql.placeholder('id'))).prepare(),
    deadLetterCount: db
      .select({ n: sql<number>`count(*)` })
      .from(deadLetters)
      .where(eq(deadLetters.consumer, sql.placeholder('consumer')))
      .prepare(),
  };
}

export type Queries = ReturnType<typeof makeQueries>;
