// Opening an embedded broker: on a SQLite file, or on a PostgreSQL database as one broker among several.
// Each comes awaited (resolves with the bus, rejects with an EventBusError) and as a Result.
import { err, ok, type Result } from 'neverthrow';
import { openPostgresBroker, openSqliteBroker, type OpenError } from '../app.js';
import type { Config } from '../config.js';
import { isPostgresUrl } from '../config/database-url.js';
import { parseConfig } from '../config/parse.js';
import { brokerError, type BrokerError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { orReject } from './awaited.js';
import { embeddedBus, type EventBus, type PostgresEventBus } from './embedded-bus.js';

/**
 * Opens the broker on `settings.dbPath` (default data/eventbus.db) with the other settings at their defaults
 * (PROTOCOL.md §1) unless given. No listener is opened: attach() to the application's own server. Rejects with
 * an EventBusError (UNAVAILABLE: the file cannot be opened, is locked by another broker, …).
 */
export function openEventBus(settings: Partial<Config> = {}, logger: Logger = silentLogger): Promise<EventBus> {
  return orReject(openEventBusResult(settings, logger));
}

/** openEventBus() as a Result. */
export async function openEventBusResult(settings: Partial<Config> = {}, logger: Logger = silentLogger): Promise<Result<EventBus, OpenError>> {
  const config = withDefaults(settings);
  const opened = await openSqliteBroker(config, logger);
  if (opened.isErr()) return err(opened.error);
  const { broker, store } = opened.value;
  return ok({ ...embeddedBus(broker, store, config, logger), sqlite: store.sqlite });
}

/**
 * Opens the broker on the PostgreSQL database `settings.dbPath` (postgres://…), in `settings.pgSchema`, as one
 * more broker among those serving it (give it its own `nodeId`). No listener is opened. Rejects with an
 * EventBusError (BAD_ARGS: not a postgres:// URL; UNAVAILABLE: the database cannot be reached or read).
 */
export function openPostgresEventBus(settings: Partial<Config> & { readonly dbPath: string }, logger: Logger = silentLogger): Promise<PostgresEventBus> {
  return orReject(openPostgresEventBusResult(settings, logger));
}

/** openPostgresEventBus() as a Result. */
export async function openPostgresEventBusResult(
  settings: Partial<Config> & { readonly dbPath: string },
  logger: Logger = silentLogger,
): Promise<Result<PostgresEventBus, BrokerError<'BAD_ARGS'> | OpenError>> {
  const config = withDefaults(settings);
  if (!isPostgresUrl(config.dbPath)) return err(brokerError('BAD_ARGS', `EVENTBUS_DB: ${config.dbPath} is not a postgres:// URL`));
  const opened = await openPostgresBroker(config, logger);
  if (opened.isErr()) return err(opened.error);
  const { broker, store } = opened.value;
  return ok({ ...embeddedBus(broker, store, config, logger), pool: store.pool });
}

function withDefaults(settings: Partial<Config>): Config {
  const defaults = parseConfig({});
  // An empty environment parses, or the settings' own defaults are wrong: a bug, not the caller's mistake.
  if (defaults.isErr()) throw new Error(`the default settings do not parse: ${defaults.error.message}`);
  return { ...defaults.value, ...settings };
}
