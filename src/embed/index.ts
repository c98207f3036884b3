// The `eventbus-broker/server` entry: the broker inside an application's own process. Re-exports only; the code is
// in the modules named after what they hold (open.ts, embedded-bus.ts, http-api.ts, …).
export { openEventBus, openEventBusResult, openPostgresEventBus, openPostgresEventBusResult } from './open.js';
export type { EmbeddedBus, EventBus, PostgresEventBus } from './embedded-bus.js';
export type { EmbeddedHttpApi } from './http-api.js';
export { LocalSubscriber } from './local-subscriber.js';
export { LocalEventClient } from './local-event-client.js';
export type { PostgresTransactionalHandler, TransactionalConsumer, TransactionalHandler, TransactionalOptions } from './transactional-consumer.js';
export { Broker } from '../core/broker.js';
export type { Delivery, Published, PublishInput, StoredMessage } from '../core/types.js';
export { EventBusError } from '../client/errors.js';
export type { BrokerError, ErrorCode } from '../errors.js';
export { startApp } from '../app.js';
export type { Config } from '../config.js';
export { parseConfig } from '../config/parse.js';
export { createLogger, silentLogger, type Logger } from '../logger.js';
export * from '../client/events/interface.js';
