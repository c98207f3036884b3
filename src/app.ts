// Wires the broker together: store → core → front-ends. startApp() is what `npm start` and the tests run;
// stop() undoes it in reverse order: listeners first, then the broker and its database.
import { err, ok, type Result } from 'neverthrow';
import type { Config } from './config.js';
import { Broker } from './core/broker.js';
import type { Logger } from './logger.js';
import { DEFAULT_BACKOFF } from './delivery/backoff.js';
import { DeliveryPool } from './delivery/pool.js';
import type { PushHost } from './delivery/push-consumer.js';
import { createHttpServer } from './transports/http.js';
import { createRegistrationServer, RegistrationCommands, type ConsumerState } from './transports/registration.js';
import { createTransportServer } from './transports/tcp-ingress.js';

export interface App {
  readonly broker: Broker;
  /** Real bound ports (the setting may have been 0). */
  readonly ports: { readonly transport: number; readonly registration: number; readonly http: number };
  stop(): Promise<void>;
}

/** A front-end that listens on a port. */
interface Listener {
  start(): Promise<number>;
  stop(): Promise<void>;
}

export interface StartError {
  readonly message: string;
}

export async function startApp(config: Config, logger: Logger): Promise<Result<App, StartError>> {
  const opened = await Broker.open(config, logger);
  if (opened.isErr()) return err({ message: opened.error.message });
  const broker = opened.value;
  logger.info('log opened', { db: config.dbPath, sync: config.sync, head_seq: broker.headSeq() });
  if (config.token === undefined && !isLoopback(config.host)) {
    logger.warn('listening beyond this machine without EVENTBUS_TOKEN: anyone who can reach it can publish and read', {
      host: config.host,
    });
  }
  const timeouts = { connectTimeoutMs: config.pushConnectTimeoutMs, sendTimeoutMs: config.pushTimeoutMs };
  const pool = new DeliveryPool(pushHost(broker), { timeouts, maxInFlight: config.maxInFlight, backoff: DEFAULT_BACKOFF, now: Date.now }, logger);
  // A push consumer's state is its connection's; a consumer read over the API is connected while subscribed.
  const stateOf: ConsumerState = (c) => pool.state(c.id) ?? (c.subscribers > 0 ? 'connected' : 'offline');
  const follow = (id: string): void => void pool.sync(id, broker.consumer(id)?.address ?? null);
  const commands = new RegistrationCommands(broker, config.allowedTargets, stateOf, follow);
  /** Start-up failed part-way: undo what was started, in reverse order. */
  const abandon = async (message: string, started: readonly Listener[] = []): Promise<Result<App, StartError>> => {
    for (const server of started) await server.stop();
    await pool.stop();
    await broker.close();
    return err({ message });
  };
  for (const consumer of config.consumers) {
    const registered = await commands.registerStatic(consumer);
    if (registered.isErr()) return abandon(`EVENTBUS_CONSUMER_${consumer.id.toUpperCase()}: ${registered.error.reason}`);
    logger.info('consumer registered from the environment', { consumer: consumer.id, address: consumer.address });
  }
  for (const consumer of broker.consumers()) if (consumer.address !== null) follow(consumer.id);
  const listeners: [string, number, Listener][] = [
    ['EVENTBUS_TRANSPORT_PORT', config.transportPort, createTransportServer(broker, config, logger)],
    ['EVENTBUS_REGISTRATION_PORT', config.registrationPort, createRegistrationServer(commands, config, logger)],
    ['EVENTBUS_HTTP_PORT', config.httpPort, createHttpServer(broker, config, logger)],
  ];
  const ports: number[] = [];
  for (const [setting, port, server] of listeners) {
    try {
      ports.push(await server.start());
    } catch (e) {
      const started = listeners.slice(0, ports.length).map(([, , s]) => s);
      return abandon(`${setting}: cannot listen on ${config.host}:${port}: ${(e as Error).message}`, started);
    }
  }
  let stopped = false;
  return ok({
    broker,
    ports: { transport: ports[0]!, registration: ports[1]!, http: ports[2]! },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      for (const [, , server] of listeners) await server.stop();
      await pool.stop();
      await broker.close();
      logger.info('stopped');
    },
  });
}

/** The broker as push delivery sees it. */
export function pushHost(broker: Broker): PushHost {
  return {
    attach: (consumer, sink, options) => broker.attachConsumer(consumer, sink, options),
    ack: (subscription, seq) => void broker.ack(subscription, seq),
    nack: (subscription, seq, delayMs) => void broker.nack(subscription, seq, delayMs),
    detach: (subscription) => void broker.unsubscribe(subscription),
    rewind: (consumer, seq) => void broker.replay(consumer, seq),
    recordFailure: (failure) => broker.recordDeliveryFailure(failure),
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
