// Wires the broker together: store → core → (front-ends, as they arrive). startApp() is what `npm start`
// and the tests run; stop() undoes it in reverse order.
import { err, ok, type Result } from 'neverthrow';
import type { Config } from './config.js';
import { Broker } from './core/broker.js';
import type { Logger } from './logger.js';

export interface App {
  readonly broker: Broker;
  /** Real bound ports of the listeners (none yet: the network front-ends arrive with issues 4 and 5). */
  readonly ports: Readonly<Record<string, number>>;
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
  let stopped = false;
  return ok({
    broker,
    ports: {},
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await broker.close();
      logger.info('stopped');
    },
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
