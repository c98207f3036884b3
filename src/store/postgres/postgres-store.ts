// EventStore over PostgreSQL, shared by any number of brokers. Appends take the log's head lock (the one
// row of log_head) in the statement that inserts them (append.ts), so seq order is commit order across
// brokers (docs/internals.md); every other write goes through one ordered queue, as the SQLite store's writer
// thread keeps them in order; reads go straight to the pool. Other brokers' commits are learnt of by
// LISTEN/NOTIFY, with a poll behind it (head-watch.ts); the cluster's heartbeat is heartbeat.ts's.
import { randomUUID } from 'node:crypto';
import { err, ok, okAsync, ResultAsync, type Result } from 'neverthrow';
import type pg from 'pg';
import type {
  AckRecord,
  AppendRow,
  Appended,
  ClusterPort,
  ConsumerRecord,
  CredentialStore,
  ConsumerSignal,
  DeadLetterRow,
  DeadLetterSelection,
  DeliveryFailure,
  EventStore,
  LastFailure,
  MessageHeader,
  MessageRecord,
  ProgressBatch,
  MessageRef,
  TallyQuery,
  ConsumerTally,
  ScheduleClaim,
  ScheduleStore,
  SeqRun,
  StorageError,
  StoredMessage,
  TransactOutcome,
} from '../../core/store-port.js';
import type { Logger } from '../../logger.js';
import { toMessageRecord, toStoredMessage, type MessageRow, type RecordRow } from '../message-rows.js';
import { storeOpenError, type StoreOpenError } from '../open-error.js';
import { talliesOf, type ConsumerMessageRef } from '../tally-rows.js';
import { WorkFailed } from '../work-failed.js';
import { Writability } from '../writability.js';
import { appendClaimed, appendRows } from './append.js';
import { postgresCredentials } from './credential-store.js';
import { brokerPools, lockKey, openPool, type PgOptions } from './connect.js';
import * as cq from './consumer-queries.js';
import { storageError } from './errors.js';
import { HeadWatch } from './head-watch.js';
import { clusterPort } from './heartbeat.js';
import { CLUSTER_LOCK, clusterChannel } from './heartbeat-queries.js';
import * as q from './queries.js';
import { postgresSchedules } from './schedule-store.js';
import { inTransaction } from './transaction.js';

export interface StoreOptions extends PgOptions {
  /** This broker's name among those sharing the database (EVENTBUS_NODE_ID). */
  readonly nodeId: string;
  readonly logger: Logger;
}

export class PostgresStore implements EventStore<pg.PoolClient> {
  /** The broker's own statements. */
  readonly #pool: pg.Pool;
  readonly #appends: pg.Pool;
  /** The application's: transactional consume and its own queries. */
  readonly #appPool: pg.Pool;
  readonly #log: Logger;
  readonly #watch: HeadWatch;
  /** What appends notify, for the other brokers' HeadWatch. */
  readonly #channel: string;
  /** What pauses and requeues notify. */
  readonly #consumerChannel: string;
  /** This store among those on the database: names its heartbeats and its notifications. */
  readonly #instance = randomUUID();
  #lastSeq: number;
  /** The end of the queue of writes other than appends: each starts once the one before has settled. */
  #tail: Promise<unknown> = Promise.resolve();
  readonly #writability: Writability;
  /** Takes the advisory lock that heartbeats and consumers' registrations and removals take turns under. */
  readonly #lockCluster: string;
  readonly cluster: ClusterPort;
  readonly schedules: ScheduleStore;
  readonly credentials: CredentialStore;
  // Appends queue on the head lock, whoever sends them: one group at a time, as large as it comes, makes
  // the fewest lock holds and WAL flushes. Two in flight would only have the second wait at the lock with
  // a smaller group.
  readonly grouping = { inFlight: 1, eagerRows: Number.POSITIVE_INFINITY };
  #closed = false;

