/* eslint-disable @typescript-eslint/unbound-method -- better-sqlite3's transaction variants (.immediate) are
   functions of their own that do not use `this`; its types declare them as methods. */
// Every write the broker makes, as synchronous better-sqlite3 transactions over one connection: the writer
// thread's whole job (writer-worker.ts). Raw SQL only, no drizzle, so the thread starts in milliseconds.
import type Database from 'better-sqlite3';
import { checkWritable } from './pragmas.js';
import type { ConsumerRecord, DeliveryFailure, ProgressBatch, ScheduleClaim, MessageRef, SeqRun } from '../../core/store-port.js';
import type { AppendColumns } from '../append-columns.js';
import { MESSAGE_STATUS } from '../message-statuses.js';
import { makeConsumerWriter } from './consumer-writes.js';
import { makeCredentialWriter } from './credential-writes.js';
import { makeFireClaimer, makeScheduleWriter } from './schedule-writes.js';

/** A VALUES list of `rows` copies of `tuple`, for the statements that insert many rows at once. */
function valuesList(tuple: string, rows: number): string {
  return new Array(rows).fill(tuple).join(', ');
}

/** Whether none of the rows from `from` to `to` (not included) is a schedule's fire. */
function noClaimIn(claims: readonly (ScheduleClaim | undefined)[], from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (claims[i] !== undefined) return false;
  return true;
}

/** Acks inserted by `rows` (each consumer, seq, processed_at, delivery) in one statement. */
function insertProcessedSql(rows: number): string {
  return `INSERT INTO processed_messages (consumer, seq, processed_at, delivery) VALUES ${valuesList('(?, ?, ?, ?)', rows)}
  ON CONFLICT (consumer, seq) DO UPDATE SET processed_at = excluded.processed_at, delivery = excluded.delivery`;
}

/** One ack: written by the writer thread, and by a transactional consumer inside its own transaction. */
export const INSERT_PROCESSED = insertProcessedSql(1);

// Acks arrive by the thousand during a replay: one statement per 64 rows costs far less than 64 statements
// (docs/internals.md).
const ACKS_PER_STATEMENT = 64;
// The same for published messages, 32 rows per INSERT. The rows of one statement get consecutive seqs
// (AUTOINCREMENT gives each new row the largest seq so far plus one, and the statement runs alone).
export const MESSAGES_PER_STATEMENT = 32;

