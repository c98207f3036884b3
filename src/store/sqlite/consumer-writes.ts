/* eslint-disable @typescript-eslint/unbound-method -- better-sqlite3's transaction variants (.immediate) are
   functions of their own that do not use `this`; its types declare them as methods. */
// The writer thread's operator writes on a consumer: pause and resume, requeueing and deleting its dead
// letters. Raw SQL only, as in write-queries.ts, whose writer merges these.
import type Database from 'better-sqlite3';
import type { DeadLetterSelection } from '../../core/store-port.js';
import { MESSAGE_STATUS } from '../message-statuses.js';

export function makeConsumerWriter(sqlite: Database.Database) {
  // A pause or resume older than the one stored is a late echo and changes nothing.
  const setPaused = sqlite.prepare(`UPDATE consumers SET paused = ?, pause_changed_at = ? WHERE id = ? AND pause_changed_at < ?`);
  const takeAllDead = sqlite
    .prepare(`DELETE FROM dead_letters WHERE consumer = ? AND dead_at >= ? RETURNING seq`)
    .pluck();
  const takeDead = sqlite
    .prepare(`DELETE FROM dead_letters WHERE consumer = ? AND dead_at >= ? AND seq = ? RETURNING seq`)
    .pluck();
  // Only messages the log still holds can be delivered again.
  const insertRequeued = sqlite.prepare(
    `INSERT INTO requeued_messages (consumer, seq, requeued_at) SELECT ?, seq, ? FROM messages WHERE seq = ?
     ON CONFLICT (consumer, seq) DO UPDATE SET requeued_at = excluded.requeued_at`,
  );
  // Dead for no consumer any more: pending again, until its consumers ack it.
  const revive = sqlite.prepare(
    `UPDATE messages SET status = '${MESSAGE_STATUS.pending}' WHERE seq = ? AND status = '${MESSAGE_STATUS.dead}'
     AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.seq = messages.seq)`,
  );
  // A deleted dead letter above the position stays done for the consumer: as an ack, not a message to resend.
  const recordDone = sqlite.prepare(
    `INSERT INTO processed_messages (consumer, seq, processed_at, delivery)
     SELECT id, ?, ?, 0 FROM consumers WHERE id = ? AND position < ?
     ON CONFLICT (consumer, seq) DO NOTHING`,
  );

  /** The selected dead letters, deleted; their distinct seqs and how many rows went. */
  const take = (selection: DeadLetterSelection): { seqs: Set<number>; rows: number } => {
    const { consumer, sinceMs } = selection;
    const taken =
      selection.seqs === undefined
        ? (takeAllDead.all(consumer, sinceMs) as number[])
        : selection.seqs.flatMap((seq) => takeDead.all(consumer, sinceMs, seq) as number[]);
    return { seqs: new Set(taken), rows: taken.length };
  };

  return {
    setPaused: (consumer: string, paused: boolean, changedAt: number): void => {
      setPaused.run(paused ? 1 : 0, changedAt, consumer, changedAt);
    },

    requeueDeadLetters: sqlite.transaction((selection: DeadLetterSelection, atMs: number): number => {
      const { seqs, rows } = take(selection);
      for (const seq of seqs) {
        insertRequeued.run(selection.consumer, atMs, seq);
        revive.run(seq);
      }
      return rows;
    }).immediate,

    deleteDeadLetters: sqlite.transaction((selection: DeadLetterSelection, atMs: number): number => {
      const { seqs, rows } = take(selection);
      for (const seq of seqs) recordDone.run(seq, atMs, selection.consumer, seq);
      return rows;
    }).immediate,
  };
}
