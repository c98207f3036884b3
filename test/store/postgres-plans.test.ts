// The broker plans each of its statements once for any values (connect.ts: plan_cache_mode
// force_generic_plan), so each must walk an index whatever the table's size: here every statement of the
// store is planned on empty tables, where a scan looks cheapest, and the plan must not scan the tables that
// grow with the log, nor sort a page it could read in order.
import { beforeAll, describe, expect, test } from 'vitest';
import * as pq from '../../src/store/postgres/queries.js';
import * as cq from '../../src/store/postgres/consumer-queries.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { silentLogger } from '../../src/logger.js';
import { PG_URL, pgQuery, pgSchemas } from '../helpers/postgres.js';

const schemas = pgSchemas();

/**
 * Tables that grow with the log and its consumers. Not delivery_counts: it holds a row per delivery in flight
 * and unacked for a while, so no larger than the consumers' windows.
 */
const LARGE = ['messages', 'processed_messages', 'dead_letters', 'delivery_failures'];

// Statements that read a whole table on purpose, and why.
const SCANS: Record<string, string> = {
  TOPIC_COUNTS: 'counts every message by topic, once at start-up',
  PRUNE_PROCESSED: 'a background job: finds removed consumers\' acks, at most a batch per run',
  DELETE_ORPHAN_REQUEUED: 'a background job over requeued_messages, which holds only requeued dead letters not yet acked',
};

const statements = Object.entries({ ...pq, ...cq }).flatMap(([name, value]) =>
  typeof value === 'string' && /^\s*(WITH|SELECT|INSERT|UPDATE|DELETE)\b/i.test(value) ? [[name, value] as const] : [],
);

async function genericPlan(schema: string, name: string, text: string): Promise<string> {
  const params = Math.max(0, ...[...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  const args = params === 0 ? '' : `(${Array.from({ length: params }, () => 'NULL').join(', ')})`;
  const rows = await pgQuery<{ 'QUERY PLAN': string }>(
    `SET plan_cache_mode = force_generic_plan; PREPARE s_${name} AS ${text}; EXPLAIN EXECUTE s_${name}${args}`,
    [],
    schema,
  );
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

describe('every statement of the PostgreSQL store, planned once on empty tables', () => {
  const schema = schemas.schema();
  beforeAll(async () => {
    const store = (await PostgresStore.open({ url: PG_URL, schema, nodeId: 'plans', logger: silentLogger }))._unsafeUnwrap();
    await store.close();
  });

  test('the statements are all here', () => {
    expect(statements.map(([name]) => name)).toEqual(expect.arrayContaining(['APPEND', 'READ_FROM', 'READ_TOPIC_FROM', 'MARK_PROCESSED', 'UPSERT_ACKS']));
  });

  test.each(statements)('%s walks an index', async (name, text) => {
    const plan = await genericPlan(schema, name, text);
    const scans = LARGE.filter((t) => new RegExp(`Seq Scan on ${t}\\b`).test(plan));
    if (SCANS[name] === undefined) expect(scans, plan).toEqual([]);
    if (/\bLIMIT\b/i.test(text) && /ORDER BY seq/i.test(text)) expect(plan, 'a page read in order, not sorted').not.toMatch(/\bSort\b/);
  });
});
