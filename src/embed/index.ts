// Embedding: the broker inside an application's own process (`import … from 'eventbus/server'`). Open it on a
// database file (or a PostgreSQL database, as one broker among several), attach its WebSocket API to the application's http.Server at any path, and use the
// in-process API (publish, subscribe, the EventClient interface, transactional consume) from the same program.
import type http from 'node:http';
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { err, ok, type Result, type ResultAsync } from 'neverthrow';
import type { Config } from '../config.js';
import { isPostgresUrl } from '../config/database-url.js';
import { parseConfig } from '../config/parse.js';
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
import { getRequestListener } from '@hono/node-server';
import type { ConsumerInfo } from '../core/consumers.js';
import { createApiApp } from '../transports/http-api.js';
import { attachWebSocket, httpApiOptions, webSocketOptions, type AttachedWebSocket } from '../transports/http.js';
import { RegistrationCommands } from '../transports/registration.js';

export { Broker } from '../core/broker.js';
export { LocalSubscriber } from './local-subscriber.js';
export type { Delivery, Published, PublishInput, StoredMessage } from '../core/types.js';
export type { PostgresTransactionalHandler, TransactionalConsumer, TransactionalHandler, TransactionalOptions } from './transactional-consumer.js';
import { openPostgresBroker, openSqliteBroker } from '../app.js';
export { startApp } from '../app.js';
export type { Config } from '../config.js';
export { parseConfig } from '../config/parse.js';
export { createLogger, silentLogger, type Logger } from '../logger.js';
export * from '../client/events/interface.js';
export { LocalEventClient } from './local-event-client.js';

/** The HTTP API (PROTOCOL.md §8, under /api/) for an application's own server. */
export interface EmbeddedHttpApi {
  /** Answers a request under /api/ and returns true; returns false, having written nothing, for any other. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** The same as a fetch handler (a Hono app's `app.mount('/api', api.fetch)`, Bun, Deno): answers any request. */
  fetch(request: Request): Response | Promise<Response>;
  /** Ends the event streams (GET /api/subscribe) it serves. */
  close(): void;
}

/** What an embedded broker offers on either store; `Handler` is its transactional consume's handler. */
interface EmbeddedBus<Handler> {
  readonly broker: Broker;
  /** Serves the WebSocket API on `server` at `path` (default `/ws`); the settings' token and limits apply. */
  attach(server: http.Server, options?: { path?: string }): AttachedWebSocket;
  /**
   * The HTTP API, for the application's server to serve; the settings' token and limits apply. An embedded
   * broker pushes to no address: its consumers are read by subscribing (WebSocket, SDK, in-process, SSE).
   */
  httpApi(): EmbeddedHttpApi;
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
  const apis: EmbeddedHttpApi[] = [];
  return {
    broker,
    attach: (server, options = {}) => {
      const ws = attachWebSocket(server, broker, webSocketOptions(config, options.path ?? '/ws'), logger);
      attached.push(ws);
      return ws;
    },
    httpApi: () => {
      const api = embeddedApi(broker, config, logger);
      apis.push(api);
      return api;
    },
    subscribe: (options) => LocalSubscriber.open(broker, options),
    client: (eventConfig) => new LocalEventClient(broker, eventConfig),
    consume: (options, handler) => consumeInTransaction(broker, store, options, handler, logger),
    close: async () => {
      // What was published before the close is answered and handed to the subscriptions before they go.
      for (const ws of attached) ws.hold();
      await broker.drain();
      for (const api of apis) api.close();
      for (const ws of attached) await ws.close();
      await broker.close();
    },
  };
}

function embeddedApi(broker: Broker, config: Config, logger: Logger): EmbeddedHttpApi {
  // Embedded, nothing here delivers push consumers: a consumer is connected while subscribed.
  const stateOf = (c: ConsumerInfo): string => (c.paused ? 'paused' : c.subscribers > 0 ? 'connected' : 'offline');
  const commands = new RegistrationCommands(broker, config.allowedTargets, stateOf, () => undefined);
  const { app, streams } = createApiApp(broker, commands, httpApiOptions(config, { stateOf, connections: () => ({}) }), logger);
  const listener = getRequestListener(app.fetch);
  return {
    handle: (req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0]!;
      if (!path.startsWith('/api/')) return false;
      void listener(req, res);
      return true;
    },
    fetch: (request) => app.fetch(request),
    close: () => {
      streams.closeAll();
    },
  };
}
