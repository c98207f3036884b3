// The writer thread on a real file: requests that wait together share one transaction, each in its own
// savepoint, so one failing request fails alone; acks are written several rows per statement.
import { afterEach, beforeEach, expect, test } from 'vitest';
import { PendingAcks } from '../../src/core/pending-acks.js';
import { openDb, type OpenedDb } from '../../src/store/sqlite/open.js';
import type { AppendRow } from '../../src/core/store-port.js';
import { toColumns } from '../../src/store/append-columns.js';
import { needsFsync } from '../../src/store/sqlite/write-queries.js';
import { WriteError, WriterThread } from '../../src/store/sqlite/writer-thread.js';
import { tempDir, type TestDir } from '../helpers/broker.js';

let dir: TestDir;
let opened: OpenedDb;
let writer: WriterThread;

beforeEach(async () => {
  dir = await tempDir();
  opened = openDb({ path: dir.dbPath, sync: 'normal' })._unsafeUnwrap();
  writer = await WriterThread.start(dir.dbPath, 'normal');
});

afterEach(async () => {
  await writer.close();
  opened.close();
  await dir.cleanup();
});

const row = (payload: string): AppendRow => ({
  topic: 'orders.created',
  payload,
  messageId: null,
  metadata: '{}',
  ttlSeconds: 0,
  orderingKey: null,
  createdAt: Date.now(),
});

const count = (sql: string): number => (opened.sqlite.prepare(sql).pluck().get() as number | undefined) ?? 0;

test('a request that fails in a shared transaction fails alone: the appends around it are stored', async () => {
  // Posted in one tick, so the thread finds all three waiting and runs them in one transaction.
  const first = writer.call('append', toColumns([row('a'), row('b')]));
  const bad = writer.call('recordFailures', [{ consumer: 'c' } as never]);
  const second = writer.call('append', toColumns([row('c')]));

  expect(Array.from(await first)).toEqual([1, 2]);
  await expect(bad).rejects.toBeInstanceOf(WriteError);
  expect(Array.from(await second)).toEqual([3]);
  expect(opened.sqlite.prepare('SELECT payload FROM messages ORDER BY seq').pluck().all()).toEqual(['a', 'b', 'c']);
  expect(count('SELECT count(*) FROM delivery_failures')).toBe(0);
});

test('a failed request rolls back its own writes, not the other requests of the transaction', async () => {
  // An append whose second row breaks NOT NULL: its first row must not stay behind.
  const broken = writer.call('append', toColumns([row('x'), { ...row('y'), topic: null as never }]));
  const fine = writer.call('append', toColumns([row('z')]));

  await expect(broken).rejects.toBeInstanceOf(WriteError);
  expect(Array.from(await fine)).toHaveLength(1);
  expect(opened.sqlite.prepare('SELECT payload FROM messages').pluck().all()).toEqual(['z']);
});

test('acks are all written, across whole multi-row statements and the rows left over, a repeat updating in place', async () => {
  const seqs = Array.from({ length: 129 }, (_, i) => i + 1);
  seqs.splice(10, 0, 5); // acked again (a redelivery) within the same statement: one row, the later delivery
  const acks = new PendingAcks();
  seqs.forEach((seq, i) => acks.push('audit', seq, i === 10 ? 2 : 1, 1_000, 900));
  await writer.call('progress', { acks: acks.take(), deadLetters: [], positions: new Map(), dead: [], rewinds: new Map(), deliveryCounts: [], floors: [], reservations: new Map(), partitionReservations: [] });

  expect(count(`SELECT count(*) FROM processed_messages WHERE consumer = 'audit'`)).toBe(129);
  expect(count(`SELECT count(DISTINCT seq) FROM processed_messages WHERE seq BETWEEN 1 AND 129`)).toBe(129);
  expect(count(`SELECT delivery FROM processed_messages WHERE seq = 5`)).toBe(2);
});

