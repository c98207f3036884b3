// The embedded broker (eventbus-broker/server) on a test's database, whichever store it is, and the application's
// own tables beside the broker's, written from transactional consume handlers alike on both stores.
import type Database from 'better-sqlite3';
import type { ResultAsync } from 'neverthrow';
import type pg from 'pg';
import type { SubscribeError } from '../../src/core/broker.js';
import {
  openEventBus,
  openPostgresEventBus,
  type Config,
  type EventBus,
  type PostgresEventBus,
  type StoredMessage,
  type TransactionalConsumer,
  type TransactionalOptions,
} from '../../src/embed/index.js';
import type { TestDb } from './broker.js';
import { pgPlaceholders } from './pg-sync.js';

/** What a transactional handler is given: the SQLite connection, or a client of the pool with the transaction open. */
export type AppTx = Database.Database | pg.PoolClient;

export interface TestEventBus {
  /** openEventBus's bus on SQLite, openPostgresEventBus's on PostgreSQL: what both offer. */
  readonly bus: EventBus | PostgresEventBus;
  /** Runs `sql` (no values) on the application's side of the database: the broker's SQLite connection, or its pool. */
  readonly exec: (sql: string) => Promise<void>;
  /** bus.consumeResult on either store; `handler` runs its SQL with txSql(), which fits each store's kind of handler. */
  readonly consume: (
    options: TransactionalOptions,
    handler: (m: StoredMessage, tx: AppTx, delivery: number) => void | Promise<void>,
  ) => ResultAsync<TransactionalConsumer, SubscribeError>;
}

/** The embedded broker on `db` with `settings` (sync normal unless given); close it with `bus.close()`. */
export async function openTestEventBus(db: TestDb, settings: Partial<Config> = {}): Promise<TestEventBus> {
  if (db.pgSchema === undefined) {
    const bus = await openEventBus({ dbPath: db.dbPath, sync: 'normal', ...settings });
    return {
      bus,
      exec: (sql) => Promise.resolve(void bus.sqlite.exec(sql)),
      // eslint-disable-next-line @typescript-eslint/no-misused-promises -- txSql's handlers return nothing here; one test returns a promise on purpose, which SQLite refuses when it runs
      consume: (options, handler) => bus.consumeResult(options, handler),
    };
  }
  const bus = await openPostgresEventBus({ dbPath: db.dbPath, pgSchema: db.pgSchema, nodeId: db.env.EVENTBUS_NODE_ID, ...settings });
  return {
    bus,
    exec: async (sql) => {
      await bus.pool.query(sql);
    },
    consume: (options, handler) => bus.consumeResult(options, handler),
  };
}

/**
 * Runs `sql` (`?` parameters) in the handler's transaction, then `then` with the rows it answered (`then` may
 * throw, to fail the delivery): at once on SQLite, whose handlers must be synchronous, and once the query is
 * done on PostgreSQL, whose handlers await their queries. A handler returns what this returns; so may `then`.
 */
export function txSql(tx: AppTx, sql: string, params: readonly unknown[], then: (rows: unknown[]) => void | Promise<void> = () => undefined): void | Promise<void> {
  if ('prepare' in tx) {
    const statement = tx.prepare(sql);
    return then(statement.reader ? statement.all(...params) : (statement.run(...params), []));
  }
  return tx.query(pgPlaceholders(sql), [...params]).then((result) => then(result.rows));
}