  private constructor(pools: { queries: pg.Pool; appends: pg.Pool; app: pg.Pool }, options: StoreOptions, lastSeq: number, watch: HeadWatch) {
    const logger = options.logger;
    this.#pool = pools.queries;
    this.#appends = pools.appends;
    this.#appPool = pools.app;
    this.#channel = q.notifyChannel(options.schema);
    this.#consumerChannel = cq.consumerChannel(options.schema);
    this.#lockCluster = q.lockForTransaction(lockKey(options.schema, CLUSTER_LOCK));
    this.#lastSeq = lastSeq;
    this.#watch = watch;
    this.#log = logger;
    this.#writability = new Writability(logger, storageError, () => this.#probe());
    // An idle connection that the server closes must not take the process with it; the next query opens another.
    for (const p of Object.values(pools)) {
      p.on('error', (e) => {
        logger.warn('a PostgreSQL connection failed while idle', { error: e.message });
      });
    }
    const access = { pool: this.#pool, read: <T>(p: Promise<T>) => this.#read(p), write: <T>(w: () => Promise<T>) => this.#write(w) };
    this.schedules = postgresSchedules(access);
    this.credentials = postgresCredentials({ ...access, notify: { channel: this.#consumerChannel, from: this.#instance } });
    this.cluster = clusterPort({
      node: options.nodeId,
      instance: this.#instance,
      channel: clusterChannel(options.schema),
      watch,
      logger,
      underClusterLock: (work) => this.#underClusterLock(work),
    });
  }

  static async open(options: StoreOptions): Promise<Result<PostgresStore, StoreOpenError>> {
    const app = await openPool(options);
    if (app.isErr()) return err(app.error);
    const pools = { ...brokerPools(options), app: app.value };
    const head = await pools.queries.query<{ seq: number }>(q.HEAD).catch((e: unknown) => e as Error);
    if (head instanceof Error) {
      for (const p of Object.values(pools)) await p.end();
      return err(storeOpenError('unwritable', `EVENTBUS_DB: ${head.message}`, head));
    }
    const channels = { log: q.notifyChannel(options.schema), consumers: cq.consumerChannel(options.schema), cluster: clusterChannel(options.schema) };
    const watch = new HeadWatch(options, channels, pools.queries, options.logger);
    await watch.start();
    return ok(new PostgresStore(pools, options, head.rows[0]!.seq, watch));
  }

  /** The pool for embedders' own queries and tools (PostgreSQL's default planning, unlike the broker's own). */
  get pool(): pg.Pool {
    return this.#appPool;
  }

  onExternalAppend(listener: (lastSeq: number) => void): void {
    this.#watch.onHead((seq) => {
      if (seq <= this.#lastSeq) return;
      this.#lastSeq = seq;
      listener(seq);
    });
  }

  append(rows: readonly AppendRow[], claims?: readonly (ScheduleClaim | undefined)[]): ResultAsync<Appended[], StorageError> {
    const assigned = (seq: number): void => {
      this.#lastSeq = Math.max(this.#lastSeq, seq);
    };
    const appending =
      claims === undefined ? appendRows(this.#appends, rows, this.#channel, assigned) : appendClaimed(this.#appends, rows, claims, this.#channel, assigned);
    return this.#attempt(appending, true);
  }

  lastSeq(): number {
    return this.#lastSeq;
  }

  writeFailure(): StorageError | undefined {
    return this.#writability.failure();
  }

  read(fromSeq: number, limit: number, topic?: string): ResultAsync<StoredMessage[], StorageError> {
    const query =
      topic === undefined
        ? { name: 'readFrom', text: q.READ_FROM, values: [fromSeq, limit], rowMode: 'array' }
        : { name: 'readTopicFrom', text: q.READ_TOPIC_FROM, values: [topic, fromSeq, limit], rowMode: 'array' };
    return this.#read(this.#pool.query<MessageRow>(query).then((r) => r.rows.map(toStoredMessage)));
  }

  seqAtTime(timeMs: number): ResultAsync<number, StorageError> {
    return this.#read(this.#pool.query<{ seq: number | null }>({ name: 'seqAtTime', text: q.SEQ_AT_TIME, values: [timeMs] }).then((r) => r.rows[0]?.seq ?? this.#lastSeq + 1));
  }

  listConsumers(): ResultAsync<ConsumerRecord[], StorageError> {
    return this.#read(this.#pool.query<q.StoredConsumerRow>(q.LIST_CONSUMERS).then((r) => r.rows.map(q.parseConsumer)));
  }

  saveConsumer(record: ConsumerRecord): ResultAsync<void, StorageError> {
    const { id, position, rewoundAt } = record;
    return this.#underClusterLock(async (c) => {
      const before = (await c.query<{ rewoundAt: number }>(q.REWOUND_AT, [id])).rows[0];
      await c.query(q.UPSERT_CONSUMER, q.consumerValues(record));
      // A rewind (a broker that has not seen a later one yet leaves it alone).
      if (before !== undefined && rewoundAt > before.rewoundAt) await c.query(q.REWIND_PARTITIONS, [id, position]);
    });
  }

  createConsumer(record: ConsumerRecord): ResultAsync<ConsumerRecord, StorageError> {
    return this.#write(async () => {
      await this.#pool.query(q.CREATE_CONSUMER, q.consumerValues(record));
      return q.parseConsumer((await this.#pool.query<q.StoredConsumerRow>(q.CONSUMER, [record.id])).rows[0]!);
    });
  }

  deleteConsumer(id: string): ResultAsync<void, StorageError> {
    return this.#underClusterLock(async (c) => {
      for (const statement of q.DELETE_CONSUMER) await c.query(statement, [id]);
    });
  }