test('appends many rows per statement: each row gets the seq it was stored under, in order, ids and duplicates among them', async () => {
  expect(Array.from(await writer.call('append', toColumns([{ ...row('old'), messageId: 'm-old' }])))).toEqual([1]);
  // 100 rows: whole statements, a run broken by ids, a repeat of an earlier id and of one in this batch.
  // Topics, payloads and metadata of varied lengths, some outside Latin-1.
  const rows = Array.from({ length: 100 }, (_, i) => ({
    ...row(i % 7 ? `p${i}` : `p${i} ünï 😀`),
    topic: `t.${'x'.repeat(i % 5)}`,
    metadata: `{"i":${i}}`,
    ttlSeconds: i % 3,
    orderingKey: i % 2 ? `k${i}` : null,
  }));
  rows[40] = { ...rows[40]!, messageId: 'm-40' };
  rows[45] = { ...rows[45]!, messageId: 'm-old' };
  rows[80] = { ...rows[80]!, messageId: 'm-40' };
  const seqs = Array.from(await writer.call('append', toColumns(rows)));

  expect(seqs[45]).toBe(-1);
  expect(seqs[80]).toBe(-seqs[40]!);
  const stored = seqs.filter((s) => s > 0);
  expect(stored).toEqual(Array.from({ length: 98 }, (_, i) => i + 2));
  type Stored = { payload: string; seq: number; topic: string; metadata: string; ttl: number; key: string | null };
  const byPayload = new Map(
    (opened.sqlite.prepare('SELECT payload, seq, topic, metadata, ttl, ordering_key AS key FROM messages').all() as Stored[]).map((r) => [r.payload, r]),
  );
  rows.forEach((r, i) => {
    if (seqs[i]! < 0) return expect(byPayload.has(r.payload)).toBe(false);
    const expected: Stored = { payload: r.payload, seq: seqs[i]!, topic: r.topic, metadata: r.metadata, ttl: r.ttlSeconds, key: r.orderingKey };
    expect(byPayload.get(r.payload)).toEqual(expected);
  });
});

test('pruning acks takes at most the limit per call, oldest first, one consumer after another, stops at the position, and takes all of a removed consumer', async () => {
  await writer.call('append', toColumns(Array.from({ length: 1_001 }, (_, i) => row(`p${i}`))));
  await writer.call('deleteSeqs', Array.from({ length: 1_000 }, (_, i) => i + 1)); // the log now holds seq 1001 only
  const ack = async (id: string, seqs: number[], position?: number): Promise<void> => {
    const acks = new PendingAcks();
    for (const seq of seqs) acks.push(id, seq, 1, 1_000, 900);
    const positions = new Map(position === undefined ? [] : [[id, position]]);
    await writer.call('progress', { acks: acks.take(), deadLetters: [], positions, dead: [], rewinds: new Map(), deliveryCounts: [], floors: [], reservations: new Map(), partitionReservations: [] });
  };
  const upTo = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => from + i);
  for (const [id, position] of [['a', 1_001], ['b', 650]] as const) {
    await writer.call('saveConsumer', { id, address: null, patterns: ['#'], position: 0, filter: null, rewoundAt: 0, paused: false, pauseChangedAt: 0, createdAt: 1, updatedAt: 1, expiresAt: null, backoffMs: null, format: null, ackTimeoutMs: null, maxDeliveries: null, maxInFlight: null });
    await ack(id, upTo(700), position);
  }
  await ack('gone', [...upTo(300), ...upTo(100, 2_000)]); // acks of a consumer no longer in the consumers table
  const left = (consumer: string): number[] =>
    opened.sqlite.prepare('SELECT seq FROM processed_messages WHERE consumer = ? ORDER BY seq').pluck().all(consumer) as number[];

  expect(await writer.call('pruneProcessed', 500)).toBe(500);
  expect(left('a')[0]).toBe(501);
  expect(await writer.call('pruneProcessed', 500)).toBe(500); // a's last 200, then b's first 300
  expect(left('a')).toEqual([]);
  expect(left('b')[0]).toBe(301);
  expect(await writer.call('pruneProcessed', 500)).toBe(500); // b up to its position (350), then 150 of gone's
  expect(left('b')).toEqual(upTo(50, 651));
  expect(left('gone')).toHaveLength(250);
  expect(await writer.call('pruneProcessed', 500)).toBe(250);
  expect(left('gone')).toEqual([]);
  expect(await writer.call('pruneProcessed', 500)).toBe(0);
});

test('under EVENTBUS_SYNC=full, publishes and consumer registrations are fsynced at commit; acks, statuses and retention ride on the next fsync', () => {
  expect((['append', 'saveConsumer', 'deleteConsumer'] as const).map(needsFsync)).toEqual([true, true, true]);
  const repeatable = ['progress', 'markProcessed', 'pruneProcessed', 'pruneFailures', 'deleteExpired', 'deleteSeqs', 'recordFailures'] as const;
  expect(repeatable.map(needsFsync)).toEqual(repeatable.map(() => false));
});
