// A broker on a fresh database, for tests: a SQLite file in a temp directory, or a PostgreSQL schema of its
// own when the test file runs on PostgreSQL. Short timeouts so that redelivery and retention can be observed
// in milliseconds.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgresBroker, openSqliteBroker, type SqliteBrokerConfig } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { parseConfig } from '../../src/config/parse.js';
import type { Broker } from '../../src/core/broker.js';
import { silentLogger } from '../../src/logger.js';
import { PG_URL, pgQuery } from './postgres.js';

export function testBrokerConfig(dbPath: string, overrides: Partial<SqliteBrokerConfig> = {}): SqliteBrokerConfig {
  return {
    dbPath,
    sync: 'normal',
    defaultTtlSeconds: 0,
    ackTimeoutMs: 30_000,
    maxDeliveries: 10,
    maxInFlight: 256,
    maxPayloadBytes: 1_048_576,
    retention: [],
    retentionIntervalMs: 60_000,
    ...overrides,
  };
}

/** A store the broker-level tests run on. */
export type TestStore = 'sqlite' | 'postgres';

/**
 * The store this test file runs on: the vitest project's EVENTBUS_TEST_STORE (vitest.config.ts runs the
 * broker-level files once per store), SQLite when unset.
 */
export const TEST_STORE: TestStore = process.env.EVENTBUS_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
export const onPostgres = TEST_STORE === 'postgres';

/** Where a test's broker keeps its log: a SQLite file, or a schema of its own on the tests' PostgreSQL database. */
export interface TestDb {
  /** EVENTBUS_DB: the SQLite file, or the PostgreSQL URL. */
  readonly dbPath: string;
  /** EVENTBUS_PG_SCHEMA on PostgreSQL (made by the first broker opened on it); undefined on SQLite. */
  readonly pgSchema: string | undefined;
  /** The settings that put a broker on this database, as environment variables (for parseConfig and child processes). */
  readonly env: Readonly<Record<string, string>>;
}

/** The SQLite file `dbPath` as a TestDb, for the tests of SQLite's own (a file of their choosing). */
export const sqliteFile = (dbPath: string): TestDb => ({ dbPath, pgSchema: undefined, env: { EVENTBUS_DB: dbPath } });

export interface TestDir extends TestDb {
  /** A temp directory of the test's own (the SQLite file is in it). */
  readonly dir: string;
  /** Removes the directory, and on PostgreSQL drops the schema. */
  cleanup(): Promise<void>;
}

// One name for every broker a test opens on a database, one after the other: a broker reopened on the same
// schema (a restart) takes up the leases of the one before at once, as a restart under the same
// EVENTBUS_NODE_ID does, instead of waiting for them to run out.
const TEST_NODE_ID = 'test-node';

/** A fresh database in a temp dir, on `store` (the file's store unless given). */
export async function tempDir(store: TestStore = TEST_STORE): Promise<TestDir> {
  const dir = await mkdtemp(join(tmpdir(), 'eventbus-'));
  const removeDir = (): Promise<void> => rm(dir, { recursive: true, force: true });
  if (store === 'sqlite') {
    return { dir, ...sqliteFile(join(dir, 'bus.db')), cleanup: removeDir };
  }
  const pgSchema = `t_${randomBytes(6).toString('hex')}`;
  return {
    dir,
    dbPath: PG_URL,
    pgSchema,
    env: { EVENTBUS_DB: PG_URL, EVENTBUS_PG_SCHEMA: pgSchema, EVENTBUS_NODE_ID: TEST_NODE_ID },
    cleanup: async () => {
      await pgQuery(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`);
      await removeDir();
    },
  };
}

/** The broker's settings for `db`: testBrokerConfig's, and on PostgreSQL the schema and this broker's name. */
export function testDbConfig(db: TestDb, overrides: Partial<SqliteBrokerConfig> = {}): SqliteBrokerConfig & Pick<Config, 'pgSchema' | 'nodeId'> {
  return { ...testBrokerConfig(db.dbPath, overrides), pgSchema: db.pgSchema ?? 'eventbus', nodeId: TEST_NODE_ID };
}

/** A broker on `db` (either store); `now` stands in for its clock. */
export async function openBroker(db: TestDb, overrides: Partial<SqliteBrokerConfig> = {}, now?: () => number): Promise<Broker> {
  const config = testDbConfig(db, overrides);
  const options = now ? { now } : {};
  const opened = db.pgSchema === undefined ? await openSqliteBroker(config, silentLogger, options) : await openPostgresBroker(config, silentLogger, options);
  if (opened.isErr()) throw new Error(opened.error.message);
  return opened.value.broker;
}

/** Full settings as parseConfig reads them: the database `db`, every port 0, sync normal; `env` adds or overrides. */
export function testAppConfig(db: TestDb, env: Record<string, string> = {}): Config {
  return parseConfig({
    ...db.env,
    EVENTBUS_TRANSPORT_PORT: '0',
    EVENTBUS_REGISTRATION_PORT: '0',
    EVENTBUS_HTTP_PORT: '0',
    EVENTBUS_SYNC: 'normal',
    ...env,
  })._unsafeUnwrap();
}