  deleteLapsedConsumer(id: string, nowMs: number): ResultAsync<boolean, StorageError> {
    return this.#underClusterLock(async (c) => {
      const lapsed = await c.query(q.DELETE_LAPSED_CONSUMER, [id, nowMs]);
      if (lapsed.rowCount !== 1) return false;
      for (const statement of q.DELETE_CONSUMER) await c.query(statement, [id]);
      return true;
    });
  }

  processedAbove(consumer: string, afterSeq: number, sinceMs: number): ResultAsync<number[], StorageError> {
    return this.#read(this.#pool.query<{ seq: number }>(q.PROCESSED_ABOVE, [consumer, afterSeq, sinceMs]).then((r) => r.rows.map((row) => row.seq)));
  }

  /** Kept per partition here (ClusterView.reserved). */
  reservation(): ResultAsync<number, StorageError> {
    return okAsync(0);
  }

  deliveryCounts(consumer: string, afterSeq: number): ResultAsync<Map<number, number>, StorageError> {
    return this.#read(
      this.#pool.query<{ seq: number; deliveries: number }>(q.DELIVERY_COUNTS_ABOVE, [consumer, afterSeq]).then((r) => new Map(r.rows.map((row) => [row.seq, row.deliveries]))),
    );
  }

  recordProgress(batch: ProgressBatch): ResultAsync<void, StorageError> {
    return this.#write(() => inTransaction(this.#pool, (c) => q.writeProgress(c, batch, this.cluster.node)));
  }

  markProcessed(runs: readonly SeqRun[]): ResultAsync<void, StorageError> {
    return this.#write(async () => {
      await this.#pool.query(q.MARK_PROCESSED, [runs.map((r) => r.from), runs.map((r) => r.to)]);
    });
  }

  lastFailures(consumers: readonly { readonly id: string; readonly sinceMs: number }[]): ResultAsync<Map<string, LastFailure>, StorageError> {
    if (consumers.length === 0) return this.#read(Promise.resolve(new Map<string, LastFailure>()));
    return this.#read(
      this.#pool
        .query<{ consumer: string; at: number; error: string }>(q.LAST_FAILURES, [consumers.map((c) => c.id), consumers.map((c) => c.sinceMs)])
        .then((r) => new Map(r.rows.map((row) => [row.consumer, { at: row.at, error: row.error }]))),
    );
  }

  listDeadLetters(consumer: string, sinceMs: number, fromSeq: number, limit: number): ResultAsync<DeadLetterRow[], StorageError> {
    return this.#read(this.#pool.query<DeadLetterRow>(cq.LIST_DEAD_LETTERS, [consumer, sinceMs, fromSeq, limit]).then((r) => r.rows));
  }

  requeueDeadLetters(selection: DeadLetterSelection, atMs: number): ResultAsync<number, StorageError> {
    const notify = { channel: this.#consumerChannel, from: this.#instance };
    return this.#write(() => inTransaction(this.#pool, (c) => cq.requeueDeadLetters(c, selection, atMs, notify)));
  }

  deleteDeadLetters(selection: DeadLetterSelection, atMs: number): ResultAsync<number, StorageError> {
    return this.#write(() => inTransaction(this.#pool, (c) => cq.deleteDeadLetters(c, selection, atMs)));
  }

  requeued(consumer: string): ResultAsync<StoredMessage[], StorageError> {
    return this.#read(this.#pool.query<MessageRow>({ text: cq.REQUEUED, values: [consumer], rowMode: 'array' }).then((r) => r.rows.map(toStoredMessage)));
  }

  setPaused(consumer: string, paused: boolean, changedAt: number): ResultAsync<void, StorageError> {
    const payload = cq.signalPayload(this.#instance, { kind: 'paused', consumer, paused, changedAt });
    return this.#write(async () => {
      await this.#pool.query(cq.SET_PAUSED, [consumer, paused, changedAt, this.#consumerChannel, payload]);
    });
  }

  /** The changes of the other stores on the database; this one's own are made here already. */
  onConsumerSignal(listener: (signal: ConsumerSignal) => void): void {
    this.#watch.onSignal((signal, from) => {
      if (from !== this.#instance) listener(signal);
    });
  }

  countMessages(afterSeq: number, toSeq: number, topics: readonly string[]): ResultAsync<number, StorageError> {
    return this.#read(this.#pool.query<{ n: number }>(cq.COUNT_TOPICS, [topics, afterSeq, toSeq]).then((r) => r.rows[0]!.n));
  }

  consumerTallies(queries: readonly TallyQuery[]): ResultAsync<Map<string, ConsumerTally>, StorageError> {
    if (queries.length === 0) return okAsync(new Map<string, ConsumerTally>());
    const asked = [queries.map((q) => q.consumer), queries.map((q) => q.afterSeq), queries.map((q) => q.toSeq), queries.map((q) => q.rewoundAt), queries.map((q) => q.sinceMs)];
    return this.#read(
      Promise.all([
        this.#pool.query<ConsumerMessageRef>(cq.TALLY_RESOLVED, asked),
        this.#pool.query<ConsumerMessageRef>(cq.TALLY_REQUEUED, asked),
        this.#pool.query<{ consumer: string; n: number }>(cq.TALLY_DEAD_LETTERS, asked),
      ]).then(([resolved, requeued, dead]) => talliesOf(queries, resolved.rows, requeued.rows, dead.rows)),
    );
  }

  message(seq: number): ResultAsync<MessageRecord | undefined, StorageError> {
    return this.#read(
      this.#pool.query<RecordRow>({ text: cq.MESSAGE, values: [seq], rowMode: 'array' }).then((r) => (r.rows[0] === undefined ? undefined : toMessageRecord(r.rows[0]))),
    );
  }

  readRecords(fromSeq: number, limit: number, topic?: string): ResultAsync<MessageRecord[], StorageError> {
    const query =
      topic === undefined
        ? { text: cq.READ_RECORDS, values: [fromSeq, limit], rowMode: 'array' }
        : { text: cq.READ_TOPIC_RECORDS, values: [topic, fromSeq, limit], rowMode: 'array' };
    return this.#read(this.#pool.query<RecordRow>(query).then((r) => r.rows.map(toMessageRecord)));
  }

  topicBounds(topics: readonly string[]): ResultAsync<Map<string, { first: number; last: number }>, StorageError> {
    return this.#read(
      this.#pool
        .query<{ topic: string; first: number | null; last: number | null }>(cq.TOPIC_BOUNDS, [topics])
        .then((r) => new Map(r.rows.flatMap((row) => (row.first === null ? [] : [[row.topic, { first: row.first, last: row.last! }] as const])))),
    );
  }

  recordFailures(failures: readonly DeliveryFailure[]): ResultAsync<void, StorageError> {
    return this.#write(async () => {
      await this.#pool.query(q.INSERT_FAILURES, q.failureColumns(failures));
    });
  }

  /**
   * On a connection of the pool, in one transaction: the work may await (its queries on `client`), and its
   * writes commit with the ack or not at all.
   */
  transactAck(ack: AckRecord, work: (client: pg.PoolClient) => void | Promise<void>): ResultAsync<TransactOutcome, StorageError> {
    const run = inTransaction(this.#appPool, async (c): Promise<TransactOutcome> => {
      const done = await c.query(q.ALREADY_PROCESSED, [ack.consumer, ack.seq]);
      if (done.rowCount !== 0) return { kind: 'already-processed' };
      try {
        await work(c);
      } catch (e) {
        throw new WorkFailed(e); // rolls the transaction back
      }
      await c.query(q.INSERT_ACK, [ack.consumer, ack.seq, ack.at, ack.delivery]);
      return { kind: 'done' };
    }, { conflictRetries: 0 }).catch((e: unknown) => {
      if (e instanceof WorkFailed) return { kind: 'failed', error: e.error } as const;
      throw e;
    });
    return this.#read(run);
  }

  topicCounts(): ResultAsync<Map<string, number>, StorageError> {
    return this.#read(this.#pool.query<{ topic: string; n: number }>(q.TOPIC_COUNTS).then((r) => new Map(r.rows.map((row) => [row.topic, row.n]))));
  }

  deleteExpired(nowMs: number, limit: number): ResultAsync<MessageRef[], StorageError> {
    return this.#write(async () => (await this.#pool.query<MessageRef>(q.DELETE_EXPIRED, [nowMs, this.#consumerChannel, this.#instance, limit])).rows);
  }

  readHeaders(afterSeq: number, limit: number): ResultAsync<MessageHeader[], StorageError> {
    return this.#read(this.#pool.query<MessageHeader>(q.READ_HEADERS, [afterSeq, limit]).then((r) => r.rows));
  }

  deleteSeqs(seqs: readonly number[]): ResultAsync<void, StorageError> {
    return this.#write(async () => {
      await this.#pool.query(q.DELETE_SEQS, [seqs, this.#consumerChannel, this.#instance]);
    });
  }

  pruneProcessed(limit: number): ResultAsync<number, StorageError> {
    return this.#write(async () => {
      const pruned = (await this.#pool.query(q.PRUNE_PROCESSED, [limit])).rowCount ?? 0;
      await this.#pool.query(cq.DELETE_ORPHAN_REQUEUED);
      return pruned;
    });
  }

  pruneFailures(beforeMs: number, limit: number): ResultAsync<number, StorageError> {
    return this.#write(async () => (await this.#pool.query(q.PRUNE_FAILURES, [limit, beforeMs])).rowCount ?? 0);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#writability.stop();
    await this.#tail.catch(() => undefined);
    await this.#watch.stop();
    for (const p of [this.#appends, this.#pool, this.#appPool]) {
      await p.end().catch((e: unknown) => {
        this.#log.error('closing the PostgreSQL pool failed', { error: String(e) });
      });
    }
  }

  /** A write queued as #write() is, in one transaction that first takes the cluster lock. */
  #underClusterLock<T>(work: (client: pg.PoolClient) => Promise<T>): ResultAsync<T, StorageError> {
    return this.#write(() =>
      inTransaction(this.#pool, async (c) => {
        await c.query(this.#lockCluster);
        return work(c);
      }),
    );
  }

  #read<T>(pending: Promise<T>): ResultAsync<T, StorageError> {
    return ResultAsync.fromPromise(pending, storageError);
  }

  /** A write other than an append: queued behind the writes asked for before it. */
  #write<T>(write: () => Promise<T>): ResultAsync<T, StorageError> {
    const pending = this.#tail.then(write, write);
    this.#tail = pending.catch(() => undefined);
    return this.#attempt(pending);
  }

  #attempt<T>(pending: Promise<T>, proves = false): ResultAsync<T, StorageError> {
    return this.#writability.track(pending, proves);
  }

  /** After a failed write: the head row rewritten unchanged. */
  async #probe(): Promise<void> {
    if (this.#closed) return;
    (await this.#attempt(this.#pool.query(q.PROBE), true)).unwrapOr(undefined);
  }
}
