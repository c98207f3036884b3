// The OpenAPI document of the HTTP server, at /api/openapi.json. The routes describe themselves (every route
// declared with openapi() is in it, with its zod schemas); what holds of every route is added here, in one
// place, so that a new route has it too: its operationId (from its method and path), its security and the
// 401 and 403 it may answer (from route-access.ts, which decides them), the server, and the description.
import type { OpenAPIHono } from '@hono/zod-openapi';
import { accessOf } from './route-access.js';
import type { HttpEnv } from './route-kit.js';

type Document = ReturnType<OpenAPIHono<HttpEnv>['getOpenAPI31Document']>;
type Operation = NonNullable<NonNullable<Document['paths']>[string]['get']>;

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

const DESCRIPTION = [
  'The HTTP API of an eventbus broker (docs/http-api.md in the package): publish, read and tail the log, durable consumers and their dead letters, schedules, credentials and the audit log.',
  'Bodies and answers are JSON; seqs and times are numbers, times in ms since the epoch.',
  'An error is answered {"code","message"} with the status of its code: 400 BAD_*, 401 UNAUTHORIZED, 403 FORBIDDEN, 404 UNKNOWN_*, 413 TOO_LARGE, 429 RATE_LIMITED, 503 UNAVAILABLE.',
  'A method that a path does not take is answered 405 with an Allow header naming those it does.',
  'Tokens are checked once EVENTBUS_TOKEN is set or a credential stored; until then every route is open. /livez and /readyz never want one.',
].join(' ');

const SECURITY_SCHEMES = {
  bearer: { type: 'http', scheme: 'bearer', description: "Authorization: Bearer <token>: EVENTBUS_TOKEN, or a credential's token (docs/security.md)" },
  query: { type: 'apiKey', in: 'query', name: 'token', description: 'The same token as ?token=, for clients that cannot set a header (EventSource, a browser opening the dashboard)' },
} as const;

const errorAnswer = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
const UNAUTHORIZED = errorAnswer('UNAUTHORIZED: tokens are checked and the request carries none that is valid');
const FORBIDDEN = errorAnswer("FORBIDDEN: the token's credential may not do this (docs/security.md)");

/** `GET /api/consumers/{id}/dead-letters` → `getConsumersByIdDeadLetters`; `GET /` → `getIndex`. */
export function operationIdOf(method: string, path: string): string {
  const words = path
    .split('/')
    .filter((s) => s !== '' && s !== 'api')
    .map((s) => (s.startsWith('{') ? `by-${s.slice(1, -1)}` : s));
  return [method, ...(words.length === 0 ? ['index'] : words)].join('-').replace(/[-._]+([a-z0-9])/gi, (_, c: string) => c.toUpperCase());
}

/** The document of `app`'s routes, served from `origin`. */
export function openApiDocument(app: OpenAPIHono<HttpEnv>, origin: string): Document {
  const doc = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { title: 'eventbus HTTP API', version: '1', description: DESCRIPTION, license: { name: 'MIT', url: 'https://opensource.org/license/mit' } },
    servers: [{ url: origin, description: 'the broker that served this document' }],
    security: [{ bearer: [] }, { query: [] }],
  });
  doc.components = { ...doc.components, securitySchemes: SECURITY_SCHEMES };
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const operation: Operation | undefined = item[method];
      if (operation === undefined) continue;
      operation.operationId ??= operationIdOf(method, path);
      const access = accessOf(method.toUpperCase(), path);
      if (access === 'open') {
        operation.security = [];
        continue;
      }
      const responses = (operation.responses ??= {});
      responses['401'] ??= UNAUTHORIZED;
      if (access !== 'any') responses['403'] ??= FORBIDDEN;
    }
  }
  return doc;
}
