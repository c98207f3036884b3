// Wires the broker together: store → core → front-ends. startApp() is what `npm start` and the tests run;
// stop() undoes it in reverse order: listeners stop accepting, the publishes already read are committed and
// answered, connections end, then push delivery, the broker and its database.
import net from 'node:net';
import { err, ok, type Result } from 'neverthrow';
import type { Config } from './config.js';
import { displayUrl, isPostgresUrl } from './config/database-url.js';
import type Database from 'better-sqlite3';
import { Broker, type BrokerConfig, type BrokerOptions } from './core/broker.js';
import { NO_TRACING, type Tracing } from './core/tracing.js';
import type { EventStore } from './core/store-port.js';
import { brokerError, type BrokerError } from './errors.js';
import { SAID_IN_WORDS, type LogFields, type Logger } from './logger.js';
import { DEFAULT_BACKOFF } from './delivery/backoff.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import type { PushHost } from './delivery/push-consumer.js';
import type pg from 'pg';
import type { ConsumerState } from './transports/registration.js';
import { loadTlsFiles } from './tls-files.js';

export interface App {
  readonly broker: Broker;
  /** Real bound ports (the setting may have been 0). */
  readonly ports: { readonly transport: number; readonly registration: number; readonly http: number };
  /**
   * Stops without losing an answer: no new connection or publish is taken (publishes are answered UNAVAILABLE
   * "shutting down"), every publish already read is committed and answered, then the connections end, acks
   * and positions are written and the database is closed. With `graceMs`, clients get that long to take
   * their last answers and close; without, connections are cut as soon as the answers are written. Runs
   * every step even when one fails, then rejects with the first failure.
   */
  stop(options?: { readonly graceMs?: number }): Promise<void>;
}

