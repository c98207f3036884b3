// Embedding on PostgreSQL (openPostgresEventBus): the broker in this process on a schema of its own, its
// transactional consume awaiting queries on the transaction's client, the application's table committing
// with the consumer's ack or not at all, and a second embedded broker on the same schema sharing the
// consumer's messages with the first.
import { describe, expect, it } from 'vitest';
import { EventBusError, openEventBus, openPostgresEventBus, openPostgresEventBusResult } from '../../src/embed/index.js';
import { PG_URL, pgQuery, pgSchemas } from '../helpers/postgres.js';
import { testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();
const schemas = pgSchemas();

async function open(schema: string, nodeId: string, maxDeliveries = 10) {
  const bus = await openPostgresEventBus({ dbPath: PG_URL, pgSchema: schema, nodeId, maxDeliveries, ackTimeoutMs: 2000 });
  scope.defer(() => bus.close());
  return bus;
}

describe('embedding on PostgreSQL', () => {
  it('a transactional handler awaits its queries on the transaction: its rows commit with the ack, a failure rolls them back', async () => {
    const schema = schemas.schema();
    const bus = await open(schema, 'app', 3);
    await bus.pool.query('CREATE TABLE applied (seq bigint PRIMARY KEY, note text NOT NULL)');
    const calls: number[] = [];
    const consumer = await bus.consume({ pattern: 'work.*', consumer: 'app', retryDelayMs: 20 }, async (m, tx, delivery) => {
      calls.push(m.seq);
      await tx.query('INSERT INTO applied (seq, note) VALUES ($1, $2)', [m.seq, m.payload]);
      // The second message fails on its first two tries, after writing: those writes are rolled back.
      if (m.topic === 'work.flaky' && delivery < 3) throw new Error('not yet');
    });
    scope.defer(() => consumer.close());
    const first = (await bus.publish({ topic: 'work.ok', payload: '"a"' })).seq;
    const second = (await bus.publish({ topic: 'work.flaky', payload: '"b"' })).seq;
    await until('both applied', async () => (await pgQuery<{ n: number }>('SELECT count(*)::int AS n FROM applied', [], schema))[0]!.n === 2);
    expect(await pgQuery('SELECT seq, note FROM applied ORDER BY seq', [], schema)).toEqual([
      { seq: first, note: '"a"' },
      { seq: second, note: '"b"' },
    ]);
    expect(calls).toEqual([first, second, second, second]);
    expect(await pgQuery('SELECT seq, delivery FROM processed_messages ORDER BY seq', [], schema)).toEqual([
      { seq: first, delivery: 1 },
      { seq: second, delivery: 3 },
    ]);
  });

  it('two embedded brokers on one schema share a transactional consumer: every message applied once, by one of them', async () => {
    const schema = schemas.schema();
    const [a, b] = [await open(schema, 'embedded-a'), await open(schema, 'embedded-b')];
    await a.pool.query('CREATE TABLE applied (seq bigint PRIMARY KEY, node text NOT NULL)');
    for (const [bus, node] of [[a, 'embedded-a'], [b, 'embedded-b']] as const) {
      const consumer = await bus.consume({ pattern: 'jobs', consumer: 'shared' }, async (m, tx) => {
        await tx.query('INSERT INTO applied (seq, node) VALUES ($1, $2)', [m.seq, node]);
      });
      scope.defer(() => consumer.close());
    }
    await until('both brokers hold partitions', async () => {
      const rows = await pgQuery<{ n: number }>(`SELECT count(DISTINCT node)::int AS n FROM consumer_partitions WHERE consumer = 'shared' AND node IS NOT NULL`, [], schema);
      return rows[0]!.n === 2;
    });
    const seqs: number[] = [];
    for (let i = 0; i < 100; i++) seqs.push((await (i % 2 === 0 ? a : b).publish({ topic: 'jobs', payload: String(i) })).seq);
    await until('every message applied', async () => (await pgQuery<{ n: number }>('SELECT count(*)::int AS n FROM applied', [], schema))[0]!.n === 100);
    const rows = await pgQuery<{ seq: number; node: string }>('SELECT seq, node FROM applied ORDER BY seq', [], schema);
    expect(rows.map((r) => r.seq)).toEqual(seqs);
    expect(new Set(rows.map((r) => r.node))).toEqual(new Set(['embedded-a', 'embedded-b']));
  });

  it('openPostgresEventBus refuses a file path (rejecting with BAD_ARGS, or as a Result), and openEventBus stays on SQLite', async () => {
    const refused = openPostgresEventBus({ dbPath: 'data/x.db' });
    await expect(refused).rejects.toBeInstanceOf(EventBusError);
    await expect(refused).rejects.toMatchObject({ code: 'BAD_ARGS', message: expect.stringContaining('not a postgres:// URL') });
    expect((await openPostgresEventBusResult({ dbPath: 'data/x.db' }))._unsafeUnwrapErr()).toMatchObject({ code: 'BAD_ARGS' });
    const dir = await scope.dir();
    const bus = await openEventBus({ dbPath: dir.dbPath, sync: 'normal' });
    scope.defer(() => bus.close());
    expect(bus.sqlite.prepare('SELECT 1 AS one').get()).toEqual({ one: 1 });
  });
});
