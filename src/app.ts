// Wires the broker together: store → core → front-ends. startApp() is what `npm start` and the tests run;
// stop() undoes it in reverse order: listeners first, then the broker and its database.
import { err, ok, type Result } from 'neverthrow';
import type { Config } from './config.js';
import { Broker } from './core/broker.js';
import type { Logger } from './logger.js';
import { createTransportServer } from './transports/tcp-ingress.js';

export interface App {
  readonly broker: Broker;
  /** Real bound ports (the setting may have been 0). */
  readonly ports: { readonly transport: number };
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
  const transport = createTransportServer(broker, config, logger);
  let transportPort: number;
  try {
    transportPort = await transport.start();
  } catch (e) {
    await broker.close();
    return err({ message: `EVENTBUS_TRANSPORT_PORT: cannot listen on ${config.host}:${config.transportPort}: ${(e as Error).message}` });
  }
  let stopped = false;
  return ok({
    broker,
    ports: { transport: transportPort },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await transport.stop();
      await broker.close();
      logger.info('stopped');
    },
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
