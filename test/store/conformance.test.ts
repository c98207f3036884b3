// The store port's contract, held against every store: the SQLite file and PostgreSQL. Each test opens a
// fresh log (a temp file, a schema of its own) and checks what the core relies on: append and its seqs,
// reads, time lookup, consumers, progress batches, statuses, dead letters, retention, transactional acks,
// schedules' fires, credentials and the audit log.
import type { ResultAsync } from 'neverthrow';
import { describe, expect, test } from 'vitest';
import {
  LogMessage,
  type AckColumns,
  type AppendRow,
  type ConsumerRecord,
  type ConsumerSignal,
  type ConsumerTally,
  type EventStore,
  type ProgressBatch,
  type ScheduleClaim,
  type ScheduleRecord,
  type TallyQuery,
} from '../../src/core/store-port.js';
import { silentLogger } from '../../src/logger.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { APPEND } from '../../src/store/postgres/queries.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type pg from 'pg';
import type Database from 'better-sqlite3';
import { sqliteFile } from '../helpers/broker.js';
import { PG_URL, pgQuery, pgSchemas } from '../helpers/postgres.js';
import { query, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();
const schemas = pgSchemas();

interface Opened {
  readonly store: EventStore;
  /** A read of the store's tables from another connection. */
  readonly sql: <T>(text: string) => Promise<T[]>;
  /** The store opened again on the same log (a restart, or a second broker on PostgreSQL). */
  reopen(): Promise<EventStore>;
  /** Makes `app_effects(v)`; `effect` inserts a row into it from inside transactional work. */
  appTable(): Promise<void>;
  effect(tx: unknown, v: string): void | Promise<void>;
}

const STORES: Record<string, () => Promise<Opened>> = {
  sqlite: async () => {
    const { dbPath } = await scope.dir();
    const open = async (): Promise<SqliteStore> => {
      const store = (await SqliteStore.open({ path: dbPath, sync: 'normal', logger: silentLogger }))._unsafeUnwrap();
      scope.defer(() => store.close());
      return store;
    };
    const store = await open();
    return {
      store,
      sql: <T,>(text: string) => Promise.resolve(query<T>(sqliteFile(dbPath), text)),
      reopen: async () => {
        await store.close();
        return open();
      },
      appTable: () => {
        store.sqlite.exec('CREATE TABLE app_effects (v TEXT)');
        return Promise.resolve();
      },
      effect: (tx, v) => {
        (tx as Database.Database).prepare('INSERT INTO app_effects (v) VALUES (?)').run(v);
      },
    };
  },
  postgres: async () => {
    const schema = schemas.schema();
    const open = async (): Promise<PostgresStore> => {
      const store = (await PostgresStore.open({ url: PG_URL, schema, nodeId: 'conformance', logger: silentLogger }))._unsafeUnwrap();
      scope.defer(() => store.close());
      return store;
    };
    const store = await open();
    return {
      store,
      sql: <T,>(text: string) => pgQuery(text, [], schema) as Promise<T[]>,
      reopen: open,
      appTable: async () => {
        await pgQuery('CREATE TABLE app_effects (v TEXT)', [], schema);
      },
      effect: async (tx, v) => {
        await (tx as pg.PoolClient).query('INSERT INTO app_effects (v) VALUES ($1)', [v]);
      },
    };
  },
};

/** One consumer's tally, by default of everything it resolved since it was made. */
async function tally(store: EventStore, consumer: string, over: Partial<TallyQuery> = {}): Promise<ConsumerTally> {
  return (await ok(store.consumerTallies([{ consumer, afterSeq: 0, toSeq: Number.MAX_SAFE_INTEGER, rewoundAt: 0, sinceMs: 0, ...over }]))).get(consumer)!;
}

const row = (topic: string, over: Partial<AppendRow> = {}): AppendRow =>
  new LogMessage(0, over.messageId ?? null, topic, over.payload ?? `p-${topic}`, over.metadata ?? `{"timestamp":${over.createdAt ?? 1000}}`, over.ttlSeconds ?? 0, over.orderingKey ?? null, over.createdAt ?? 1000);

const schedule = (id: string, over: Partial<ScheduleRecord> = {}): ScheduleRecord => ({
  id,
  kind: 'once',
  topic: 'later',
  payload: id,
  metadata: '{}',
  ttlSeconds: 0,
  orderingKey: null,
  messageId: null,
  cron: null,
  everyMs: null,
  timezone: 'UTC',
  startAt: null,
  endAt: null,
  nextAt: 2000,
  lastAt: null,
  fires: 0,
  missed: 0,
  paused: false,
  createdAt: 100,
  updatedAt: 100,
  ...over,
});

/** The claim of `s`'s fire at its next_at, as the scheduler makes it. */
const claimOf = (s: ScheduleRecord, over: Partial<ScheduleClaim> = {}): ScheduleClaim => ({
  id: s.id,
  kind: s.kind,
  nextAt: s.nextAt!,
  firingAt: s.nextAt!,
  next: s.kind === 'once' ? null : s.nextAt! + s.everyMs!,
  missed: 0,
  at: s.nextAt! + 5,
  ...over,
});

async function ok<T>(r: ResultAsync<T, unknown>): Promise<T> {
  return (await r)._unsafeUnwrap();
}

function acks(list: readonly [consumer: string, seq: number, delivery?: number][]): AckColumns {
  const consumers = [...new Set(list.map(([c]) => c))];
  return {
    consumers,
    consumerOf: Uint32Array.from(list.map(([c]) => consumers.indexOf(c))),
    seqs: Float64Array.from(list.map(([, s]) => s)),
    deliveries: Uint32Array.from(list.map(([, , d]) => d ?? 1)),
    ats: Float64Array.from(list.map(() => 5000)),
    sentAts: Float64Array.from(list.map(() => 4000)),
  };
}

function progress(over: Partial<ProgressBatch>): ProgressBatch {
  return { acks: acks([]), deadLetters: [], positions: new Map(), dead: [], rewinds: new Map(), deliveryCounts: [], floors: [], reservations: new Map(), partitionReservations: [], ...over };
}

const consumer = (id: string, over: { position?: number; rewoundAt?: number; createdAt?: number; expiresAt?: number } = {}) => ({
  id,
  address: null,
  patterns: ['orders.*'],
  position: over.position ?? 0,
  filter: null,
  rewoundAt: over.rewoundAt ?? 0,
  paused: false,
  pauseChangedAt: 0,
  createdAt: over.createdAt ?? 100,
  updatedAt: 100,
  expiresAt: over.expiresAt ?? null,
  backoffMs: null as readonly number[] | null,
  format: null as ConsumerRecord['format'],
  ackTimeoutMs: null as number | null,
  maxDeliveries: null as number | null,
  maxInFlight: null as number | null,
});

describe.each(Object.keys(STORES))('the %s store', (name) => {
  const open = STORES[name]!;

  test('appends in order with increasing seqs; a repeated message id stores nothing and answers the original seq', async () => {
    const { store } = await open();
    expect(store.lastSeq()).toBe(0);
    const first = await ok(store.append([row('a'), row('b', { messageId: 'id-1' }), row('c', { messageId: 'id-1' })]));
    expect(first).toEqual([
      { seq: 1, duplicate: false },
      { seq: 2, duplicate: false },
      { seq: 2, duplicate: true },
    ]);
    const again = await ok(store.append([row('d', { messageId: 'id-1' }), row('e')]));
    expect(again).toEqual([
      { seq: 2, duplicate: true },
      { seq: 3, duplicate: false },
    ]);
    expect(store.lastSeq()).toBe(3);
    expect((await ok(store.read(1, 10))).map((m) => m.topic)).toEqual(['a', 'b', 'e']);
  });

  test('large appends with message ids: new ids, ids repeated within the append and ids already stored, in any chunk', async () => {
    const { store } = await open();
    // Sizes around the SQLite writer's 32-row statements: whole chunks of new ids, and chunks with a repeat.
    const ids = (from: number, count: number): AppendRow[] => Array.from({ length: count }, (_, k) => row(`t${from + k}`, { messageId: `m-${from + k}` }));
    const first = await ok(store.append([...ids(0, 40), row('plain')]));
    expect(first).toEqual(Array.from({ length: 41 }, (_, k) => ({ seq: k + 1, duplicate: false })));
    // 32 new; then a chunk with a stored id (m-5) and one repeated within the append (m-100); then new ones.
    const mixed = [...ids(100, 32), ...ids(200, 10), row('x', { messageId: 'm-5' }), row('y', { messageId: 'm-100' }), ...ids(300, 25)];
    const second = await ok(store.append(mixed));
    const expected = [
      ...Array.from({ length: 42 }, (_, k) => ({ seq: 42 + k, duplicate: false })),
      { seq: 6, duplicate: true },
      { seq: 42, duplicate: true },
      ...Array.from({ length: 25 }, (_, k) => ({ seq: 84 + k, duplicate: false })),
    ];
    expect(second).toEqual(expected);
    // A whole chunk of new ids, one of them twice.
    const third = await ok(store.append([...ids(400, 15), row('r', { messageId: 'm-again' }), ...ids(415, 15), row('s', { messageId: 'm-again' })]));
    expect(third).toEqual([...Array.from({ length: 31 }, (_, k) => ({ seq: 109 + k, duplicate: false })), { seq: 124, duplicate: true }]);
    expect(store.lastSeq()).toBe(139);
    const stored = await ok(store.read(1, 200));
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: 139 }, (_, k) => k + 1));
    expect(stored.find((m) => m.seq === 84)!.messageId).toBe('m-300');
  });

  test('a message reads back as it was appended, by seq and by topic, a page at a time', async () => {
    const { store } = await open();
    await ok(store.append([row('t.x', { messageId: 'm1', payload: 'héllo', metadata: '{"timestamp":1000,"k":"v"}', ttlSeconds: 60, orderingKey: 'key-1' }), row('t.y'), row('t.x')]));
    const [m] = await ok(store.read(1, 1));
    expect({ ...m }).toEqual({ seq: 1, messageId: 'm1', topic: 't.x', payload: 'héllo', metadata: '{"timestamp":1000,"k":"v"}', ttlSeconds: 60, orderingKey: 'key-1', createdAt: 1000, status: 'pending' });
    expect((await ok(store.read(2, 10))).map((r) => r.seq)).toEqual([2, 3]);
    // read() leaves the status out (a catch-up for a sink that does not show it); readRecords() has it as stored.
    await ok(store.recordProgress(progress({ dead: [3] })));
    expect((await ok(store.read(1, 10, 't.x'))).map((r) => [r.seq, r.topic, r.status])).toEqual([
      [1, 't.x', 'pending'],
      [3, 't.x', 'pending'],
    ]);
    expect((await ok(store.readRecords(1, 10, 't.x'))).map((r) => [r.seq, r.topic, r.status])).toEqual([
      [1, 't.x', 'pending'],
      [3, 't.x', 'dead'],
    ]);
    expect(await ok(store.read(4, 10))).toEqual([]);
  });

  test('seqs are never reused: not after the newest messages are deleted, not after reopening', async () => {
    const opened = await open();
    await ok(opened.store.append([row('a'), row('b'), row('c')]));
    await ok(opened.store.deleteSeqs([2, 3]));
    const store = await opened.reopen();
    expect(store.lastSeq()).toBe(3);
    expect(await ok(store.append([row('d')]))).toEqual([{ seq: 4, duplicate: false }]);
  });

  test('seqAtTime finds the first message committed at or after a time', async () => {
    const { store } = await open();
    expect(await ok(store.seqAtTime(0))).toBe(1);
    for (const t of [1000, 1000, 2000, 3000, 3000, 5000]) await ok(store.append([row('a', { createdAt: t })]));
    expect(await ok(store.seqAtTime(0))).toBe(1);
    expect(await ok(store.seqAtTime(1000))).toBe(1);
    expect(await ok(store.seqAtTime(1001))).toBe(3);
    expect(await ok(store.seqAtTime(3000))).toBe(4);
    expect(await ok(store.seqAtTime(4000))).toBe(6);
    expect(await ok(store.seqAtTime(6000))).toBe(7);
  });

  test('consumers are saved, updated without moving their position, listed and deleted with their delivery counts', async () => {
    const { store, sql } = await open();
    await ok(store.saveConsumer(consumer('billing')));
    await ok(store.recordProgress(progress({ positions: new Map([['billing', 7]]), deliveryCounts: [{ consumer: 'billing', seqs: [9], deliveries: [2] }] })));
    await ok(store.saveConsumer({ ...consumer('billing'), patterns: ['orders.*', 'refunds.*'], address: 'tcp://127.0.0.1:9000' }));
    expect(await ok(store.listConsumers())).toEqual([{ ...consumer('billing', { position: 7 }), patterns: ['orders.*', 'refunds.*'], address: 'tcp://127.0.0.1:9000' }].map((c) => ({ ...c, updatedAt: expect.any(Number) as number })));
    await ok(store.deleteConsumer('billing'));
    expect(await ok(store.listConsumers())).toEqual([]);
    expect(await sql('SELECT * FROM delivery_counts')).toEqual([]);
  });

  test("a consumer's redelivery backoff is stored as its JSON list, replaced by an update and removed by null", async () => {
    const { store, sql } = await open();
    await ok(store.saveConsumer({ ...consumer('billing'), backoffMs: [100, 2_000] }));
    expect((await ok(store.listConsumers()))[0]?.backoffMs).toEqual([100, 2_000]);
    expect(await sql("SELECT backoff_ms FROM consumers WHERE id = 'billing'")).toEqual([{ backoff_ms: '[100,2000]' }]);
    await ok(store.saveConsumer({ ...consumer('billing'), backoffMs: [5] }));
    expect((await ok(store.listConsumers()))[0]?.backoffMs).toEqual([5]);
    await ok(store.saveConsumer(consumer('billing')));
    expect((await ok(store.listConsumers()))[0]?.backoffMs).toBeNull();
  });

  test("a consumer's push format is stored as it is, replaced by an update and back to null (the default) by null; createConsumer keeps it", async () => {
    const { store, sql } = await open();
    await ok(store.saveConsumer({ ...consumer('hook'), address: 'http://127.0.0.1:9000/events', format: 'cloudevents' }));
    expect((await ok(store.listConsumers()))[0]).toMatchObject({ id: 'hook', format: 'cloudevents' });
    expect(await sql("SELECT format FROM consumers WHERE id = 'hook'")).toEqual([{ format: 'cloudevents' }]);
    await ok(store.saveConsumer({ ...consumer('hook'), address: 'http://127.0.0.1:9000/events' }));
    expect((await ok(store.listConsumers()))[0]?.format).toBeNull();
    expect(await sql("SELECT format FROM consumers WHERE id = 'hook'")).toEqual([{ format: null }]);
    // Made through createConsumer (how a broker of a shared store makes one), and read back as stored.
    const made = await ok(store.createConsumer({ ...consumer('made'), address: 'https://127.0.0.1:9443/', format: 'cloudevents' }));
    expect(made.format).toBe('cloudevents');
    expect((await ok(store.listConsumers())).map((c) => [c.id, c.format]).sort()).toEqual([['hook', null], ['made', 'cloudevents']]);
  });

  test("a consumer's own limits are stored in their columns, replaced by an update, back to null by null, and kept by createConsumer", async () => {
    const { store, sql } = await open();
    await ok(store.saveConsumer({ ...consumer('slow'), ackTimeoutMs: 120_000, maxDeliveries: 3, maxInFlight: 16 }));
    expect((await ok(store.listConsumers()))[0]).toMatchObject({ id: 'slow', ackTimeoutMs: 120_000, maxDeliveries: 3, maxInFlight: 16 });
    expect(await sql("SELECT ack_timeout_ms, max_deliveries, max_in_flight FROM consumers WHERE id = 'slow'")).toEqual([{ ack_timeout_ms: 120_000, max_deliveries: 3, max_in_flight: 16 }]);
    await ok(store.saveConsumer({ ...consumer('slow'), maxDeliveries: 5 }));
    expect((await ok(store.listConsumers()))[0]).toMatchObject({ ackTimeoutMs: null, maxDeliveries: 5, maxInFlight: null });
    const made = await ok(store.createConsumer({ ...consumer('made'), ackTimeoutMs: 500 }));
    expect(made).toMatchObject({ ackTimeoutMs: 500, maxDeliveries: null, maxInFlight: null });
  });

  test('a reservation is written with a progress batch, kept out of the consumer record, and a rewind sets it back', async () => {
    const { store } = await open();
    await ok(store.saveConsumer(consumer('billing')));
    await ok(store.recordProgress(progress({ reservations: new Map([['billing', 40]]) })));
    // A shared store keeps reservations per partition, under the lease (ClusterView.reserved).
    const shared = store.cluster !== undefined;
    expect(await ok(store.reservation('billing'))).toBe(shared ? 0 : 40);
    expect(await ok(store.listConsumers())).toEqual([expect.not.objectContaining({ reservedSeq: expect.anything() as unknown })]);
    await ok(store.saveConsumer({ ...consumer('billing'), patterns: ['refunds.*'] }));
    expect(await ok(store.reservation('billing'))).toBe(shared ? 0 : 40);
    await ok(store.recordProgress(progress({ rewinds: new Map([['billing', 11]]) })));
    expect(await ok(store.reservation('billing'))).toBe(shared ? 0 : 10);
    await ok(store.recordProgress(progress({ reservations: new Map([['billing', 0]]) })));
    expect(await ok(store.reservation('billing'))).toBe(0);
  });

  test('a leased consumer is deleted once its lease has lapsed as stored, with its delivery counts; one without a lease never is', async () => {
    const { store, sql } = await open();
    await ok(store.saveConsumer(consumer('side', { expiresAt: 5_000 })));
    await ok(store.saveConsumer(consumer('kept')));
    await ok(store.recordProgress(progress({ deliveryCounts: [{ consumer: 'side', seqs: [9], deliveries: [2] }] })));
    expect((await ok(store.listConsumers())).map((c) => [c.id, c.expiresAt]).sort()).toEqual([['kept', null], ['side', 5_000]]);
    expect(await ok(store.deleteLapsedConsumer('side', 4_999))).toBe(false);
    expect(await ok(store.deleteLapsedConsumer('kept', Number.MAX_SAFE_INTEGER))).toBe(false);
    // Renewed: the lease moves on.
    await ok(store.saveConsumer(consumer('side', { expiresAt: 8_000 })));
    expect(await ok(store.deleteLapsedConsumer('side', 6_000))).toBe(false);
    expect(await ok(store.deleteLapsedConsumer('side', 8_000))).toBe(true);
    expect((await ok(store.listConsumers())).map((c) => c.id)).toEqual(['kept']);
    expect(await sql('SELECT * FROM delivery_counts')).toEqual([]);
    expect(await ok(store.deleteLapsedConsumer('side', 9_000))).toBe(false);
  });

  test('a progress batch records acks, delivery counts, dead letters, positions and dead messages together', async () => {
    const { store, sql } = await open();
    await ok(store.append([row('orders.a'), row('orders.b'), row('orders.c'), row('orders.d'), row('orders.e')]));
    const [, second] = await ok(store.read(1, 5));
    await ok(store.saveConsumer(consumer('billing')));
    await ok(
      store.recordProgress(
        progress({
          acks: acks([
            ['billing', 1],
            ['billing', 3, 2],
            ['billing', 3, 3], // the same ack twice in one batch: the last one counts
            ['billing', 5],
          ]),
          deadLetters: [{ consumer: 'billing', message: second!, reason: 'max deliveries', deliveries: 10, at: 6000 }],
          positions: new Map([['billing', 3]]),
          dead: [2],
          deliveryCounts: [{ consumer: 'billing', seqs: [2, 4], deliveries: [9, 2] }],
        }),
      ),
    );
    expect(await ok(store.processedAbove('billing', 3, 0))).toEqual([5]);
    // Dead-lettered is done with too: not delivered again after a restart.
    expect(await ok(store.processedAbove('billing', 0, 0))).toEqual([1, 2, 3, 5]);
    expect(await sql('SELECT delivery FROM processed_messages WHERE seq = 3')).toEqual([{ delivery: 3 }]);
    expect((await ok(store.listConsumers()))[0]!.position).toBe(3);
    // Counts at or below the new position go with it.
    expect([...(await ok(store.deliveryCounts('billing', 0)))]).toEqual([[4, 2]]);
    expect((await tally(store, 'billing')).deadLetters).toBe(1);
    expect((await tally(store, 'billing', { sinceMs: 6001 })).deadLetters).toBe(0);
    expect(await sql('SELECT consumer, seq, topic, reason, deliveries FROM dead_letters')).toEqual([{ consumer: 'billing', seq: 2, topic: 'orders.b', reason: 'max deliveries', deliveries: 10 }]);
    expect(await sql('SELECT seq, status FROM messages ORDER BY seq')).toEqual([
      { seq: 1, status: 'pending' },
      { seq: 2, status: 'dead' },
      { seq: 3, status: 'pending' },
      { seq: 4, status: 'pending' },
      { seq: 5, status: 'pending' },
    ]);
    // A rewind voids the counts from its seq on; later counts of the same batch apply after it.
    await ok(store.recordProgress(progress({ rewinds: new Map([['billing', 4]]), deliveryCounts: [{ consumer: 'billing', seqs: [5], deliveries: [1] }] })));
    expect([...(await ok(store.deliveryCounts('billing', 0)))]).toEqual([[5, 1]]);
    // Acks recorded before a rewind no longer count as processed (the dead letter, at 6000, came after it).
    expect(await ok(store.processedAbove('billing', 0, 5000))).toEqual([2]);
    expect(await ok(store.processedAbove('billing', 0, 6000))).toEqual([]);
  });

  test('marking messages processed leaves a dead one dead', async () => {
    const { store, sql } = await open();
    await ok(store.append([row('a'), row('b'), row('c'), row('d')]));
    await ok(store.recordProgress(progress({ dead: [2] })));
    await ok(
      store.markProcessed([
        { from: 1, to: 2 },
        { from: 4, to: 4 },
      ]),
    );
    expect((await sql<{ status: string }>('SELECT status FROM messages ORDER BY seq')).map((r) => r.status)).toEqual(['processed', 'dead', 'pending', 'processed']);
  });

  test('retention: expired messages go by their TTL, a batch at a time, and headers and counts follow', async () => {
    const { store } = await open();
    await ok(store.append([row('x.a', { ttlSeconds: 1, createdAt: 1000 }), row('x.b', { createdAt: 1000 }), row('x.a', { ttlSeconds: 1, createdAt: 1000 }), row('x.c', { ttlSeconds: 3_000_000, createdAt: 1000 })]));
    expect([...(await ok(store.topicCounts()))].sort()).toEqual([
      ['x.a', 2],
      ['x.b', 1],
      ['x.c', 1],
    ]);
    expect(await ok(store.deleteExpired(1999, 10))).toEqual([]);
    const first = await ok(store.deleteExpired(2000, 1));
    const second = await ok(store.deleteExpired(2000, 10));
    expect([...first, ...second].sort((a, b) => a.seq - b.seq)).toEqual([
      { seq: 1, topic: 'x.a' },
      { seq: 3, topic: 'x.a' },
    ]);
    // 3,000,000 s is more milliseconds than a 32-bit integer holds.
    expect(await ok(store.deleteExpired(1000 + 3_000_000_000, 10))).toEqual([{ seq: 4, topic: 'x.c' }]);
    expect(await ok(store.readHeaders(0, 10))).toEqual([{ seq: 2, topic: 'x.b', createdAt: 1000 }]);
    await ok(store.deleteSeqs([2]));
    expect(await ok(store.readHeaders(0, 10))).toEqual([]);
    expect(store.lastSeq()).toBe(4);
  });

  test('pruning acks takes at most the limit, keeps what is above a position or still in the log, and takes all of a removed consumer', async () => {
    const { store } = await open();
    await ok(store.append([row('orders.a'), row('orders.b'), row('orders.c'), row('orders.d')]));
    await ok(store.saveConsumer(consumer('kept')));
    await ok(store.saveConsumer(consumer('gone')));
    const all = (c: string): [string, number][] => [1, 2, 3, 4].map((s) => [c, s]);
    await ok(store.recordProgress(progress({ acks: acks([...all('kept'), ...all('gone')]), positions: new Map([['kept', 4]]) })));
    await ok(store.deleteSeqs([1, 2]));
    await ok(store.deleteConsumer('gone'));
    expect(await ok(store.pruneProcessed(3))).toBe(3);
    expect(await ok(store.pruneProcessed(100))).toBe(3);
    expect(await ok(store.pruneProcessed(100))).toBe(0);
    // kept: seqs 3 and 4 are still in the log.
    expect(await ok(store.processedAbove('kept', 0, 0))).toEqual([3, 4]);
    expect(await ok(store.processedAbove('gone', 0, 0))).toEqual([]);
  });

  test('push failures are recorded and pruned oldest first, a batch at a time', async () => {
    const { store, sql } = await open();
    const failure = (at: number, seq: number | null) => ({ consumer: 'hook', address: 'http://127.0.0.1:9/x', seq, attempt: 1, failedAt: at, latencyMs: 3, error: 'refused', httpStatus: null });
    await ok(store.recordFailures([failure(100, 1), failure(200, null), failure(300, 2)]));
    expect(await sql('SELECT consumer, seq, failed_at, http_status FROM delivery_failures ORDER BY id')).toEqual([
      { consumer: 'hook', seq: 1, failed_at: 100, http_status: null },
      { consumer: 'hook', seq: null, failed_at: 200, http_status: null },
      { consumer: 'hook', seq: 2, failed_at: 300, http_status: null },
    ]);
    expect(await ok(store.pruneFailures(250, 1))).toBe(1);
    expect(await ok(store.pruneFailures(250, 10))).toBe(1);
    expect(await ok(store.pruneFailures(250, 10))).toBe(0);
  });

  test("lastFailures: each consumer's newest failure since its time, in one read; a consumer with none is left out", async () => {
    const { store } = await open();
    const failure = (consumer: string, at: number, error: string) => ({ consumer, address: 'tcp://127.0.0.1:9', seq: null, attempt: 1, failedAt: at, latencyMs: 1, error, httpStatus: null });
    await ok(
      store.recordFailures([failure('a', 100, 'a-first'), failure('a', 300, 'a-last'), failure('a', 200, 'a-middle'), failure('b', 50, 'b-old'), failure('c', 10, 'c')]),
    );
    const last = await ok(store.lastFailures([{ id: 'a', sinceMs: 0 }, { id: 'b', sinceMs: 60 }, { id: 'c', sinceMs: 10 }, { id: 'none', sinceMs: 0 }]));
    expect(Object.fromEntries(last)).toEqual({ a: { at: 300, error: 'a-last' }, c: { at: 10, error: 'c' } });
    expect((await ok(store.lastFailures([]))).size).toBe(0);
  });

  test('a pause is stored with when it changed; an older change, also through a save of the consumer, does not undo a newer one', async () => {
    const { store } = await open();
    await ok(store.saveConsumer(consumer('billing')));
    await ok(store.setPaused('billing', true, 200));
    expect((await ok(store.listConsumers()))[0]).toMatchObject({ paused: true, pauseChangedAt: 200 });
    await ok(store.setPaused('billing', false, 150)); // a late echo of an older change
    await ok(store.saveConsumer({ ...consumer('billing'), patterns: ['orders.#'] })); // a broker that never heard of the pause
    expect((await ok(store.listConsumers()))[0]).toMatchObject({ paused: true, pauseChangedAt: 200, patterns: ['orders.#'] });
    await ok(store.setPaused('billing', false, 300));
    expect((await ok(store.listConsumers()))[0]).toMatchObject({ paused: false, pauseChangedAt: 300 });
  });

  test('dead letters are listed in seq order a page at a time, only those since the consumer was made', async () => {
    const { store } = await open();
    await ok(store.append([row('orders.a'), row('orders.b'), row('orders.c'), row('orders.d')]));
    const messages = await ok(store.read(1, 4));
    await ok(store.saveConsumer(consumer('billing', { createdAt: 1000 })));
    const dead = (i: number, at: number) => ({ consumer: 'billing', message: messages[i]!, reason: `r${i}`, deliveries: 3, at });
    await ok(store.recordProgress(progress({ deadLetters: [dead(3, 2000), dead(0, 500), dead(1, 2000), dead(2, 2000)] })));
    const page = await ok(store.listDeadLetters('billing', 1000, 1, 2));
    expect(page).toEqual([
      { seq: 2, topic: 'orders.b', payload: 'p-orders.b', metadata: '{"timestamp":1000}', reason: 'r1', deliveries: 3, deadAt: 2000 },
      { seq: 3, topic: 'orders.c', payload: 'p-orders.c', metadata: '{"timestamp":1000}', reason: 'r2', deliveries: 3, deadAt: 2000 },
    ]);
    expect((await ok(store.listDeadLetters('billing', 1000, 4, 2))).map((d) => d.seq)).toEqual([4]);
    expect(await ok(store.listDeadLetters('other', 0, 1, 10))).toEqual([]);
  });

  test('requeueing takes dead letters out and keeps them as requeued while the log holds them; a message dead nowhere else is pending again', async () => {
    const { store, sql } = await open();
    await ok(store.append([row('orders.a'), row('orders.b'), row('orders.c'), row('orders.d')]));
    const m = await ok(store.read(1, 4));
    await ok(store.saveConsumer(consumer('billing')));
    await ok(store.saveConsumer(consumer('audit')));
    const dead = (c: string, i: number) => ({ consumer: c, message: m[i]!, reason: 'x', deliveries: 3, at: 2000 });
    await ok(store.recordProgress(progress({ deadLetters: [dead('billing', 0), dead('billing', 1), dead('billing', 2), dead('audit', 1)], dead: [1, 2, 3] })));
    await ok(store.deleteSeqs([3]));
    expect(await ok(store.requeueDeadLetters({ consumer: 'billing', sinceMs: 0, seqs: [1, 2, 3, 4] }, 3000))).toBe(3);
    expect((await tally(store, 'billing')).deadLetters).toBe(0);
    expect((await tally(store, 'audit')).deadLetters).toBe(1);
    // 3 left the log: nothing to deliver again.
    expect((await ok(store.requeued('billing'))).map((r) => r.seq)).toEqual([1, 2]);
    expect((await tally(store, 'billing')).requeued).toEqual([
      { seq: 1, topic: 'orders.a' },
      { seq: 2, topic: 'orders.b' },
    ]);
    expect(await sql('SELECT seq, status FROM messages ORDER BY seq')).toEqual([
      { seq: 1, status: 'pending' },
      { seq: 2, status: 'dead' }, // still dead for audit
      { seq: 4, status: 'pending' },
    ]);
    expect(await ok(store.requeueDeadLetters({ consumer: 'billing', sinceMs: 0 }, 3000))).toBe(0);
    // Requeued, not acked: processedAbove does not count it done, so a restart delivers it.
    expect(await ok(store.processedAbove('billing', 0, 0))).toEqual([]);
    await ok(store.recordProgress(progress({ acks: acks([['billing', 1]]) })));
    expect((await ok(store.requeued('billing'))).map((r) => r.seq)).toEqual([2]);
    await ok(store.recordProgress(progress({ rewinds: new Map([['billing', 2]]) })));
    expect(await ok(store.requeued('billing'))).toEqual([]);
    // All of them when no seqs are given; dead-lettered again, one is no longer requeued.
    expect(await ok(store.requeueDeadLetters({ consumer: 'audit', sinceMs: 0 }, 3000))).toBe(1);
    await ok(store.recordProgress(progress({ deadLetters: [dead('audit', 1)] })));
    expect(await ok(store.requeued('audit'))).toEqual([]);
  });

  test('deleting dead letters records those above the position as done, so that they stay done after a restart', async () => {
    const { store } = await open();
    await ok(store.append([row('orders.a'), row('orders.b'), row('orders.c')]));
    const m = await ok(store.read(1, 3));
    await ok(store.saveConsumer(consumer('billing')));
    const dead = (i: number) => ({ consumer: 'billing', message: m[i]!, reason: 'x', deliveries: 3, at: 2000 });
    await ok(store.recordProgress(progress({ deadLetters: [dead(0), dead(2)], positions: new Map([['billing', 1]]) })));
    expect(await ok(store.deleteDeadLetters({ consumer: 'billing', sinceMs: 0, seqs: [3] }, 3000))).toBe(1);
    expect(await ok(store.processedAbove('billing', 1, 0))).toEqual([3]);
    expect(await ok(store.deleteDeadLetters({ consumer: 'billing', sinceMs: 0 }, 3000))).toBe(1);
    expect(await ok(store.listDeadLetters('billing', 0, 1, 10))).toEqual([]);
  });

  test('what lag is counted from: messages of some topics in a range, and the acked or dead-lettered ones above a position', async () => {
    const { store } = await open();
    await ok(store.append(['orders.a', 'refunds.a', 'orders.b', 'orders.a', 'orders.a'].map((t) => row(t))));
    const m = await ok(store.read(1, 5));
    expect(await ok(store.countMessages(0, 5, ['orders.a', 'orders.b']))).toBe(4);
    expect(await ok(store.countMessages(1, 4, ['orders.a']))).toBe(1);
    expect(await ok(store.countMessages(0, 5, []))).toBe(0);
    await ok(store.saveConsumer(consumer('billing')));
    await ok(store.recordProgress(progress({ acks: acks([['billing', 3], ['billing', 5]]), deadLetters: [{ consumer: 'billing', message: m[3]!, reason: 'x', deliveries: 1, at: 6000 }] })));
    await ok(store.deleteSeqs([5]));
    expect((await tally(store, 'billing', { afterSeq: 1, toSeq: 5 })).resolved).toEqual([
      { seq: 3, topic: 'orders.b' },
      { seq: 4, topic: 'orders.a' },
    ]);
    expect((await tally(store, 'billing', { afterSeq: 3, toSeq: 5 })).resolved).toEqual([{ seq: 4, topic: 'orders.a' }]);
    expect((await tally(store, 'billing', { afterSeq: 1, toSeq: 3 })).resolved).toEqual([{ seq: 3, topic: 'orders.b' }]);
    // Acks at 5000 came before a rewind at 5500; the dead letter after it.
    expect((await tally(store, 'billing', { rewoundAt: 5500 })).resolved).toEqual([{ seq: 4, topic: 'orders.a' }]);
    // Several consumers in one read, one the store never heard of.
    const both = await ok(
      store.consumerTallies([
        { consumer: 'billing', afterSeq: 3, toSeq: 5, rewoundAt: 0, sinceMs: 0 },
        { consumer: 'nobody', afterSeq: 0, toSeq: 5, rewoundAt: 0, sinceMs: 0 },
      ]),
    );
    expect(Object.fromEntries(both)).toEqual({
      billing: { resolved: [{ seq: 4, topic: 'orders.a' }], requeued: [], deadLetters: 1 },
      nobody: { resolved: [], requeued: [], deadLetters: 0 },
    });
    expect(await ok(store.consumerTallies([]))).toEqual(new Map());
  });

  test('the same tallies and last failures asked again after each write that changes them answer the change', async () => {
    // A store may keep what it answered (SQLite does, as its one broker writes everything): each write that
    // touches a consumer's acks, dead letters, requeues, failures or the log must show in the next answer.
    const { store } = await open();
    await ok(store.append(['orders.a', 'orders.b', 'orders.a', 'orders.c', 'orders.a'].map((t) => row(t))));
    const m = await ok(store.read(1, 5));
    await ok(store.saveConsumer(consumer('billing')));
    const query = { consumer: 'billing', afterSeq: 1, toSeq: 5, rewoundAt: 0, sinceMs: 0 };
    const now = async () => (await ok(store.consumerTallies([query]))).get('billing')!;
    const seqs = async () => (await now()).resolved.map((r) => r.seq);
    expect(await seqs()).toEqual([]);
    await ok(store.recordProgress(progress({ acks: acks([['billing', 3]]) })));
    expect(await seqs()).toEqual([3]);
    await ok(store.recordProgress(progress({ deadLetters: [{ consumer: 'billing', message: m[4]!, reason: 'x', deliveries: 1, at: 6000 }] })));
    expect(await seqs()).toEqual([3, 5]);
    expect((await now()).deadLetters).toBe(1);
    expect(await ok(store.requeueDeadLetters({ consumer: 'billing', sinceMs: 0 }, 7000))).toBe(1);
    expect(await now()).toEqual({ resolved: [{ seq: 3, topic: 'orders.a' }], requeued: [{ seq: 5, topic: 'orders.a' }], deadLetters: 0 });
    await ok(store.deleteSeqs([3]));
    expect(await seqs()).toEqual([]);

    const failure = (at: number, error: string) => ({ consumer: 'billing', address: 'tcp://127.0.0.1:9', seq: null, attempt: 1, failedAt: at, latencyMs: 1, error, httpStatus: null });
    const last = async () => (await ok(store.lastFailures([{ id: 'billing', sinceMs: 0 }]))).get('billing');
    expect(await last()).toBeUndefined();
    await ok(store.recordFailures([failure(100, 'first')]));
    expect(await last()).toEqual({ at: 100, error: 'first' });
    await ok(store.recordFailures([failure(200, 'second')]));
    expect(await last()).toEqual({ at: 200, error: 'second' });
    await ok(store.pruneFailures(300, 10));
    expect(await last()).toBeUndefined();
  });

  test('messages by seq and in pages with their status, and the first and last seq of each topic', async () => {
    const { store } = await open();
    await ok(store.append([row('orders.a'), row('refunds.a'), row('orders.a'), row('orders.b')]));
    await ok(store.recordProgress(progress({ dead: [2] })));
    expect(await ok(store.message(2))).toEqual({ seq: 2, messageId: null, topic: 'refunds.a', payload: 'p-refunds.a', metadata: '{"timestamp":1000}', ttlSeconds: 0, orderingKey: null, createdAt: 1000, status: 'dead' });
    expect(await ok(store.message(9))).toBeUndefined();
    expect((await ok(store.readRecords(2, 2))).map((r) => [r.seq, r.status])).toEqual([
      [2, 'dead'],
      [3, 'pending'],
    ]);
    expect((await ok(store.readRecords(1, 10, 'orders.a'))).map((r) => r.seq)).toEqual([1, 3]);
    expect([...(await ok(store.topicBounds(['orders.a', 'orders.b', 'gone'])))]).toEqual([
      ['orders.a', { first: 1, last: 3 }],
      ['orders.b', { first: 4, last: 4 }],
    ]);
  });

  test("a schedule's fire is appended only if its claim holds, in the append's transaction, among ordinary rows", async () => {
    const { store, sql } = await open();
    const once = [schedule('d1'), schedule('d2'), schedule('d3', { nextAt: 2500 })];
    await ok(store.schedules.add(once));
    const tick = schedule('tick', { kind: 'every', everyMs: 1000, nextAt: 3000 });
    const paused = schedule('held', { kind: 'every', everyMs: 1000, nextAt: 3000, paused: true });
    await ok(store.schedules.put(tick));
    await ok(store.schedules.put(paused));
    // Ordinary rows around the fires, across the SQLite writer's 32-row statements.
    const rows: AppendRow[] = [];
    const claims: (ScheduleClaim | undefined)[] = [];
    const push = (r: AppendRow, claim?: ScheduleClaim): void => {
      claims[rows.length] = claim;
      rows.push(r);
    };
    for (let i = 0; i < 40; i++) push(row(`plain.${i}`));
    push(row('fire.d1', { messageId: 'fire-d1' }), claimOf(once[0]!));
    push(row('fire.d2', { messageId: 'fire-d2' }), claimOf(once[1]!, { nextAt: 1999 })); // read before a change: not taken
    push(row('fire.tick', { messageId: 'fire-tick' }), claimOf(tick, { missed: 2 }));
    push(row('fire.held', { messageId: 'fire-held' }), claimOf(paused));
    push(row('fire.gone', { messageId: 'fire-gone' }), claimOf(schedule('gone')));
    for (let i = 40; i < 80; i++) push(row(`plain.${i}`));
    const appended = await ok(store.append(rows, claims));
    expect(appended.slice(40, 45)).toEqual([
      { seq: 41, duplicate: false },
      { seq: 0, duplicate: true },
      { seq: 42, duplicate: false },
      { seq: 0, duplicate: true },
      { seq: 0, duplicate: true },
    ]);
    expect(appended.slice(45).map((a) => a.seq)).toEqual(Array.from({ length: 40 }, (_, i) => 43 + i));
    expect(store.lastSeq()).toBe(82);
    const topics = (await ok(store.read(1, 100))).map((m) => m.topic);
    expect(topics.filter((t) => t.startsWith('fire.'))).toEqual(['fire.d1', 'fire.tick']);
    expect(topics).toHaveLength(82);
    // d1 is gone, d2 and d3 wait; the tick moved on with its fire counted; the paused one is as it was.
    expect(await sql('SELECT id, next_at, last_at, fires, missed FROM schedules ORDER BY id')).toEqual([
      { id: 'd2', next_at: 2000, last_at: null, fires: 0, missed: 0 },
      { id: 'd3', next_at: 2500, last_at: null, fires: 0, missed: 0 },
      { id: 'held', next_at: 3000, last_at: null, fires: 0, missed: 0 },
      { id: 'tick', next_at: 4000, last_at: 3000, fires: 1, missed: 2 },
    ]);
    // The same claim again holds no more: the row has moved on.
    expect(await ok(store.append([row('fire.tick', { messageId: 'fire-tick-2' })], [claimOf(tick)]))).toEqual([{ seq: 0, duplicate: true }]);
    // A claim that holds on a message id already stored takes the row and appends nothing.
    expect(await ok(store.append([row('fire.d3', { messageId: 'fire-d1' })], [claimOf(once[2]!)]))).toEqual([{ seq: 41, duplicate: true }]);
    expect((await sql<{ id: string }>('SELECT id FROM schedules ORDER BY id')).map((r) => r.id)).toEqual(['d2', 'held', 'tick']);
  });

  test('credentials: added once by name, replaced, marked used, listed by name with their permissions, removed', async () => {
    const { store, sql } = await open();
    const c = store.credentials;
    const svc = { name: 'svc', tokenHash: 'h1', publish: ['orders.#'], subscribe: ['orders.*'], consumers: ['billing-*'], monitor: false, admin: false, publishRate: 50, createdAt: 10, updatedAt: 10, lastUsedAt: null };
    const ops = { ...svc, name: 'ops', tokenHash: 'h2', publish: [], subscribe: [], consumers: [], monitor: true, publishRate: null };
    expect(await ok(c.add(svc))).toBe(true);
    expect(await ok(c.add({ ...svc, tokenHash: 'h3' }))).toBe(false);
    expect(await ok(c.add(ops))).toBe(true);
    expect(await ok(c.list())).toEqual([ops, svc]);
    const rotated = { ...svc, tokenHash: 'h4', publish: ['orders.eu.#'], publishRate: null, updatedAt: 20 };
    expect(await ok(c.replace(rotated))).toBe(true);
    expect(await ok(c.replace({ ...rotated, name: 'nobody' }))).toBe(false);
    await ok(c.used(['svc', 'nobody'], 30));
    expect(await ok(c.list())).toEqual([ops, { ...rotated, lastUsedAt: 30 }]);
    // Only the hash is stored.
    expect(await sql('SELECT token_hash FROM credentials ORDER BY name')).toEqual([{ token_hash: 'h2' }, { token_hash: 'h4' }]);
    expect(await ok(c.remove('svc'))).toBe(true);
    expect(await ok(c.remove('svc'))).toBe(false);
    expect((await ok(c.list())).map((r) => r.name)).toEqual(['ops']);
  });

  test('the audit log: appended in order, read a page at a time from a time, pruned oldest first by age', async () => {
    const { store } = await open();
    const c = store.credentials;
    const entry = (at: number, action: string) => ({ at, credential: at % 2 === 0 ? 'svc' : null, peer: '127.0.0.1:5', action, target: at === 3 ? null : 'orders.*', outcome: 'ok' });
    await ok(c.audit([entry(1, 'a'), entry(2, 'b'), entry(3, 'c')]));
    await ok(c.audit([entry(4, 'd')]));
    const all = await ok(c.auditPage(0, 0, 10));
    expect(all.map((e) => e.action)).toEqual(['a', 'b', 'c', 'd']);
    expect(all[2]).toMatchObject({ at: 3, credential: null, target: null, peer: '127.0.0.1:5', outcome: 'ok' });
    const fromTwo = await ok(c.auditPage(2, 0, 2));
    expect(fromTwo.map((e) => e.action)).toEqual(['b', 'c']);
    expect((await ok(c.auditPage(2, fromTwo[1]!.id, 2))).map((e) => e.action)).toEqual(['d']);
    expect(await ok(c.pruneAudit(4, 2))).toBe(2);
    expect((await ok(c.auditPage(0, 0, 10))).map((e) => e.action)).toEqual(['c', 'd']);
    expect(await ok(c.pruneAudit(4, 2))).toBe(1);
    expect((await ok(c.auditPage(0, 0, 10))).map((e) => e.action)).toEqual(['d']);
  });

  test('transactional ack: the work and the ack commit together; work that throws leaves nothing; a processed message is not worked again', async () => {
    const opened = await open();
    const { store, sql } = opened;
    await opened.appTable();
    await ok(store.append([row('orders.a'), row('orders.b')]));
    await ok(store.saveConsumer(consumer('billing')));
    const ack = (seq: number) => ({ consumer: 'billing', seq, delivery: 1, at: 5000 });
    expect(await ok(store.transactAck(ack(1), (tx) => opened.effect(tx, 'one')))).toEqual({ kind: 'done' });
    expect(await ok(store.transactAck(ack(1), (tx) => opened.effect(tx, 'again')))).toEqual({ kind: 'already-processed' });
    const failed = await ok(
      store.transactAck(ack(2), async (tx) => {
        await opened.effect(tx, 'two');
        throw new Error('handler failed');
      }),
    );
    // SQLite's work is synchronous: an async function is refused (and rolled back) for returning a promise.
    expect(failed.kind).toBe('failed');
    expect(await sql('SELECT v FROM app_effects')).toEqual([{ v: 'one' }]);
    expect(await ok(store.processedAbove('billing', 0, 0))).toEqual([1]);
  });
});

