// Embedding: the broker inside an application's own process (`import … from 'eventbus/server'`). Open it on a
// database file (or a PostgreSQL database, as one broker among several), attach its WebSocket API to the application's http.Server at any path, and use the
// in-process API (publish, subscribe, the EventClient interface, transactional consume) from the same program.
import type http from 'node:http';
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { err, ok, type Result, type ResultAsync } from 'neverthrow';
import { isPostgresUrl, parseConfig, type Config } from '../config.js';
import type { EventStore } from '../core/store-port.js';
import type { StoredMessage } from '../core/types.js';
import type { Broker, SubscribeError, SubscribeOptions } from '../core/broker.js';
import { LocalSubscriber } from './local-subscriber.js';
import {
  consumeInTransaction,
  type PostgresTransactionalHandler,
  type TransactionalConsumer,
  type TransactionalHandler,
  type TransactionalOptions,
} from './transactional-consumer.js';
import { LocalEventClient } from './local-event-client.js';
import type { EventConfig } from '../client/events/interface.js';
import { silentLogger, type Logger } from '../logger.js';
import { attachWebSocket, webSocketOptions, type AttachedWebSocket } from '../transports/http.js';

export { Broker } from '../core/broker.js';
export { LocalSubscriber } from './local-subscriber.js';
export type { Delivery, Published, PublishInput, StoredMessage } from '../core/types.js';
export type { PostgresTransactionalHandler, TransactionalConsumer, TransactionalHandler, TransactionalOptions } from './transactional-consumer.js';
import { openPostgresBroker, openSqliteBroker } from '../app.js';
export { startApp } from '../app.js';
export { parseConfig, type Config } from '../config.js';
export { createLogger, silentLogger, type Logger } from '../logger.js';
export * from '../client/events/interface.js';
export { LocalEventClient } from './local-event-client.js';

/** What an embedded broker offers on either store; `Handler` is its transactional consume's handler. */
interface EmbeddedBus<Handler> {
  readonly broker: Broker;
  /** Serves the WebSocket API on `server` at `path` (default `/ws`); the settings' token and limits apply. */
  attach(server: http.Server, options?: { path?: string }): AttachedWebSocket;
  /** An in-process subscription, read as an async iterator. */
  subscribe(options: SubscribeOptions): ResultAsync<LocalSubscriber, SubscribeError>;
  /** The EventClient interface on the in-process broker. */
  client(config: EventConfig): LocalEventClient;
  /** A durable consumer whose handler runs inside the transaction that records its ack (exactly-once effects). */
  consume(options: TransactionalOptions, handler: Handler): ResultAsync<TransactionalConsumer, SubscribeError>;
  /** Detaches from every server it was attached to, then closes the broker and its database. */
  close(): Promise<void>;
}

export interface EventBus extends EmbeddedBus<TransactionalHandler> {
  /** The broker's SQLite connection: the application may keep its own tables in the same file. */
  readonly sqlite: Database.Database;
}

export interface PostgresEventBus extends EmbeddedBus<PostgresTransactionalHandler> {
  /** The broker's pool: the application may keep its own tables in the same database (and schema). */
  readonly pool: pg.Pool;
}

/**
 * Opens the broker on `settings.dbPath` (default data/eventbus.db) with the other settings at their defaults
 * (PROTOCOL.md §1) unless given. No listener is opened: attach() to the application's own server.
 */
export async function openEventBus(settings: Partial<Config> = {}, logger: Logger = silentLogger): Promise<Result<EventBus, { message: string }>> {
  const config = withDefaults(settings);
  const opened = await openSqliteBroker(config, logger);
  if (opened.isErr()) return err(opened.error);
  const { broker, store } = opened.value;
  return ok({ ...embed(broker, store, config, logger), sqlite: store.sqlite });
}

/**
 * Opens the broker on the PostgreSQL database `settings.dbPath` (postgres://…), in `settings.pgSchema`, as one
 * more broker among those serving it (give it its own `nodeId`). No listener is opened.
 */
export async function openPostgresEventBus(
  settings: Partial<Config> & { readonly dbPath: string },
  logger: Logger = silentLogger,
): Promise<Result<PostgresEventBus, { message: string }>> {
  const config = withDefaults(settings);
  if (!isPostgresUrl(config.dbPath)) return err({ message: `EVENTBUS_DB: ${config.dbPath} is not a postgres:// URL` });
  const opened = await openPostgresBroker(config, logger);
  if (opened.isErr()) return err(opened.error);
  const { broker, store } = opened.value;
  return ok({ ...embed(broker, store, config, logger), pool: store.pool });
}

function withDefaults(settings: Partial<Config>): Config {
  return { ...parseConfig({})._unsafeUnwrap(), ...settings };
}

function embed<Tx>(broker: Broker, store: EventStore<Tx>, config: Config, logger: Logger): EmbeddedBus<(message: StoredMessage, tx: Tx, delivery: number) => void | Promise<void>> {
  const attached: AttachedWebSocket[] = [];
  return {
    broker,
    attach: (server, options = {}) => {
      const ws = attachWebSocket(server, broker, webSocketOptions(config, options.path ?? '/ws'), logger);
      attached.push(ws);
      return ws;
    },
    subscribe: (options) => LocalSubscriber.open(broker, options),
    client: (eventConfig) => new LocalEventClient(broker, eventConfig),
    consume: (options, handler) => consumeInTransaction(broker, store, options, handler, logger),
    close: async () => {
      for (const ws of attached) await ws.close();
      await broker.close();
    },
  };
}