/** A front-end that listens on a port. */
interface Listener {
  start(): Promise<number>;
  stopAccepting(): void;
  /** Ends its connections, giving their clients up to `graceMs` (its own default when absent). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Why the broker did not start: a setting it cannot start with (BAD_ARGS: a TLS file), a database or a port it
 * cannot have (UNAVAILABLE), or an EVENTBUS_CONSUMER_<ID> refused as REGISTER would refuse it.
 */
export type StartError = BrokerError<'BAD_ARGS' | 'BAD_ADDRESS' | 'BAD_PATTERN' | 'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>;

/** A store that cannot be opened (unwritable, locked, corrupt, foreign, out of reach) or read. */
export type OpenError = BrokerError<'UNAVAILABLE'>;

/** What a broker started by startApp takes besides its settings. */
export interface StartOptions {
  /** Spans of publishes and deliveries (PROTOCOL.md §13); closed when the app stops. */
  readonly tracing?: Tracing | undefined;
}

export async function startApp(config: Config, logger: Logger, options: StartOptions = {}): Promise<Result<App, StartError>> {
  const tracing = options.tracing ?? NO_TRACING;
  const tlsFiles = loadTlsFiles(config);
  if (tlsFiles.isErr()) return err(tlsFiles.error);
  const { credentials: tls, pushCa } = tlsFiles.value;
  const ports: [setting: string, port: number][] = [
    ['EVENTBUS_TRANSPORT_PORT', config.transportPort],
    ['EVENTBUS_REGISTRATION_PORT', config.registrationPort],
    ['EVENTBUS_HTTP_PORT', config.httpPort],
  ];
  // Before the database: a port in use must not leave a new database file and its lock behind.
  const free = await checkPortsFree(config.host, ports);
  if (free.isErr()) return err(free.error);
  const opened = await openBroker(config, logger, { tracing });
  if (opened.isErr()) {
    await tracing.close();
    return err(opened.error);
  }
  const broker = opened.value;
  const db = isPostgresUrl(config.dbPath) ? `${displayUrl(config.dbPath)} (schema ${config.pgSchema})` : config.dbPath;
  logger.info('log opened', { db, sync: config.sync, head_seq: broker.headSeq(), node_id: config.nodeId });
  if (!broker.gate.enabled && !isLoopback(config.host)) {
    logger.warn('listening beyond this machine with no token to check (EVENTBUS_TOKEN or a stored credential): anyone who can reach it can publish and read', {
      host: config.host,
    });
  }
  const { DeliveryPool, RegistrationCommands, createHttpServer, createRegistrationServer, createTransportServer } = await frontEnds();
  const timeouts = { connectTimeoutMs: config.pushConnectTimeoutMs, sendTimeoutMs: config.pushTimeoutMs };
  const pool = new DeliveryPool(pushHost(broker, logger), {
      timeouts,
      ca: pushCa,
      backoff: DEFAULT_BACKOFF,
      now: Date.now,
      failureLogIntervalMs: config.pushFailureLogIntervalMs,
      nodeId: config.nodeId,
    }, logger);
  // Paused says so first; a push consumer's state is otherwise its connection's, and a consumer read over the
  // API is connected while subscribed.
  const stateOf: ConsumerState = (c) => (c.paused ? 'paused' : (pool.state(c.id) ?? (c.subscribers > 0 ? 'connected' : 'offline')));
  // With several brokers on one database, one of them at a time delivers each push consumer.
  const follow = (id: string): void => {
    const consumer = broker.pushes(id) ? broker.consumer(id) : undefined;
    void pool.sync(id, consumer?.address ?? null, consumer?.format);
  };
  broker.onConsumerChange(follow);
  const commands = new RegistrationCommands(broker, config.allowedTargets, stateOf, follow);
  /** Start-up failed part-way: undo what was started, in reverse order. */
  const abandon = async (error: StartError, started: readonly Listener[] = []): Promise<Result<App, StartError>> => {
    for (const server of started) await server.stop();
    await pool.stop();
    await broker.close();
    await tracing.close();
    return err(error);
  };
  for (const consumer of config.consumers) {
    const registered = await commands.registerStatic(consumer);
    if (registered.isErr()) {
      const { code, message } = registered.error;
      return abandon(brokerError(code, `EVENTBUS_CONSUMER_${consumer.id.toUpperCase()}: ${message}`, registered.error));
    }
  }
  for (const consumer of broker.consumers()) if (consumer.address !== null) follow(consumer.id);
  const transportServer = createTransportServer(broker, { ...config, tls }, logger);
  const registrationServer = createRegistrationServer(commands, { ...config, tls }, logger);
  const connections = (): Record<string, number> => ({ transport: transportServer.connections(), registration: registrationServer.connections() });
  let serving = false;
  const httpServer = createHttpServer(broker, { ...config, tls }, { commands, stateOf, connections, serving: () => serving }, logger);
  const listeners: Listener[] = [transportServer, registrationServer, httpServer];
  const bound: number[] = [];
  for (const [i, server] of listeners.entries()) {
    try {
      bound.push(await server.start());
    } catch (e) {
      // Free a moment ago (checkPortsFree): another program took it since.
      const [setting, port] = ports[i]!;
      return abandon(brokerError('UNAVAILABLE', `${setting}: cannot listen on ${config.host}:${port}: ${(e as Error).message}`, e), listeners.slice(0, i));
    }
  }
  const [transport, registration, http] = bound as [number, number, number];
  const ready = readyLine(config.host, { transport, registration, http }, db, tls !== undefined);
  logger.info(ready.message, ready.fields);
  serving = true;
  let stopping: Promise<void> | undefined;
  const stop = async (graceMs: number | undefined): Promise<void> => {
    const deadline = Date.now() + (graceMs ?? 0);
    const failures: unknown[] = [];
    const step = async (what: string, run: () => Promise<void>): Promise<void> => {
      try {
        await run();
      } catch (e) {
        failures.push(e);
        logger.error(`stopping: ${what} failed`, { error: e instanceof Error ? e.stack : String(e) });
      }
    };
    serving = false;
    for (const server of listeners) server.stopAccepting();
    await step('answering the last publishes', () => broker.drain());
    await step('closing connections', async () => {
      await Promise.all(listeners.map((server) => server.stop(graceMs === undefined ? undefined : Math.max(0, deadline - Date.now()))));
    });
    await step('stopping push delivery', () => pool.stop());
    await step('closing the broker', () => broker.close());
    await step('exporting the last spans', () => tracing.close());
    if (failures.length > 0) throw failures[0];
    logger.info('stopped');
  };
  return ok({
    broker,
    ports: { transport, registration, http },
    stop: (options = {}) => (stopping ??= stop(options.graceMs)),
  });
}

/**
 * The front-ends and push delivery, loaded when an app starts: a broker opened in-process (openBroker, the
 * embedded API) never loads their HTTP, OpenAPI and WebSocket libraries, which would take tens of megabytes.
 */
async function frontEnds() {
  const [{ DeliveryPool }, { createHttpServer }, { createRegistrationServer, RegistrationCommands }, { createTransportServer }] = await Promise.all([
    import('./delivery/pool.js'),
    import('./transports/http.js'),
    import('./transports/registration.js'),
    import('./transports/tcp-ingress.js'),
  ]);
  return { DeliveryPool, createHttpServer, createRegistrationServer, RegistrationCommands, createTransportServer };
}

/** The broker on the store EVENTBUS_DB names: a SQLite file, or a PostgreSQL database. */
export async function openBroker(
  config: SqliteBrokerConfig & Pick<Config, 'pgSchema' | 'nodeId'> & Partial<Pick<Config, 'pgLockTimeoutMs'>>,
  logger: Logger,
  options: BrokerOptions = {},
): Promise<Result<Broker, OpenError>> {
  const opened = isPostgresUrl(config.dbPath) ? await openPostgresBroker(config, logger, options) : await openSqliteBroker(config, logger, options);
  return opened.map((o) => o.broker);
}

/** What opening the broker on PostgreSQL needs: the broker's settings, the database's and this broker's name. */
export type PostgresBrokerConfig = BrokerConfig & Pick<Config, 'dbPath' | 'pgSchema' | 'nodeId'> & Partial<Pick<Config, 'pgLockTimeoutMs'>>;

/** The PostgreSQL store as embedders see it: the port, whose transactional work gets a pool client, and the pool. */
export type PostgresBrokerStore = EventStore<pg.PoolClient> & { readonly pool: pg.Pool };

/** The PostgreSQL store at `config.dbPath` (migrations, the head watch) and the broker over it, which owns it. */
export async function openPostgresBroker(
  config: PostgresBrokerConfig,
  logger: Logger,
  options: BrokerOptions = {},
): Promise<Result<{ broker: Broker; store: PostgresBrokerStore }, OpenError>> {
  // Loaded only when asked for: a SQLite broker does not carry the PostgreSQL driver in its memory.
  const { PostgresStore } = await import('./store/postgres/postgres-store.js');
  const store = await PostgresStore.open({ url: config.dbPath, schema: config.pgSchema, lockTimeoutMs: config.pgLockTimeoutMs, nodeId: config.nodeId, logger });
  if (store.isErr()) return err(store.error);
  const broker = await Broker.open(store.value, config, logger, options);
  if (broker.isErr()) return err(brokerError('UNAVAILABLE', `EVENTBUS_DB: cannot read ${displayUrl(config.dbPath)}: ${broker.error.message}`, broker.error));
  return ok({ broker: broker.value, store: store.value });
}

/**
 * The SQLite store as embedders see it: the port, whose transactional work gets the connection, and the
 * connection itself (the published types name no more of the store than this).
 */
export type SqliteBrokerStore = EventStore<Database.Database> & { readonly sqlite: Database.Database };

/** What opening the broker on SQLite needs: the broker's settings and the file's. */
export type SqliteBrokerConfig = BrokerConfig & Pick<Config, 'dbPath' | 'sync'>;

/**
 * The SQLite store at `config.dbPath` (lock, migrations, writer thread) and the broker over it. The broker
 * owns the store: closing the broker closes it.
 */
export async function openSqliteBroker(
  config: SqliteBrokerConfig,
  logger: Logger,
  options: BrokerOptions = {},
): Promise<Result<{ broker: Broker; store: SqliteBrokerStore }, OpenError>> {
  const store = await SqliteStore.open({ path: config.dbPath, sync: config.sync, logger });
  if (store.isErr()) return err(store.error);
  const broker = await Broker.open(store.value, config, logger, options);
  if (broker.isErr()) return err(brokerError('UNAVAILABLE', `EVENTBUS_DB: cannot read ${config.dbPath}: ${broker.error.message}`, broker.error));
  return ok({ broker: broker.value, store: store.value });
}

/**
 * The broker as push delivery sees it. A push consumer settles only its own subscription: one that is gone
 * (the consumer was removed meanwhile) has given its messages back already, so there is nothing to say.
 */
export function pushHost(broker: Broker, logger: Logger): PushHost {
  return {
    attach: (consumer, sink, options) => broker.attachConsumer(consumer, sink, options),
    ack: (subscription, seq) => broker.ack(subscription, seq).unwrapOr(undefined),
    nack: (subscription, seq, delayMs, cause) => broker.nack(subscription, seq, delayMs, cause).unwrapOr(undefined),
    detach: (subscription) => broker.unsubscribe(subscription).unwrapOr(undefined),
    rewind: (consumer, seq) =>
      void broker.resend(consumer, seq).mapErr((e) => {
        logger.warn('could not rewind a push consumer to resend what its connection lost', { consumer, seq, reason: e.message });
      }),
    recordFailure: (failure) => broker.recordDeliveryFailure(failure),
  };
}

/**
 * Binds every fixed port at once, then lets them go: a port another program holds, or one given to two
 * settings, is found before anything else starts. Port 0 always binds, so it is not tried.
 */
async function checkPortsFree(host: string, ports: readonly [string, number][]): Promise<Result<void, BrokerError<'UNAVAILABLE'>>> {
  const probes: net.Server[] = [];
  try {
    for (const [setting, port] of ports) {
      if (port === 0) continue;
      const probe = net.createServer();
      probes.push(probe);
      const bound = await new Promise<Error | undefined>((resolve) => {
        probe.once('error', resolve);
        probe.listen(port, host, () => resolve(undefined));
      });
      if (bound !== undefined) return err(brokerError('UNAVAILABLE', `${setting}: cannot listen on ${host}:${port}: ${bound.message}`, bound));
    }
    return ok(undefined);
  } finally {
    await Promise.all(probes.map((p) => new Promise((resolve) => (p.listening ? p.close(resolve) : resolve(undefined)))));
  }
}

/**
 * The start-up line: where everything listens, in words a person can follow and type, and the same addresses
 * as fields for programs. A broker bound to every interface is reached on this machine's loopback. Under TLS
 * the line ports are reached with openssl's client rather than telnet.
 */
export function readyLine(host: string, ports: App['ports'], db: string, isTls = false): { message: string; fields: LogFields } {
  const everywhere = host === '0.0.0.0' || host === '::';
  const reach = host === '::' ? '::1' : everywhere ? '127.0.0.1' : host;
  const inUrl = reach.includes(':') ? `[${reach}]` : reach;
  const where = {
    ingress: `${inUrl}:${ports.transport}`,
    registration: `${inUrl}:${ports.registration}`,
    http: `${isTls ? 'https' : 'http'}://${inUrl}:${ports.http}`,
    websocket: `${isTls ? 'wss' : 'ws'}://${inUrl}:${ports.http}/ws`,
  };
  const lineClient = (port: number): string => (isTls ? `openssl s_client -quiet -connect ${inUrl}:${port}` : `telnet ${reach} ${port}`);
  const message =
    `eventbus ready${isTls ? ' (TLS)' : ''}: publish with ${lineClient(ports.transport)}, register consumers with ${lineClient(ports.registration)}, ` +
    `${isTls ? 'HTTPS' : 'HTTP'}/WebSocket on ${where.http} (${where.websocket}), database ${db}` +
    (everywhere ? ` (listening on every interface: ${host})` : '');
  return { message, fields: { [SAID_IN_WORDS]: { ...where, ...(isTls ? { tls: true } : {}), db } } };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
