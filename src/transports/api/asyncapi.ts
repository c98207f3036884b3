// GET /api/asyncapi.json: the AsyncAPI 3.0 document of the WebSocket API and of GET /api/subscribe
// (protocol/asyncapi.ts), made on the first request and kept: it changes only with the code.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { packageVersion } from '../../package-version.js';
import { asyncApiDocument } from '../../protocol/asyncapi.js';
import { apiRoutes, errors, json, type HttpEnv } from './route-kit.js';

// PROTOCOL.md §5 fixes it; http.ts serves the API there.
const WEB_SOCKET_PATH = '/ws';

const AsyncApiDocument = z
  .looseObject({ asyncapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }) })
  .meta({ id: 'AsyncApiDocument', description: 'An AsyncAPI 3.0 document: channels, messages with their JSON Schemas, operations' });

export function asyncApiRoutes(): OpenAPIHono<HttpEnv> {
  const routes = apiRoutes();
  let document: z.infer<typeof AsyncApiDocument> | undefined;
  routes.openapi(
    createRoute({
      method: 'get',
      path: '/api/asyncapi.json',
      summary: 'The WebSocket API (every frame with its JSON Schema) and the event stream of /api/subscribe, as AsyncAPI 3.0',
      responses: { 200: json(AsyncApiDocument, 'the document'), ...errors() },
    }),
    (c) => {
      document ??= AsyncApiDocument.parse(asyncApiDocument({ version: packageVersion(), webSocketPath: WEB_SOCKET_PATH }));
      return c.json(document, 200);
    },
  );
  return routes;
}
