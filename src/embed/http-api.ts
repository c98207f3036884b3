// The HTTP API (PROTOCOL.md §8, under /api/) of an embedded broker, for the application's own server to
// serve: as a node:http handler or as a fetch handler.
import type http from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Config } from '../config.js';
import type { Broker } from '../core/broker.js';
import type { ConsumerInfo } from '../core/consumers.js';
import type { Logger } from '../logger.js';
import { createApiApp } from '../transports/http-api.js';
import { httpApiOptions } from '../transports/http.js';
import { RegistrationCommands } from '../transports/registration.js';

/** The HTTP API (PROTOCOL.md §8, under /api/) for an application's own server. */
export interface EmbeddedHttpApi {
  /** Answers a request under /api/ and returns true; returns false, having written nothing, for any other. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** The same as a fetch handler (a Hono app's `app.mount('/api', api.fetch)`, Bun, Deno): answers any request. */
  fetch(request: Request): Response | Promise<Response>;
  /** Ends the event streams (GET /api/subscribe) it serves. */
  close(): void;
}

export function embeddedHttpApi(broker: Broker, config: Config, logger: Logger): EmbeddedHttpApi {
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
