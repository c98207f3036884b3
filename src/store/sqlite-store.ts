// EventStore over one SQLite file. Every write is one synchronous better-sqlite3 transaction (never open
// across an await); storage failures a user can cause (disk full, read-only file, a lock held too long)
// become UNAVAILABLE, anything else is a bug and is thrown.
import Database from 'better-sqlite3';
import { err, ok, ResultAsync, type Result } from 'neverthrow';
import { brokerError } from '../errors.js';
import type { MessageStatus, StoredMessage } from '../core/types.js';
import type { OpenedDb } from './db.js';
import { makeQueries, type Queries } from './queries.js';
import type {
  AppendRow,
  Appended,
  ConsumerRecord,
  EventStore,
  MessageHeader,
  ProgressBatch,
  StorageError,
} from './store.js';

function storageError(e: unknown): StorageError {
  if (e instanceof Database.SqliteError && /^SQLITE_(FULL|IOERR|READONLY|BUSY|LOCKED|CANTOPEN)/.test(e.code)) {
    return brokerError('UNAVAILABLE', `storage unavailable (${e.code})`, e);
  }
  throw e;
}

export class SqliteStore implements EventStore {
  readonly #opened: OpenedDb;
  readonly #q: Queries;
  #lastSeq: number;
  readonly #appendTx: Database.Transaction<(rows: readonly AppendRow[]) => Appended[]>;
  readonly #progressTx: Database.Transaction<(batch: ProgressBatch) => void>;
  readonly #statusTx: Database.Transaction<(seqs: readonly number[], status: MessageStatus) => void>;
  readonly #deleteTx: Database.Transaction<(seqs: readonly number[]) => void>;

  constructor(opened: OpenedDb) {
    this.#opened = opened;
    const q = (this.#q = makeQueries(opened.sqlite, opened.db));
    this.#lastSeq = (q.lastSeq.get() as number | undefined) ?? 0;
    const { sqlite } = opened;
    this.#appendTx = sqlite.transaction((rows: readonly AppendRow[]) => {
      const out: Appended[] = new Array(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        if (r.messageId === null) {
          const info = q.insertMessage.run(null, r.topic, r.payload, r.metadata, r.ttlSeconds, r.orderingKey, r.createdAt);
          out[i] = { seq: Number(info.lastInsertRowid), duplicate: false };
          continue;
        }
        const info = q.insertMessageOnce.run(r.messageId, r.topic, r.payload, r.metadata, r.ttlSeconds, r.orderingKey, r.createdAt);
        out[i] =
          info.changes === 1
            ? { seq: Number(info.lastInsertRowid), duplicate: false }
            : { seq: q.seqOfMessageId.get(r.messageId) as number, duplicate: true };
      }
      return out;
    });
    this.#progressTx = sqlite.transaction((batch: ProgressBatch) => {
      for (const a of batch.acks) q.insertProcessed.run(a.consumer, a.seq, a.at, a.delivery);
      for (const d of batch.deadLetters) {
        const m = d.message;
        q.insertDeadLetter.run(d.consumer, m.seq, m.topic, m.payload, m.metadata, d.reason, d.deliveries, d.at);
      }
      const now = Date.now();
      for (const [consumer, position] of batch.positions) q.setPosition.run(position, now, consumer);
      for (const seq of batch.processed) q.markProcessed.run(seq);
      for (const seq of batch.dead) q.setStatus.run('dead', seq);
    });
    this.#statusTx = sqlite.transaction((seqs: readonly number[], status: MessageStatus) => {
      for (const seq of seqs) q.setStatus.run(status, seq);
    });
    this.#deleteTx = sqlite.transaction((seqs: readonly number[]) => {
      for (const seq of seqs) q.deleteSeq.run(seq);
    });
  }

  /** The underlying connection, for embedders that write their own tables in the broker's transactions. */
  get sqlite(): Database.Database {
    return this.#opened.sqlite;
  }

  append(rows: readonly AppendRow[]): ResultAsync<Appended[], StorageError> {
    const result = this.#tryWrite(() => this.#appendTx.immediate(rows));
    if (result.isOk()) {
      for (const a of result.value) if (a.seq > this.#lastSeq) this.#lastSeq = a.seq;
    }
    return new ResultAsync(Promise.resolve(result));
  }

  lastSeq(): number {
    return this.#lastSeq;
  }

  async read(fromSeq: number, limit: number, topic?: string): Promise<StoredMessage[]> {
    return (
      topic === undefined ? this.#q.readFrom.all(fromSeq, limit) : this.#q.readTopicFrom.all(topic, fromSeq, limit)
    ) as StoredMessage[];
  }

  async seqAtTime(timeMs: number): Promise<number> {
    // Binary search over seq: created_at is monotonic along seq, and this needs no index on created_at.
    let lo = ((this.#q.minSeqStored.get() as number | null) ?? this.#lastSeq + 1);
    let hi = ((this.#q.maxSeqStored.get() as number | null) ?? 0) + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const row = this.#q.firstSeqAtOrAfter.get(mid) as { seq: number; createdAt: number } | undefined;
      if (row === undefined || row.createdAt >= timeMs) hi = mid;
      else lo = row.seq + 1;
    }
    const row = this.#q.firstSeqAtOrAfter.get(lo) as { seq: number } | undefined;
    return row?.seq ?? this.#lastSeq + 1;
  }

  async listConsumers(): Promise<ConsumerRecord[]> {
    return this.#q.listConsumers.all().map((row) => ({ ...row, patterns: JSON.parse(row.patterns) as string[] }));
  }

  async saveConsumer(record: ConsumerRecord): Promise<void> {
    this.#q.upsertConsumer.run({ ...record, patterns: JSON.stringify(record.patterns) });
  }

  async deleteConsumer(id: string): Promise<void> {
    this.#q.deleteConsumer.run({ id });
  }

  async processedAbove(consumer: string, afterSeq: number, sinceMs: number): Promise<number[]> {
    return this.#q.processedAbove.all(consumer, afterSeq, sinceMs) as number[];
  }

  recordProgress(batch: ProgressBatch): ResultAsync<void, StorageError> {
    return new ResultAsync(Promise.resolve(this.#tryWrite(() => this.#progressTx.immediate(batch))));
  }

  async setStatus(seqs: readonly number[], status: MessageStatus): Promise<void> {
    this.#tryWrite(() => this.#statusTx.immediate(seqs, status));
  }

  async deadLetterCount(consumer: string): Promise<number> {
    return this.#q.deadLetterCount.get({ consumer })?.n ?? 0;
  }

  async topicCounts(): Promise<Map<string, number>> {
    return new Map(this.#q.topicCounts.all() as [string, number][]);
  }

  async deleteExpired(nowMs: number, limit: number): Promise<string[]> {
    const r = this.#tryWrite(() => this.#q.deleteExpired.all(nowMs, limit) as string[]);
    return r.isOk() ? r.value : [];
  }

  async readHeaders(afterSeq: number, limit: number): Promise<MessageHeader[]> {
    return this.#q.readHeaders.all(afterSeq, limit) as MessageHeader[];
  }

  async deleteSeqs(seqs: readonly number[]): Promise<void> {
    this.#tryWrite(() => this.#deleteTx.immediate(seqs));
  }

  close(): void {
    this.#opened.close();
  }

  #tryWrite<T>(write: () => T): Result<T, StorageError> {
    try {
      return ok(write());
    } catch (e) {
      return err(storageError(e));
    }
  }
}
