// Messages in time on brokers sharing a PostgreSQL schema: every broker fires on time, and the claim in
// `schedules` gives each fire to one of them, so delayed messages published on either and a recurring
// schedule are each appended once.
import { describe, expect, it } from 'vitest';
import { openPostgresEventBus } from '../../src/embed/index.js';
import { PG_URL, pgQuery, pgSchemas } from '../helpers/postgres.js';
import { testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();
const schemas = pgSchemas();

async function open(schema: string, nodeId: string) {
  const bus = await openPostgresEventBus({ dbPath: PG_URL, pgSchema: schema, nodeId });
  scope.defer(() => bus.close());
  return bus;
}

describe('schedules on brokers sharing a PostgreSQL database', () => {
  it('delayed messages due at one moment, published on both, and an every_ms schedule: each fire appended once', async () => {
    const schema = schemas.schema();
    const brokers = [await open(schema, 'sched-a'), await open(schema, 'sched-b'), await open(schema, 'sched-c')];
    const at = Date.now() + 800;
    for (const [i, bus] of brokers.entries()) {
      const r = await bus.broker.publishBatchLater(Array.from({ length: 100 }, (_, j) => ({ input: { topic: 'due', payload: `${i}-${j}` }, time: { deliverAt: at } })));
      expect(r.isOk()).toBe(true);
    }
    (await brokers[0]!.broker.schedules.put('tick', { topic: 'ticks', payload: 't', everyMs: 1000 }))._unsafeUnwrap();
    await until('every delayed message appended', async () => (await pgQuery<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE topic = 'due'`, [], schema))[0]!.n >= 300);
    await until('three fires of the schedule', async () => (await pgQuery<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE topic = 'ticks'`, [], schema))[0]!.n >= 3, 10_000);
    const due = await pgQuery<{ payload: string; created_at: number }>(`SELECT payload, created_at::float8 AS created_at FROM messages WHERE topic = 'due'`, [], schema);
    expect(due).toHaveLength(300);
    expect(new Set(due.map((m) => m.payload)).size).toBe(300);
    expect(Math.min(...due.map((m) => m.created_at))).toBeGreaterThanOrEqual(at);
    const ticks = await pgQuery<{ message_id: string }>(`SELECT message_id FROM messages WHERE topic = 'ticks' ORDER BY seq`, [], schema);
    const times = ticks.map((t) => Number(t.message_id.split(':')[2]));
    expect(new Set(times).size).toBe(times.length);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(1000);
    expect(await pgQuery(`SELECT id FROM schedules WHERE kind = 'once'`, [], schema)).toEqual([]);
  });
});
