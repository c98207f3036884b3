// Connecting to PostgreSQL: a pool whose connections all work in EVENTBUS_PG_SCHEMA, with bigint read as a
// JS number, and the schema's migrations applied under an advisory lock, so that brokers started together
// take turns and every one of them sees the finished schema.
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { fileURLToPath } from 'node:url';
import { err, ok, type Result } from 'neverthrow';
import pg from 'pg';
import { displayUrl } from '../../config/database-url.js';
import { foreignTablesProblem } from '../foreign-tables.js';
import { storeOpenError, type StoreOpenError } from '../open-error.js';

// Resolves to <repo>/drizzle/postgres from src/store/postgres (tsx, tests) and dist/store/postgres (npm start).
const MIGRATIONS = fileURLToPath(new URL('../../../drizzle/postgres', import.meta.url));

export interface PgOptions {
  /** postgres://user[:password]@host[:port]/database */
  readonly url: string;
  readonly schema: string;
  /** Connections in the pool. */
  readonly poolSize?: number;
  /** This broker's name, in its connections' application_name (pg_stat_activity shows whose they are). */
  readonly nodeId?: string;
  /** The broker's own statements give up waiting for another session's lock after this; 0 or unset: never. */
  readonly lockTimeoutMs?: number;
}

/** bigint columns as numbers: seqs, times and counts stay far below 2^53. */
export function int8AsNumber(): pg.TypeOverrides {
  const overrides = new pg.TypeOverrides();
  overrides.setTypeParser(pg.types.builtins.INT8, Number);
  return overrides;
}

const types = int8AsNumber();

/**
 * What every connection of the broker is opened with. `genericPlans`: its prepared statements are planned
 * once, not at every run (see appendPool).
 */
export function clientConfig(options: PgOptions, genericPlans = false): pg.ClientConfig {
  return {
    connectionString: options.url,
    // The broker's own connections (not the application's pool) also give up on a lock held by another
    // session, such as an operator's transaction left open on log_head: its publishes are then answered
    // UNAVAILABLE rather than held without an answer.
    options: `-c search_path=${options.schema}${genericPlans ? ` -c plan_cache_mode=force_generic_plan -c lock_timeout=${options.lockTimeoutMs ?? 0}` : ''}`,
    types,
    // PostgreSQL keeps 63 bytes of it.
    application_name: options.nodeId === undefined ? 'eventbus' : `eventbus:${options.nodeId}`.slice(0, 63),
    connectionTimeoutMillis: 5000,
  };
}

/** A key for pg_advisory_lock: one per schema, so that logs in other schemas of the database are not held up. */
export function lockKey(schema: string, purpose: string): string {
  return `hashtext('eventbus:${purpose}:${schema}')`;
}

/**
 * Creates the schema if missing and applies the migrations (one broker at a time); then opens a pool with
 * PostgreSQL's default planning, for the application's own queries and transactional consume.
 */
export async function openPool(options: PgOptions): Promise<Result<pg.Pool, StoreOpenError>> {
  const where = `${displayUrl(options.url)} (schema ${options.schema})`;
  const setup = new pg.Client({ ...clientConfig(options) });
  try {
    await setup.connect();
  } catch (e) {
    return err(storeOpenError('unwritable', `EVENTBUS_DB: cannot connect to ${where}: ${(e as Error).message}`, e));
  }
  try {
    await setup.query(`SELECT pg_advisory_lock(${lockKey(options.schema, 'migrate')})`);
    await setup.query(`CREATE SCHEMA IF NOT EXISTS "${options.schema}"`);
    const tables = await setup.query<{ name: string }>('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [options.schema]);
    const foreign = foreignTablesProblem(tables.rows.map((r) => r.name), where);
    if (foreign !== undefined) {
      await setup.end().catch(() => undefined);
      return err(storeOpenError('foreign', foreign));
    }
    await migrate(drizzle(setup), { migrationsFolder: MIGRATIONS, migrationsSchema: options.schema });
    const head = await setup.query('SELECT count(*)::int AS n FROM log_head');
    if ((head.rows[0] as { n: number }).n !== 1) throw new Error('log_head must hold exactly one row: this schema is not an eventbus log');
  } catch (e) {
    await setup.end().catch(() => undefined);
    return err(storeOpenError('unwritable', `EVENTBUS_DB: cannot prepare ${where}: ${(e as Error).message}`, e));
  }
  // Ending the session releases the advisory lock.
  await setup.end().catch(() => undefined);
  return ok(new pg.Pool({ ...clientConfig(options), max: options.poolSize ?? 10 }));
}

/**
 * The broker's own connections plan each of its prepared statements once, for any values, rather than anew
 * at every run: left to choose, PostgreSQL may plan the append anew every time, which costs more than a small
 * append itself, and may plan a read from statistics taken while the table was nearly empty (a scan where an
 * index walk was needed). Every statement is written so that that one plan walks an index, whatever the
 * table's size: test/store/postgres-plans.test.ts holds it. Appends go through a connection of their own
 * (one is in flight at a time; a pool of one reconnects by itself).
 */
export function brokerPools(options: PgOptions): { queries: pg.Pool; appends: pg.Pool } {
  return {
    queries: new pg.Pool({ ...clientConfig(options, true), max: options.poolSize ?? 10 }),
    appends: new pg.Pool({ ...clientConfig(options, true), max: 1 }),
  };
}
