// Wires the broker together: store → core → front-ends. startApp() is what `npm start` and the tests run;
// stop() undoes it in reverse order: listeners first, then the broker and its database.
import { err, ok, type Result } from 'neverthrow';
import type { Config } from './config.js';
import { Broker } from './core/broker.js';
import type { Logger } from './logger.js';
import type { LineServer } from './transports/line-server.js';
import { createRegistrationServer, RegistrationCommands, type ConsumerState } from './transports/registration.js';
import { createTransportServer } from './transports/tcp-ingress.js';

export interface App {
  readonly broker: Broker;
  /** Real bound ports (the setting may have been 0). */
  readonly ports: { readonly transport: number; readonly registration: number };
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
  // Push delivery (issue 4) will report connected / retrying / offline; until then a consumer is connected
  // while something is subscribed to it.
  const stateOf: ConsumerState = (c) => (c.subscribers > 0 ? 'connected' : 'offline');
  const commands = new RegistrationCommands(broker, config.allowedTargets, stateOf);
  for (const consumer of config.consumers) {
    const registered = await commands.registerStatic(consumer);
    if (registered.isErr()) {
      await broker.close();
      return err({ message: `EVENTBUS_CONSUMER_${consumer.id.toUpperCase()}: ${registered.error.reason}` });
    }
    logger.info('consumer registered from the environment', { consumer: consumer.id, address: consumer.address });
  }
  const listeners: [string, number, LineServer][] = [
    ['EVENTBUS_TRANSPORT_PORT', config.transportPort, createTransportServer(broker, config, logger)],
    ['EVENTBUS_REGISTRATION_PORT', config.registrationPort, createRegistrationServer(broker, config, stateOf, logger)],
  ];
  const ports: number[] = [];
  for (const [setting, port, server] of listeners) {
    try {
      ports.push(await server.start());
    } catch (e) {
      for (const [, , started] of listeners.slice(0, ports.length)) await started.stop();
      await broker.close();
      return err({ message: `${setting}: cannot listen on ${config.host}:${port}: ${(e as Error).message}` });
    }
  }
  let stopped = false;
  return ok({
    broker,
    ports: { transport: ports[0]!, registration: ports[1]! },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      for (const [, , server] of listeners) await server.stop();
      await broker.close();
      logger.info('stopped');
    },
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
