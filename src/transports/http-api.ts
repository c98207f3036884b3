// The HTTP API (PROTOCOL.md §8) as a Hono application: the routes of each resource, from api/ (every route
// validated by the zod schemas of protocol/http-bodies.ts, which also make the OpenAPI document at
// /api/openapi.json; the WebSocket API's AsyncAPI document is at /api/asyncapi.json), mounted behind the token
// and permission checks (api/route-access.ts) and the body limit; a request no route takes, and a
// handler that throws, are answered here. Errors are `{code, message}` with the status of their code.
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Broker } from '../core/broker.js';
import type { Logger } from '../logger.js';
import { asyncApiRoutes } from './api/asyncapi.js';
import { consumerRoutes } from './api/consumers.js';
import { credentialRoutes } from './api/credentials.js';
import { deadLetterRoutes } from './api/dead-letters.js';
import { messageRoutes } from './api/messages.js';
import { publishRoutes } from './api/publish.js';
import { pullRoutes } from './api/pull.js';
import { scheduleRoutes } from './api/schedules.js';
import { apiRoutes, type EventStreams, type HttpApiOptions, type HttpEnv } from './api/route-kit.js';
import { statsRoutes } from './api/stats.js';
import { topicRoutes } from './api/topics.js';
import { RefusalLog } from './auth.js';
import { openApiDocument } from './api/openapi.js';
import { authenticate } from './api/route-access.js';
import type { RegistrationCommands } from './registration.js';

/**
 * The API's routes under /api, behind the token and permission checks; a caller adds its own routes after it
 * (they are checked too: a route route-access.ts does not know needs admin). A request no route takes is answered 405 with Allow when another method would take it, else 404.
 */
export function createApiApp(broker: Broker, commands: RegistrationCommands, options: HttpApiOptions, logger: Logger): { app: OpenAPIHono<HttpEnv>; streams: EventStreams } {
  const log = logger.child({ transport: 'http' });
  const app = apiRoutes();
  app.use('*', authenticate(broker, new RefusalLog(log)));
  const tooLarge = (c: Context) => c.json({ code: 'TOO_LARGE' as const, message: `the body is over ${options.maxBodyBytes} bytes (EVENTBUS_HTTP_MAX_BODY)` }, 413);
  // Hono's limit reads the body through a web stream it builds; a body of known length is judged by its header
  // alone, and left to be read straight off the socket (several times cheaper per request).
  const limitUnknownLength = bodyLimit({ maxSize: options.maxBodyBytes, onError: tooLarge });
  const limitBody: MiddlewareHandler<HttpEnv> = async (c, next) => {
    if (c.req.header('transfer-encoding') !== undefined) return limitUnknownLength(c, next);
    const length = c.req.header('content-length');
    if (length !== undefined && Number(length) > options.maxBodyBytes) return tooLarge(c);
    await next();
    return undefined;
  };
  app.use('/api/*', limitBody);

  // Mounted in this order, the routes are listed in it by the document. Their paths are written out whole in
  // each module, as PROTOCOL.md names them.
  const messages = messageRoutes(broker, options, log);
  const stats = statsRoutes(broker, options);
  app.route('/', publishRoutes(broker));
  app.route('/', messages.routes);
  app.route('/', topicRoutes(broker));
  app.route('/', consumerRoutes(broker, commands, options));
  app.route('/', pullRoutes(broker));
  app.route('/', deadLetterRoutes(broker));
  app.route('/', scheduleRoutes(broker));
  app.route('/', stats.routes);
  app.route('/', credentialRoutes(broker));
  app.route('/', asyncApiRoutes());

  // Made at each request: the routes the caller adds after this one are in it too.
  app.get('/api/openapi.json', (c) => c.json(openApiDocument(app, new URL(c.req.url).origin)));

  app.notFound((c) => {
    c.set('unrouted', true);
    const allowed = methodsFor(app, c.req.path);
    if (allowed.length === 0) return c.json({ code: 'UNKNOWN_ROUTE' as const, message: `no route ${c.req.path}; GET /api/openapi.json lists them` }, 404);
    const allow = allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed;
    return c.json({ code: 'BAD_FORMAT' as const, message: `${c.req.method} is not served on ${c.req.path}; use ${allow.join(' or ')}` }, 405, { allow: allow.join(', ') });
  });

  app.onError((e, c) => {
    if (e instanceof HTTPException) {
      // The body's content type (415) or JSON (400) is wrong: a BAD_FORMAT the client can fix.
      const message = e.status === 415 ? 'the body must be JSON: send content-type: application/json' : e.message;
      return c.json({ code: 'BAD_FORMAT' as const, message }, 400);
    }
    log.error('HTTP request failed', { method: c.req.method, path: c.req.path, error: e.stack ?? String(e) });
    return c.json({ code: 'UNAVAILABLE' as const, message: 'internal error; the broker logged it' }, 500);
  });

  return {
    app,
    streams: {
      get size() {
        return messages.streams.size + stats.streams.size;
      },
      closeAll: () => {
        messages.streams.closeAll();
        stats.streams.closeAll();
      },
    },
  };
}

/** The methods some route takes at `path`. */
function methodsFor(app: OpenAPIHono<HttpEnv>, path: string): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    if (route.method === 'ALL') continue;
    const pattern = new RegExp(`^${route.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+')}$`);
    if (pattern.test(path)) methods.add(route.method);
  }
  return [...methods];
}