describe('several PostgreSQL stores on one log (several brokers)', () => {
  test('concurrent appends from three stores get unique seqs, and a reader never sees a seq appear below one it has seen', async () => {
    const first = await STORES.postgres!();
    const stores = [first.store, await first.reopen(), await first.reopen()];
    let stop = false;
    const anomalies: number[] = [];
    const reader = (async () => {
      let maxSeen = 0;
      const seen = new Set<number>();
      while (!stop) {
        for (const m of await ok(first.store.read(1, 100_000))) {
          if (seen.has(m.seq)) continue;
          if (m.seq < maxSeen) anomalies.push(m.seq);
          seen.add(m.seq);
          maxSeen = Math.max(maxSeen, m.seq);
        }
      }
    })();
    const answered = await Promise.all(
      stores.flatMap((store, s) =>
        Array.from({ length: 4 }, async (_, w) => {
          const seqs: number[] = [];
          for (let i = 0; i < 40; i++) {
            const batch = Array.from({ length: 1 + (i % 5) }, (_, j) => row(`s${s}.w${w}`, { payload: `${i}.${j}` }));
            for (const a of await ok(store.append(batch))) seqs.push(a.seq);
          }
          return seqs;
        }),
      ),
    );
    stop = true;
    await reader;
    const all = answered.flat();
    expect(new Set(all).size).toBe(all.length);
    expect(anomalies).toEqual([]);
    // Each writer's own publishes are in the order it made them.
    for (const seqs of answered) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const stored = await first.sql<{ n: number }>('SELECT count(*)::int AS n FROM messages');
    expect(stored[0]!.n).toBe(all.length);
  });

  test('the same message ids published on three stores at once are stored once, and every store answers the stored seq', async () => {
    const first = await STORES.postgres!();
    const stores = [first.store, await first.reopen(), await first.reopen()];
    const ids = Array.from({ length: 300 }, (_, i) => `race-${i}`);
    // Each store sends the ids in batches of its own size and order, so batches overlap partly.
    const answered = await Promise.all(
      stores.map(async (store, s) => {
        const mine = s === 1 ? [...ids].reverse() : ids;
        const seqOf = new Map<string, number>();
        const size = 7 + s * 6;
        for (let i = 0; i < mine.length; i += size) {
          const batch = mine.slice(i, i + size);
          const appended = await ok(store.append(batch.map((id) => row('race', { messageId: id }))));
          batch.forEach((id, j) => seqOf.set(id, appended[j]!.seq));
        }
        return seqOf;
      }),
    );
    const stored = await first.sql<{ message_id: string; seq: number }>('SELECT message_id, seq FROM messages');
    expect(stored).toHaveLength(ids.length);
    const storedSeq = new Map(stored.map((r) => [r.message_id, r.seq]));
    for (const seqOf of answered) for (const id of ids) expect(seqOf.get(id), id).toBe(storedSeq.get(id));
  });

  test("three stores claiming the same fires at once, in pages that overlap, append each exactly once", async () => {
    const first = await STORES.postgres!();
    const stores = [first.store, await first.reopen(), await first.reopen()];
    const due = Array.from({ length: 300 }, (_, i) => schedule(`s${i}`, { nextAt: 2000 + i }));
    await ok(first.store.schedules.add(due));
    // Each store fires them in pages of its own size and order, so the pages overlap partly.
    await Promise.all(
      stores.map(async (store, s) => {
        const mine = s === 1 ? [...due].reverse() : due;
        const size = 11 + s * 9;
        for (let i = 0; i < mine.length; i += size) {
          const page = mine.slice(i, i + size);
          await ok(store.append(page.map((d) => row('race', { messageId: `schedule:${d.id}:${d.nextAt!}` })), page.map((d) => claimOf(d))));
        }
      }),
    );
    expect(await first.sql<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE topic = 'race'`)).toEqual([{ n: 300 }]);
    expect(await first.sql<{ n: number }>('SELECT count(*)::int AS n FROM schedules')).toEqual([{ n: 0 }]);
  });

  test('an append finds stored message ids through the index, even planned on an empty log', async () => {
    const { sql } = await STORES.postgres!();
    // The pool's connections keep a generic plan after a few runs; one made while the log was empty must
    // still not scan the log, or every append would read the whole log once it is large.
    const plan = await sql<{ 'QUERY PLAN': string }>(
      `SET plan_cache_mode = force_generic_plan; PREPARE append AS ${APPEND};
       EXPLAIN EXECUTE append(0, '{a}', '{t}', '{p}', '{m}', '{0}', '{null}', '{0}', 'c')`,
    );
    const text = plan.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toContain('messages_message_id_unique');
    expect(text).not.toMatch(/Seq Scan on messages/);
  });

  test('a store hears of another store\'s pauses and requeues as they commit (LISTEN/NOTIFY), and not of its own', async () => {
    const first = await STORES.postgres!();
    const other = await first.reopen();
    const heard: ConsumerSignal[] = [];
    const own: ConsumerSignal[] = [];
    other.onConsumerSignal((signal) => heard.push(signal));
    first.store.onConsumerSignal((signal) => own.push(signal));
    await ok(first.store.append([row('orders.a')]));
    await ok(first.store.saveConsumer(consumer('billing')));
    await ok(first.store.setPaused('billing', true, 200));
    await until('the pause to be heard', () => heard.length === 1, 5000);
    expect(heard).toEqual([{ kind: 'paused', consumer: 'billing', paused: true, changedAt: 200 }]);
    await ok(first.store.setPaused('billing', true, 100)); // older than the stored change: not made, not signalled
    const [message] = await ok(first.store.read(1, 1));
    await ok(first.store.recordProgress(progress({ deadLetters: [{ consumer: 'billing', message: message!, reason: 'x', deliveries: 1, at: 2000 }] })));
    await ok(first.store.requeueDeadLetters({ consumer: 'billing', sinceMs: 0 }, 3000));
    await until('the requeue to be heard', () => heard.length === 2, 5000);
    expect(heard[1]).toEqual({ kind: 'requeued', consumer: 'billing' });
    expect(own).toEqual([]);
  });

  test('a store hears of the messages retention removed through another store, as the span of their seqs', async () => {
    const first = await STORES.postgres!();
    const other = await first.reopen();
    const heard: ConsumerSignal[] = [];
    other.onConsumerSignal((signal) => heard.push(signal));
    await ok(first.store.append([row('x', { ttlSeconds: 1, createdAt: 1000 }), row('y'), row('x', { ttlSeconds: 1, createdAt: 1000 }), row('z'), row('z')]));
    await ok(first.store.deleteExpired(5000, 10));
    await until('the expiry to be heard', () => heard.length === 1, 5000);
    expect(heard).toEqual([{ kind: 'removed', first: 1, last: 3 }]);
    await ok(first.store.deleteSeqs([5, 4]));
    await until('the removal to be heard', () => heard.length === 2, 5000);
    expect(heard[1]).toEqual({ kind: 'removed', first: 4, last: 5 });
    await ok(first.store.deleteExpired(5000, 10)); // nothing left to expire: nothing said
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(heard).toHaveLength(2);
  });

  test('a store hears of another store\'s appends (LISTEN/NOTIFY), and a message id is unique across them', async () => {
    const first = await STORES.postgres!();
    const other = await first.reopen();
    const heard: number[] = [];
    other.onExternalAppend((seq) => heard.push(seq));
    await ok(first.store.append([row('a'), row('b', { messageId: 'shared' })]));
    await until('the other store to hear of seq 2', () => heard.includes(2), 5000);
    expect(other.lastSeq()).toBe(2);
    expect(await ok(other.append([row('c', { messageId: 'shared' })]))).toEqual([{ seq: 2, duplicate: true }]);
  });
});
