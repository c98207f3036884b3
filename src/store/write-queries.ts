// Every write the broker makes, as synchronous better-sqlite3 transactions over one connection: the writer
// thread's whole job (writer-worker.ts). Raw SQL only, no drizzle, so the thread starts in milliseconds.
import type Database from 'better-sqlite3';
import type { AppendRow, Appended, ConsumerRecord, ProgressBatch } from './store.js';

export function makeWriter(sqlite: Database.Database) {
  const insertMessage = sqlite.prepare(
    `INSERT INTO messages (message_id, topic, payload, metadata, ttl, status, ordering_key, created_at)
     VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
  );
  // A message_id already in the log makes this a no-op (changes = 0); its seq is then looked up.
  const insertMessageOnce = sqlite.prepare(
    `INSERT INTO messages (message_id, topic, payload, metadata, ttl, status, ordering_key, created_at)
     VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)
     ON CONFLICT (message_id) WHERE message_id IS NOT NULL DO NOTHING`,
  );
  const seqOfMessageId = sqlite.prepare(`SELECT seq FROM messages WHERE message_id = ?`).pluck();
  const insertProcessed = sqlite.prepare(
    `INSERT INTO processed_messages (consumer, seq, processed_at, delivery) VALUES (?, ?, ?, ?)
     ON CONFLICT (consumer, seq) DO UPDATE SET processed_at = excluded.processed_at, delivery = excluded.delivery`,
  );
  const setPosition = sqlite.prepare(`UPDATE consumers SET position = ?, updated_at = ? WHERE id = ?`);
  const insertDeadLetter = sqlite.prepare(
    `INSERT INTO dead_letters (consumer, seq, topic, payload, metadata, reason, deliveries, dead_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const markDead = sqlite.prepare(`UPDATE messages SET status = 'dead' WHERE seq = ?`);
  // A dead letter outranks a later 'processed' from another consumer: the message failed somewhere.
  const markProcessed = sqlite.prepare(`UPDATE messages SET status = 'processed' WHERE seq = ? AND status = 'pending'`);
  // Positions move only through progress batches, in order with the acks behind them; an update of the
  // consumer's settings leaves its position alone.
  const upsertConsumer = sqlite.prepare(
    `INSERT INTO consumers (id, address, patterns, position, filter, rewound_at, created_at, updated_at)
     VALUES (@id, @address, @patterns, @position, @filter, @rewoundAt, @createdAt, @updatedAt)
     ON CONFLICT (id) DO UPDATE SET address = excluded.address, patterns = excluded.patterns,
       filter = excluded.filter, rewound_at = excluded.rewound_at, updated_at = excluded.updated_at`,
  );
  const deleteConsumer = sqlite.prepare(`DELETE FROM consumers WHERE id = ?`);
  // At most `limit` expired rows per call, so one call never holds the write lock for long.
  const deleteExpired = sqlite
    .prepare(
      `DELETE FROM messages WHERE seq IN (
         SELECT seq FROM messages WHERE ttl > 0 AND created_at + ttl * 1000 <= ? LIMIT ?
       ) RETURNING topic`,
    )
    .pluck();
  const deleteSeq = sqlite.prepare(`DELETE FROM messages WHERE seq = ?`);

  return {
    append: sqlite.transaction((rows: readonly AppendRow[]): Appended[] => {
      const out: Appended[] = new Array(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        if (r.messageId === null) {
          const info = insertMessage.run(null, r.topic, r.payload, r.metadata, r.ttlSeconds, r.orderingKey, r.createdAt);
          out[i] = { seq: Number(info.lastInsertRowid), duplicate: false };
          continue;
        }
        const info = insertMessageOnce.run(r.messageId, r.topic, r.payload, r.metadata, r.ttlSeconds, r.orderingKey, r.createdAt);
        out[i] =
          info.changes === 1
            ? { seq: Number(info.lastInsertRowid), duplicate: false }
            : { seq: seqOfMessageId.get(r.messageId) as number, duplicate: true };
      }
      return out;
    }).immediate,

    progress: sqlite.transaction((batch: ProgressBatch): void => {
      for (const a of batch.acks) insertProcessed.run(a.consumer, a.seq, a.at, a.delivery);
      for (const d of batch.deadLetters) {
        const m = d.message;
        insertDeadLetter.run(d.consumer, m.seq, m.topic, m.payload, m.metadata, d.reason, d.deliveries, d.at);
      }
      const now = Date.now();
      for (const [consumer, position] of batch.positions) setPosition.run(position, now, consumer);
      for (const seq of batch.dead) markDead.run(seq);
    }).immediate,

    markProcessed: sqlite.transaction((seqs: readonly number[]): void => {
      for (const seq of seqs) markProcessed.run(seq);
    }).immediate,

    saveConsumer: (record: ConsumerRecord): void => {
      upsertConsumer.run({ ...record, patterns: JSON.stringify(record.patterns) });
    },

    deleteConsumer: (id: string): void => {
      deleteConsumer.run(id);
    },

    deleteExpired: (nowMs: number, limit: number): string[] => deleteExpired.all(nowMs, limit) as string[],

    deleteSeqs: sqlite.transaction((seqs: readonly number[]): void => {
      for (const seq of seqs) deleteSeq.run(seq);
    }).immediate,
  };
}

export type Writer = ReturnType<typeof makeWriter>;
export type WriteOp = keyof Writer;
