// EventStore over one SQLite file: reads on the main thread's connection, every write on the writer
// thread's (writer-thread.ts), in the order they were asked for. Storage failures a user can cause (disk
// full, read-only file, a lock held too long) become UNAVAILABLE; anything else is a bug and is thrown.
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { err, errAsync, ok, okAsync, ResultAsync, type Result } from 'neverthrow';
import type { SyncMode } from '../../config.js';
import type {
  AckRecord,
  AppendRow,
  Appended,
  ConsumerRecord,
  CredentialStore,
  DeadLetterRow,
  DeadLetterSelection,
  DeliveryFailure,
  EventStore,
  LastFailure,
  ScheduleClaim,
  ScheduleStore,
  MessageHeader,
  MessageRecord,
  ProgressBatch,
  MessageRef,
  TallyQuery,
  ConsumerTally,
  SeqRun,
  StorageError,
  StoredMessage,
  TransactOutcome,
} from '../../core/store-port.js';
import { talliesOf, type ConsumerMessageRef } from '../tally-rows.js';
import { brokerError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { toColumns } from '../append-columns.js';
import {
  toMessageRecord,
  toStoredMessage,
  toTopicMessage,
  type MessageRow,
  type RecordRow,
  type TopicMessageRow,
} from '../message-rows.js';
import { storeOpenError, type StoreOpenError } from '../open-error.js';
import { Writability } from '../writability.js';
import { WorkFailed } from '../work-failed.js';
import { openDb, type OpenedDb } from './open.js';
import { ALREADY_PROCESSED, makeReadQueries, type ReadQueries } from './read-queries.js';
import { sqliteCredentials } from './credential-store.js';
import { sqliteSchedules } from './schedule-store.js';
import { KeptTallies } from './kept-tallies.js';
import { INSERT_PROCESSED, type Writer, type WriteOp } from './write-queries.js';
import { WriteError, WriterThread } from './writer-thread.js';

const STORAGE_CODES = /^SQLITE_(FULL|IOERR|READONLY|BUSY|LOCKED|CANTOPEN)/;
// After a failed write, the file is probed (Writability) once its disk has this much room again: after a
// write failed for want of space, SQLite reuses what that write had allocated, so a one-page probe succeeds
// long before a publish would. One WAL's worth (1,000 pages of 4 KiB before a checkpoint, pragmas.ts).
const PROBE_FREE_BYTES = 4 * 1024 * 1024;

/** SQLite's storage failures (from either thread) as StorageError; anything else is a bug, and is thrown. */
function storageError(e: unknown): StorageError {
  const code = (e as { code?: unknown } | null)?.code;
  if ((e instanceof WriteError || e instanceof Database.SqliteError) && typeof code === 'string' && STORAGE_CODES.test(code)) {
    return brokerError('UNAVAILABLE', `storage unavailable (${code})`, e);
  }
  throw e;
}

/** A read on the main thread's connection: synchronous in better-sqlite3, a ResultAsync at the port. */
function read<T>(query: () => T): ResultAsync<T, StorageError> {
  try {
    return okAsync(query());
  } catch (e) {
    return errAsync(storageError(e));
  }
}

export class SqliteStore implements EventStore<Database.Database> {
  // The writer thread commits one group while the main thread gathers the next; with one in flight they
  // would take turns and each sit idle. A burst of publishes read in one turn (a client with hundreds in
  // flight, or publishers that all waited on one commit) starts its commit after the first 64 rows instead of
  // after the last: the writer works while the main thread reads the rest, and the first replies go out
  // sooner, so the clients send again sooner.
  readonly grouping = { inFlight: 2, eagerRows: 64 };
  readonly #opened: OpenedDb;
  readonly #q: ReadQueries;
  readonly #writer: WriterThread;
  readonly #log: Logger;
  #lastSeq: number;
  #ackStatements: { insert: Database.Statement; done: Database.Statement } | undefined;
  readonly #writability: Writability;
  readonly #kept = new KeptTallies();
  readonly schedules: ScheduleStore;
  readonly credentials: CredentialStore;
  #closed = false;

  private constructor(opened: OpenedDb, writer: WriterThread, logger: Logger) {
    this.#opened = opened;
    this.#writer = writer;
    this.#log = logger;
    this.#q = makeReadQueries(opened.sqlite, opened.db);
    this.#writability = new Writability(logger, storageError, () => this.#probe());
    this.#lastSeq = (this.#q.lastSeq.get() as number | undefined) ?? 0;
    const access = { sqlite: opened.sqlite, read, write: <K extends WriteOp>(op: K, ...args: Parameters<Writer[K]>) => this.#write(this.#writer.call(op, ...args)) };
    this.schedules = sqliteSchedules(access);
    this.credentials = sqliteCredentials(access);
  }

  /** Opens the file (lock, pragmas, migrations) and starts the writer thread. */
  static async open(options: { path: string; sync: SyncMode; logger: Logger }): Promise<Result<SqliteStore, StoreOpenError>> {
    const opened = openDb(options);
    if (opened.isErr()) return err(opened.error);
    try {
      const writer = await WriterThread.start(opened.value.path, options.sync);
      return ok(new SqliteStore(opened.value, writer, options.logger));
    } catch (e) {
      opened.value.close();
      return err(storeOpenError('unwritable', `EVENTBUS_DB: cannot start the writer: ${(e as Error).message}`, e));
    }
  }

  /** The main thread's connection, for embedders' reads and tools. */
  get sqlite(): Database.Database {
    return this.#opened.sqlite;
  }

  /**
   * In one immediate transaction on the main connection: the work is synchronous (a better-sqlite3
   * transaction cannot stay open across awaits), and it waits up to the busy timeout for the writer thread
   * to finish a commit in progress.
   */
  transactAck(ack: AckRecord, work: (sqlite: Database.Database) => void | Promise<void>): ResultAsync<TransactOutcome, StorageError> {
    const sqlite = this.#opened.sqlite;
    this.#ackStatements ??= {
      insert: sqlite.prepare(INSERT_PROCESSED),
      done: sqlite.prepare(ALREADY_PROCESSED).pluck(),
    };
    const { insert, done } = this.#ackStatements;
    try {
      return okAsync(
        sqlite
          .transaction((): TransactOutcome => {
            if (done.get(ack.consumer, ack.seq) !== undefined) return { kind: 'already-processed' };
            try {
              const r = work(sqlite);
              if (r instanceof Promise) {
                r.catch(() => undefined); // its outcome no longer matters: the transaction is rolled back
                throw new TypeError('transactional work on SQLite must be synchronous (it returned a promise)');
              }
            } catch (e) {
              throw new WorkFailed(e); // rolls the transaction back
            }
            insert.run(ack.consumer, ack.seq, ack.at, ack.delivery);
            return { kind: 'done' };
          })
          .immediate(),
      ).map((outcome) => {
        if (outcome.kind === 'done') this.#kept.changed([ack.consumer]);
        return outcome;
      });
    } catch (e) {
      if (e instanceof WorkFailed) return okAsync({ kind: 'failed', error: e.error });
      return errAsync(storageError(e));
    }
  }

  append(rows: readonly AppendRow[], claims?: readonly (ScheduleClaim | undefined)[]): ResultAsync<Appended[], StorageError> {
    // Posted at once: the committer hands a group over when it wants it committed (Committer, eagerRows).
    return this.#write(this.#writer.callNow('append', toColumns(rows), claims), true).map((seqs) => {
      const appended = new Array<Appended>(seqs.length);
      for (let i = 0; i < seqs.length; i++) {
        const seq = seqs[i]!;
        appended[i] = seq > 0 ? { seq, duplicate: false } : { seq: Math.abs(seq), duplicate: true }; // 0: a fire not taken
        if (seq > this.#lastSeq) this.#lastSeq = seq;
      }
      return appended;
    });
  }

  lastSeq(): number {
    return this.#lastSeq;
  }

  /** The file has one broker (its lock): nobody else appends. */
  onExternalAppend(): void {
    // nothing to watch
  }

  writeFailure(): StorageError | undefined {
    return this.#writability.failure();
  }

  read(fromSeq: number, limit: number, topic?: string): ResultAsync<StoredMessage[], StorageError> {
    return read(() =>
      topic === undefined
        ? (this.#q.readFrom.all(fromSeq, limit) as MessageRow[]).map(toStoredMessage)
        : (this.#q.readTopicFrom.all(topic, fromSeq, limit) as TopicMessageRow[]).map((r) => toTopicMessage(topic, r)),
    );
  }

  seqAtTime(timeMs: number): ResultAsync<number, StorageError> {
    return read(() => this.#seqAtTime(timeMs));
  }

  #seqAtTime(timeMs: number): number {
    // Binary search over seq: created_at is monotonic along seq, and this needs no index on created_at.
    let lo = (this.#q.minSeqStored.get() as number | null) ?? this.#lastSeq + 1;
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

  listDeadLetters(consumer: string, sinceMs: number, fromSeq: number, limit: number): ResultAsync<DeadLetterRow[], StorageError> {
    return read(() => this.#q.listDeadLetters.all(consumer, sinceMs, fromSeq, limit) as DeadLetterRow[]);
  }

  requeueDeadLetters(selection: DeadLetterSelection, atMs: number): ResultAsync<number, StorageError> {
    return this.#changing(this.#writer.call('requeueDeadLetters', selection, atMs));
  }

  deleteDeadLetters(selection: DeadLetterSelection, atMs: number): ResultAsync<number, StorageError> {
    return this.#changing(this.#writer.call('deleteDeadLetters', selection, atMs));
  }

  requeued(consumer: string): ResultAsync<StoredMessage[], StorageError> {
    return read(() => (this.#q.requeued.all(consumer) as MessageRow[]).map(toStoredMessage));
  }

  setPaused(consumer: string, paused: boolean, changedAt: number): ResultAsync<void, StorageError> {
    return this.#write(this.#writer.call('setPaused', consumer, paused, changedAt));
  }

  /** The file has one broker: every change is made here. */
  onConsumerSignal(): void {
    // nothing to hear
  }

  countMessages(afterSeq: number, toSeq: number, topics: readonly string[]): ResultAsync<number, StorageError> {
    return read(() => topics.reduce((n, topic) => n + (this.#q.countTopic.get(topic, afterSeq, toSeq) as number), 0));
  }

  consumerTallies(queries: readonly TallyQuery[]): ResultAsync<Map<string, ConsumerTally>, StorageError> {
    const { kept, missing } = this.#kept.tallies(queries);
    if (missing.length === 0) return okAsync(kept);
    return this.#readTallies(missing).map((read) => {
      this.#kept.keepTallies(missing, read);
      for (const [id, tally] of read) kept.set(id, tally);
      return kept;
    });
  }

  #readTallies(queries: readonly TallyQuery[]): ResultAsync<Map<string, ConsumerTally>, StorageError> {
    return read(() => {
      const asked = JSON.stringify(queries.map((q) => [q.consumer, q.afterSeq, q.toSeq, q.rewoundAt, q.sinceMs]));
      return talliesOf(
        queries,
        this.#q.tallyResolved.all(asked) as ConsumerMessageRef[],
        this.#q.tallyRequeued.all(asked) as ConsumerMessageRef[],
        this.#q.tallyDeadLetters.all(asked) as { consumer: string; n: number }[],
      );
    });
  }

  message(seq: number): ResultAsync<MessageRecord | undefined, StorageError> {
    return read(() => {
      const row = this.#q.message.get(seq) as RecordRow | undefined;
      return row === undefined ? undefined : toMessageRecord(row);
    });
  }

  readRecords(fromSeq: number, limit: number, topic?: string): ResultAsync<MessageRecord[], StorageError> {
    return read(() =>
      (topic === undefined ? (this.#q.readRecords.all(fromSeq, limit) as RecordRow[]) : (this.#q.readTopicRecords.all(topic, fromSeq, limit) as RecordRow[])).map(
        toMessageRecord,
      ),
    );
  }

  topicBounds(topics: readonly string[]): ResultAsync<Map<string, { first: number; last: number }>, StorageError> {
    return read(() => {
      const bounds = new Map<string, { first: number; last: number }>();
      for (const topic of topics) {
        const first = this.#q.firstOfTopic.get(topic) as number | undefined;
        if (first !== undefined) bounds.set(topic, { first, last: this.#q.lastOfTopic.get(topic) as number });
      }
      return bounds;
    });
  }

  listConsumers(): ResultAsync<ConsumerRecord[], StorageError> {
    // The reservation is the stream's (reservation()), never written back with the record.
    return read(() =>
      this.#q.listConsumers.all().map(({ reservedSeq: _, ...row }) => ({
        ...row,
        patterns: JSON.parse(row.patterns) as string[],
        backoffMs: row.backoffMs === null ? null : (JSON.parse(row.backoffMs) as number[]),
        format: row.format as ConsumerRecord['format'],
      })),
    );
  }

  saveConsumer(record: ConsumerRecord): ResultAsync<void, StorageError> {
    return this.#changing(this.#writer.call('saveConsumer', record));
  }

  // The file has one broker, whose registry knows every consumer it holds.
  createConsumer(record: ConsumerRecord): ResultAsync<ConsumerRecord, StorageError> {
    return this.saveConsumer(record).map(() => record);
  }

  deleteConsumer(id: string): ResultAsync<void, StorageError> {
    return this.#changing(this.#writer.call('deleteConsumer', id));
  }

  deleteLapsedConsumer(id: string, nowMs: number): ResultAsync<boolean, StorageError> {
    return this.#changing(this.#writer.call('deleteLapsedConsumer', id, nowMs));
  }

  processedAbove(consumer: string, afterSeq: number, sinceMs: number): ResultAsync<number[], StorageError> {
    return read(() => this.#q.processedAbove.all({ consumer, after: afterSeq, since: sinceMs }) as number[]);
  }

  reservation(consumer: string): ResultAsync<number, StorageError> {
    return read(() => (this.#q.reservation.get(consumer) as number | undefined) ?? 0);
  }

  deliveryCounts(consumer: string, afterSeq: number): ResultAsync<Map<number, number>, StorageError> {
    return read(() => new Map(this.#q.deliveryCountsAbove.all(consumer, afterSeq) as [number, number][]));
  }

  recordProgress(batch: ProgressBatch): ResultAsync<void, StorageError> {
    const consumers = progressConsumers(batch);
    const { consumerOf, seqs, deliveries, ats, sentAts } = batch.acks;
    const columns = [consumerOf.buffer, seqs.buffer, deliveries.buffer, ats.buffer, sentAts.buffer] as ArrayBuffer[];
    return this.#changing(this.#writer.callHandingOver('progress', columns, batch), consumers);
  }

  markProcessed(runs: readonly SeqRun[]): ResultAsync<void, StorageError> {
    return this.#write(this.#writer.call('markProcessed', runs));
  }

  topicCounts(): ResultAsync<Map<string, number>, StorageError> {
    return read(() => new Map(this.#q.topicCounts.all() as [string, number][]));
  }

  deleteExpired(nowMs: number, limit: number): ResultAsync<MessageRef[], StorageError> {
    return this.#changing(this.#writer.call('deleteExpired', nowMs, limit));
  }

  recordFailures(failures: readonly DeliveryFailure[]): ResultAsync<void, StorageError> {
    return this.#changing(this.#writer.call('recordFailures', failures), failures.map((f) => f.consumer));
  }

  lastFailures(consumers: readonly { readonly id: string; readonly sinceMs: number }[]): ResultAsync<Map<string, LastFailure>, StorageError> {
    const { kept, missing } = this.#kept.lastFailures(consumers);
    const found = new Map<string, LastFailure>();
    for (const [id, failure] of kept) if (failure !== null) found.set(id, failure);
    if (missing.length === 0) return okAsync(found);
    return read(() => {
      const rows = this.#q.lastFailures.all(JSON.stringify(missing.map((c) => [c.id, c.sinceMs]))) as { consumer: string; at: number; error: string }[];
      const read = new Map(rows.map((r) => [r.consumer, { at: r.at, error: r.error }]));
      this.#kept.keepLastFailures(missing, read);
      for (const [id, failure] of read) found.set(id, failure);
      return found;
    });
  }

  readHeaders(afterSeq: number, limit: number): ResultAsync<MessageHeader[], StorageError> {
    return read(() => this.#q.readHeaders.all(afterSeq, limit) as MessageHeader[]);
  }

  deleteSeqs(seqs: readonly number[]): ResultAsync<void, StorageError> {
    return this.#changing(this.#writer.call('deleteSeqs', seqs));
  }

  pruneProcessed(limit: number): ResultAsync<number, StorageError> {
    return this.#changing(this.#writer.call('pruneProcessed', limit));
  }

  pruneFailures(beforeMs: number, limit: number): ResultAsync<number, StorageError> {
    return this.#changing(this.#writer.call('pruneFailures', beforeMs, limit));
  }

  /** Waits for every queued write, then closes the writer and the main connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#writability.stop();
    try {
      await this.#writer.close();
    } catch (e) {
      this.#log.error('the writer thread failed while closing; queued writes may be lost', { error: String(e) });
    }
    this.#opened.close();
  }

  #write<T>(pending: Promise<T>, proves = false): ResultAsync<T, StorageError> {
    return this.#writability.track(pending, proves);
  }

  /**
   * A write that may change consumers' tallies or last failures: those of `consumers`, or any consumer's when
   * not given. What is kept of them is dropped once it has completed (or failed), before anyone waiting on it
   * reads again.
   */
  #changing<T>(pending: Promise<T>, consumers?: Iterable<string>): ResultAsync<T, StorageError> {
    return this.#write(pending.finally(() => (consumers === undefined ? this.#kept.changedAll() : this.#kept.changed(consumers))));
  }

  /** After a failed write: one page rewritten unchanged, once the disk has room (see PROBE_FREE_BYTES). */
  async #probe(): Promise<void> {
    const disk = await statfs(dirname(this.#opened.path)).catch(() => undefined);
    if (disk !== undefined && disk.bavail * disk.bsize < PROBE_FREE_BYTES) return;
    // Either way the outcome is noted: writable again, or why not.
    (await this.#write(this.#writer.call('probe'), true)).unwrapOr(undefined);
  }
}

/** The consumers whose acks, dead letters or rewinds a progress batch writes. */
function progressConsumers(batch: ProgressBatch): Set<string> {
  const consumers = new Set(batch.acks.consumers);
  for (const d of batch.deadLetters) consumers.add(d.consumer);
  for (const id of batch.rewinds.keys()) consumers.add(id);
  return consumers;
}
