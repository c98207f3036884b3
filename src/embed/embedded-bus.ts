// What an embedded broker offers its application on either store: the broker, attach() and the HTTP API for
// the application's own server, and the in-process calls (publish, subscribe, the EventClient interface,
// transactional consume) in two forms: awaited (rejecting with an EventBusError), and as Results.
import type http from 'node:http';
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { ResultAsync } from 'neverthrow';
import type { Config } from '../config.js';
import type { Broker, SubscribeError, SubscribeOptions } from '../core/broker.js';
import type { EventStore } from '../core/store-port.js';
import type { Published, PublishInput, StoredMessage } from '../core/types.js';
import type { EventConfig } from '../client/events/interface.js';
import type { Logger } from '../logger.js';
import { attachWebSocket, webSocketOptions, type AttachedWebSocket } from '../transports/http.js';
import { orReject } from './awaited.js';
import { embeddedHttpApi, type EmbeddedHttpApi } from './http-api.js';
import { LocalEventClient } from './local-event-client.js';
import { LocalSubscriber } from './local-subscriber.js';
import {
  consumeInTransaction,
  type PostgresTransactionalHandler,
  type TransactionalConsumer,
  type TransactionalHandler,
  type TransactionalOptions,
} from './transactional-consumer.js';

/** What an embedded broker offers on either store; `Handler` is its transactional consume's handler. */
export interface EmbeddedBus<Handler> {
  /** The broker API in-process, whose calls return Results (docs/embedding.md, "The broker API in-process"). */
  readonly broker: Broker;
  /** Serves the WebSocket API on `server` at `path` (default `/ws`); the settings' token and limits apply. */
  attach(server: http.Server, options?: { path?: string }): AttachedWebSocket;
  /**
   * The HTTP API, for the application's server to serve; the settings' token and limits apply. An embedded
   * broker pushes to no address: its consumers are read by subscribing (WebSocket, SDK, in-process, SSE).
   */
  httpApi(): EmbeddedHttpApi;
  /** Resolves once the message is durable; rejects with an EventBusError (`broker.publish` is the Result form). */
  publish(input: PublishInput): Promise<Published>;
  /** All stored or none, seqs in input order; rejects with an EventBusError (`broker.publishBatch` is the Result form). */
  publishBatch(inputs: readonly PublishInput[]): Promise<Published[]>;
  /** An in-process subscription, read as an async iterator; rejects with an EventBusError. */
  subscribe(options: SubscribeOptions): Promise<LocalSubscriber>;
  /** subscribe() as a Result. */
  subscribeResult(options: SubscribeOptions): ResultAsync<LocalSubscriber, SubscribeError>;
  /** The EventClient interface on the in-process broker. */
  client(config: EventConfig): LocalEventClient;
  /**
   * A durable consumer whose handler runs inside the transaction that records its ack (exactly-once effects);
   * rejects with an EventBusError.
   */
  consume(options: TransactionalOptions, handler: Handler): Promise<TransactionalConsumer>;
  /** consume() as a Result. */
  consumeResult(options: TransactionalOptions, handler: Handler): ResultAsync<TransactionalConsumer, SubscribeError>;
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

/** The embedded bus over an open broker and its store (whose transactions `Tx` the handlers get). */
export function embeddedBus<Tx>(
  broker: Broker,
  store: EventStore<Tx>,
  config: Config,
  logger: Logger,
): EmbeddedBus<(message: StoredMessage, tx: Tx, delivery: number) => void | Promise<void>> {
  const attached: AttachedWebSocket[] = [];
  const apis: EmbeddedHttpApi[] = [];
  const subscribeResult = (options: SubscribeOptions): ResultAsync<LocalSubscriber, SubscribeError> => LocalSubscriber.open(broker, options);
  const consumeResult = (
    options: TransactionalOptions,
    handler: (message: StoredMessage, tx: Tx, delivery: number) => void | Promise<void>,
  ): ResultAsync<TransactionalConsumer, SubscribeError> => consumeInTransaction(broker, store, options, handler, logger);
  return {
    broker,
    attach: (server, options = {}) => {
      const ws = attachWebSocket(server, broker, webSocketOptions(config, options.path ?? '/ws'), logger);
      attached.push(ws);
      return ws;
    },
    httpApi: () => {
      const api = embeddedHttpApi(broker, config, logger);
      apis.push(api);
      return api;
    },
    publish: (input) => orReject(broker.publish(input)),
    publishBatch: (inputs) => orReject(broker.publishBatch(inputs)),
    subscribe: (options) => orReject(subscribeResult(options)),
    subscribeResult,
    client: (eventConfig) => new LocalEventClient(broker, eventConfig),
    consume: (options, handler) => orReject(consumeResult(options, handler)),
    consumeResult,
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