export function makeWriter(sqlite: Database.Database) {
  const insertMessage = sqlite.prepare(
    `INSERT INTO messages (message_id, topic, payload, metadata, ttl, status, ordering_key, created_at)
     VALUES (?, ?, ?, ?, ?, '${MESSAGE_STATUS.pending}', ?, ?)`,
  );
  const insertMessagesMany = sqlite.prepare(
    `INSERT INTO messages (message_id, topic, payload, metadata, ttl, status, ordering_key, created_at)
     VALUES ${valuesList(`(?, ?, ?, ?, ?, '${MESSAGE_STATUS.pending}', ?, ?)`, MESSAGES_PER_STATEMENT)}`,
  );
  const messagesArgs = new Array<string | number | null>(MESSAGES_PER_STATEMENT * 7);
  // Looked up before inserting: an INSERT … ON CONFLICT DO NOTHING would use up a seq for every duplicate.
  const seqOfMessageId = sqlite.prepare(`SELECT seq FROM messages WHERE message_id = ?`).pluck();
  const anyIdStored = sqlite.prepare(`SELECT 1 FROM messages WHERE message_id IN (${valuesList('?', MESSAGES_PER_STATEMENT)}) LIMIT 1`).pluck();
  const idArgs = new Array<string | null>(MESSAGES_PER_STATEMENT);
  const chunkIds = new Set<string>();
  /** Whether the MESSAGES_PER_STATEMENT rows from `from` can go in one statement: no id repeated, none stored. */
  const allNew = (ids: readonly (string | null)[], from: number): boolean => {
    chunkIds.clear();
    for (let j = 0; j < MESSAGES_PER_STATEMENT; j++) {
      const id = (idArgs[j] = ids[from + j] ?? null);
      if (id === null) continue;
      if (chunkIds.has(id)) return false;
      chunkIds.add(id);
    }
    return chunkIds.size === 0 || anyIdStored.get(idArgs) === undefined;
  };
  const claimFire = makeFireClaimer(sqlite);
  const insertProcessed = sqlite.prepare(INSERT_PROCESSED);
  const insertProcessedMany = sqlite.prepare(insertProcessedSql(ACKS_PER_STATEMENT));
  const manyArgs = new Array<string | number>(ACKS_PER_STATEMENT * 4);
  const setPosition = sqlite.prepare(`UPDATE consumers SET position = ?, updated_at = ? WHERE id = ?`);
  const setReserved = sqlite.prepare(`UPDATE consumers SET reserved_seq = ? WHERE id = ?`);
  const lowerReserved = sqlite.prepare(`UPDATE consumers SET reserved_seq = min(reserved_seq, ?) WHERE id = ?`);
  const upsertDeliveryCount = sqlite.prepare(
    `INSERT INTO delivery_counts (consumer, seq, deliveries) VALUES (?, ?, ?)
     ON CONFLICT (consumer, seq) DO UPDATE SET deliveries = excluded.deliveries`,
  );
  const deleteCountsUpTo = sqlite.prepare(`DELETE FROM delivery_counts WHERE consumer = ? AND seq <= ?`);
  const deleteCountsFrom = sqlite.prepare(`DELETE FROM delivery_counts WHERE consumer = ? AND seq >= ?`);
  const deleteCounts = sqlite.prepare(`DELETE FROM delivery_counts WHERE consumer = ?`);
  // Requeued dead letters end with the consumer's next ack or dead letter of them. Most batches are written
  // while none is waiting: one probe then spares a delete per ack.
  const anyRequeued = sqlite.prepare(`SELECT 1 FROM requeued_messages LIMIT 1`).pluck();
  const deleteRequeued = sqlite.prepare(`DELETE FROM requeued_messages WHERE consumer = ? AND seq = ?`);
  // A rewind reads them again from the log.
  const deleteRequeuedFrom = sqlite.prepare(`DELETE FROM requeued_messages WHERE consumer = ? AND seq >= ?`);
  const deleteAllRequeued = sqlite.prepare(`DELETE FROM requeued_messages WHERE consumer = ?`);
  // Requeued messages the log no longer holds can never be delivered.
  const deleteOrphanRequeued = sqlite.prepare(
    `DELETE FROM requeued_messages WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.seq = requeued_messages.seq)`,
  );
  const insertDeadLetter = sqlite.prepare(
    `INSERT INTO dead_letters (consumer, seq, topic, payload, metadata, reason, deliveries, dead_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const markDead = sqlite.prepare(`UPDATE messages SET status = '${MESSAGE_STATUS.dead}' WHERE seq = ?`);
  // A dead letter outranks a later 'processed' from another consumer: the message failed somewhere.
  const markProcessed = sqlite.prepare(
    `UPDATE messages SET status = '${MESSAGE_STATUS.processed}' WHERE seq BETWEEN ? AND ? AND status = '${MESSAGE_STATUS.pending}'`,
  );
  // Positions move only through progress batches, in order with the acks behind them; an update of the
  // consumer's settings leaves its position alone.
  const upsertConsumer = sqlite.prepare(
    `INSERT INTO consumers (id, address, patterns, position, filter, rewound_at, paused, pause_changed_at, created_at, updated_at, expires_at, backoff_ms, format,
       ack_timeout_ms, max_deliveries, max_in_flight)
     VALUES (@id, @address, @patterns, @position, @filter, @rewoundAt, @paused, @pauseChangedAt, @createdAt, @updatedAt, @expiresAt, @backoffMs, @format,
       @ackTimeoutMs, @maxDeliveries, @maxInFlight)
     ON CONFLICT (id) DO UPDATE SET address = excluded.address, patterns = excluded.patterns, backoff_ms = excluded.backoff_ms, format = excluded.format,
       ack_timeout_ms = excluded.ack_timeout_ms, max_deliveries = excluded.max_deliveries, max_in_flight = excluded.max_in_flight,
       filter = excluded.filter, rewound_at = excluded.rewound_at, updated_at = excluded.updated_at, expires_at = excluded.expires_at,
       paused = CASE WHEN excluded.pause_changed_at > consumers.pause_changed_at THEN excluded.paused ELSE consumers.paused END,
       pause_changed_at = max(consumers.pause_changed_at, excluded.pause_changed_at)`,
  );
  const deleteConsumer = sqlite.prepare(`DELETE FROM consumers WHERE id = ?`);
  const deleteLapsedConsumer = sqlite.prepare(`DELETE FROM consumers WHERE id = ? AND expires_at <= ?`);
  // At most `limit` expired rows per call, so one call never holds the write lock for long.
  const deleteExpired = sqlite
    .prepare(
      `DELETE FROM messages WHERE seq IN (
         SELECT seq FROM messages WHERE ttl > 0 AND created_at + ttl * 1000 <= ? LIMIT ?
       ) RETURNING seq, topic`,
    );
  const deleteSeq = sqlite.prepare(`DELETE FROM messages WHERE seq = ?`);
  // Failures are recorded about in time order, so the oldest rows have the lowest ids: only the first
  // `limit` rows are looked at, and a table with nothing old enough costs a short walk, not a scan. A row
  // recorded out of order waits for the rows before it.
  const deleteFailuresBefore = sqlite.prepare(
    `DELETE FROM delivery_failures WHERE id IN (
       SELECT id FROM (SELECT id, failed_at FROM delivery_failures ORDER BY id LIMIT ?) WHERE failed_at < ?
     )`,
  );
  // Pruning acks: a consumer's acks of messages the log no longer holds, at or below its position, and
  // every ack of a consumer that was removed. The broker never reads those again (resuming looks above the
  // position), and without this the table would grow for as long as the broker runs.
  const consumerPositions = sqlite.prepare(`SELECT id, position FROM consumers`).raw();
  // The consumers that have acks, one index seek each rather than a scan of the table.
  const nextAckingConsumer = sqlite
    .prepare(`SELECT consumer FROM processed_messages WHERE consumer > ? ORDER BY consumer LIMIT 1`)
    .pluck();
  const oldestSeq = sqlite.prepare(`SELECT min(seq) FROM messages`).pluck();
  const nextSeq = sqlite.prepare(`SELECT seq + 1 FROM sqlite_sequence WHERE name = 'messages'`).pluck();
  const nthAckUpTo = sqlite
    .prepare(`SELECT seq FROM processed_messages WHERE consumer = ? AND seq <= ? ORDER BY seq LIMIT 1 OFFSET ?`)
    .pluck();
  const deleteAcksUpTo = sqlite.prepare(`DELETE FROM processed_messages WHERE consumer = ? AND seq <= ?`);
  const insertFailure = sqlite.prepare(
    `INSERT INTO delivery_failures (consumer, address, seq, attempt, failed_at, latency_ms, error, http_status)
     VALUES (@consumer, @address, @seq, @attempt, @failedAt, @latencyMs, @error, @httpStatus)`,
  );

  return {
    ...makeConsumerWriter(sqlite),
    ...makeScheduleWriter(sqlite),
    ...makeCredentialWriter(sqlite),

    /**
     * Each row's seq; negative (-seq of the original) where the message id was already stored, 0 where the row
     * is a schedule's fire (at its index in `claims`) whose claim did not hold.
     */
    append: sqlite.transaction((c: AppendColumns, claims?: readonly (ScheduleClaim | undefined)[]): Float64Array => {
      const n = c.topics.length;
      const seqs = new Float64Array(n);
      let i = 0;
      while (i < n) {
        const chunkEnd = i + MESSAGES_PER_STATEMENT;
        if (chunkEnd <= n && (claims === undefined || noClaimIn(claims, i, chunkEnd)) && allNew(c.messageIds, i)) {
          for (let j = i, k = 0; j < chunkEnd; j++) {
            messagesArgs[k++] = c.messageIds[j] ?? null;
            messagesArgs[k++] = c.topics[j]!;
            messagesArgs[k++] = c.payloads[j]!;
            messagesArgs[k++] = c.metadata[j]!;
            messagesArgs[k++] = c.ttls[j]!;
            messagesArgs[k++] = c.orderingKeys[j] ?? null;
            messagesArgs[k++] = c.createdAts[j]!;
          }
          const last = Number(insertMessagesMany.run(messagesArgs).lastInsertRowid);
          for (let j = 0; j < MESSAGES_PER_STATEMENT; j++) seqs[i + j] = last - MESSAGES_PER_STATEMENT + 1 + j;
          i = chunkEnd;
          continue;
        }
        // Row by row: the tail, or a chunk holding a repeated or stored id (each answered with the original's seq).
        for (const end = Math.min(chunkEnd, n); i < end; i++) {
          const claim = claims?.[i];
          if (claim !== undefined && !claimFire(claim)) continue; // seqs[i] stays 0
          const id = c.messageIds[i] ?? null;
          const original = id === null ? undefined : (seqOfMessageId.get(id) as number | undefined);
          if (original !== undefined) {
            seqs[i] = -original;
          } else {
            // Arguments spelled out: this runs once per published message, and a spread array per row shows.
            const r = insertMessage.run(id, c.topics[i], c.payloads[i], c.metadata[i], c.ttls[i], c.orderingKeys[i], c.createdAts[i]);
            seqs[i] = Number(r.lastInsertRowid);
          }
        }
      }
      return seqs;
    }).immediate,

    progress: sqlite.transaction((batch: ProgressBatch): void => {
      for (const [consumer, from] of batch.rewinds) {
        deleteCountsFrom.run(consumer, from);
        deleteRequeuedFrom.run(consumer, from);
        // Starting over: what is delivered from there on is a first delivery, reserved anew (below).
        lowerReserved.run(from - 1, consumer);
      }
      for (const [consumer, upTo] of batch.reservations) setReserved.run(upTo, consumer);
      for (const counts of batch.deliveryCounts) {
        for (let i = 0; i < counts.seqs.length; i++) upsertDeliveryCount.run(counts.consumer, counts.seqs[i], counts.deliveries[i]);
      }
      const { consumers, consumerOf, seqs, ats, deliveries } = batch.acks;
      let i = 0;
      for (; i + ACKS_PER_STATEMENT <= seqs.length; i += ACKS_PER_STATEMENT) {
        for (let j = 0, k = 0; j < ACKS_PER_STATEMENT; j++) {
          manyArgs[k++] = consumers[consumerOf[i + j]!]!;
          manyArgs[k++] = seqs[i + j]!;
          manyArgs[k++] = ats[i + j]!;
          manyArgs[k++] = deliveries[i + j]!;
        }
        insertProcessedMany.run(manyArgs);
      }
      for (; i < seqs.length; i++) insertProcessed.run(consumers[consumerOf[i]!], seqs[i], ats[i], deliveries[i]);
      for (const d of batch.deadLetters) {
        const m = d.message;
        insertDeadLetter.run(d.consumer, m.seq, m.topic, m.payload, m.metadata, d.reason, d.deliveries, d.at);
      }
      if (anyRequeued.get() !== undefined) {
        for (let j = 0; j < seqs.length; j++) deleteRequeued.run(consumers[consumerOf[j]!], seqs[j]);
        for (const d of batch.deadLetters) deleteRequeued.run(d.consumer, d.message.seq);
      }
      const now = Date.now();
      for (const [consumer, position] of batch.positions) {
        setPosition.run(position, now, consumer);
        deleteCountsUpTo.run(consumer, position);
      }
      for (const seq of batch.dead) markDead.run(seq);
    }).immediate,

    /** Runs of consecutive seqs, every one of them processed. */
    markProcessed: sqlite.transaction((runs: readonly SeqRun[]): void => {
      for (const run of runs) markProcessed.run(run.from, run.to);
    }).immediate,

    saveConsumer: (record: ConsumerRecord): void => {
      const backoffMs = record.backoffMs === null ? null : JSON.stringify(record.backoffMs);
      upsertConsumer.run({ ...record, patterns: JSON.stringify(record.patterns), paused: record.paused ? 1 : 0, backoffMs });
    },

    deleteConsumer: sqlite.transaction((id: string): void => {
      deleteConsumer.run(id);
      deleteCounts.run(id);
      deleteAllRequeued.run(id);
    }).immediate,

    deleteLapsedConsumer: sqlite.transaction((id: string, nowMs: number): boolean => {
      if (deleteLapsedConsumer.run(id, nowMs).changes !== 1) return false;
      deleteCounts.run(id);
      deleteAllRequeued.run(id);
      return true;
    }).immediate,

    deleteExpired: (nowMs: number, limit: number): MessageRef[] => deleteExpired.all(nowMs, limit) as MessageRef[],

    deleteSeqs: sqlite.transaction((seqs: readonly number[]): void => {
      for (const seq of seqs) deleteSeq.run(seq);
    }).immediate,

    /** Deletes at most `limit` acks that no longer matter (see above); returns how many. */
    pruneProcessed: sqlite.transaction((limit: number): number => {
      const oldest = (oldestSeq.get() as number | null) ?? (nextSeq.get() as number | undefined) ?? 1;
      const positions = new Map(consumerPositions.all() as [string, number][]);
      let removed = 0;
      let id = nextAckingConsumer.get('') as string | undefined;
      while (id !== undefined && removed < limit) {
        const position = positions.get(id);
        const upTo = position === undefined ? Number.MAX_SAFE_INTEGER : Math.min(position, oldest - 1);
        // The limit-th ack up to there, if there are that many: the batch ends at it.
        const end = (nthAckUpTo.get(id, upTo, limit - removed - 1) as number | undefined) ?? upTo;
        removed += deleteAcksUpTo.run(id, end).changes;
        id = nextAckingConsumer.get(id) as string | undefined;
      }
      if (anyRequeued.get() !== undefined) deleteOrphanRequeued.run();
      return removed;
    }).immediate,

    pruneFailures: (beforeMs: number, limit: number): number => deleteFailuresBefore.run(limit, beforeMs).changes,

    /** Whether the file can be written at all, after a write failed (see checkWritable). */
    probe: (): void => checkWritable(sqlite),

    recordFailures: sqlite.transaction((failures: readonly DeliveryFailure[]): void => {
      for (const f of failures) insertFailure.run(f);
    }).immediate,
  };
}

export type Writer = ReturnType<typeof makeWriter>;
export type WriteOp = keyof Writer;

// Writes whose loss in a power cut costs repeated work at most: acks and positions (the messages are
// delivered again: at least once), statuses and retention deletes (done again), failure records and their
// pruning (a row of the failure log).
// Under EVENTBUS_SYNC=full a transaction of only these commits without an fsync of its own; the next
// publish's fsync makes it durable too. A steady publish-and-ack load then pays one fsync per commit of
// publishes instead of two, and a publish no longer waits behind an ack write's fsync. Publishes and
// consumer registrations are always fsynced.
const WITHOUT_OWN_FSYNC: ReadonlySet<WriteOp | 'close'> = new Set<WriteOp | 'close'>([
  'progress',
  'markProcessed',
  'pruneProcessed',
  'pruneFailures',
  'deleteExpired',
  'deleteSeqs',
  'recordFailures',
  'credentialsUsed',
  'pruneAudit',
  'probe',
]);

/** Whether a transaction holding `op` must be fsynced at commit under EVENTBUS_SYNC=full. */
export function needsFsync(op: WriteOp | 'close'): boolean {
  return !WITHOUT_OWN_FSYNC.has(op);
}
