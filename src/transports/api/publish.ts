// POST /api/publish: one message, or a batch stored all or none, answered once durable.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Broker } from '../../core/broker.js';
import * as b from '../../protocol/http-bodies.js';
import { apiRoutes, body, errors, fail, json, type HttpEnv } from './route-kit.js';

export function publishRoutes(broker: Broker): OpenAPIHono<HttpEnv> {
  const routes = apiRoutes();
  routes.openapi(
    createRoute({
      method: 'post',
      path: '/api/publish',
      summary: 'Publish one message, or a batch (all or none are stored)',
      request: body(b.PublishBody),
      responses: { 200: json(b.Published.or(b.PublishedBatch), 'stored, once durable'), ...errors(400, 413) },
    }),
    async (c) => {
      const input = c.req.valid('json');
      if ('messages' in input) {
        const published = await broker.publishBatch(input.messages.map(b.publishInputOf));
        if (published.isErr()) return fail(c, published.error);
        return c.json({ seqs: published.value.map((p) => p.seq), message_ids: published.value.map((p) => p.messageId) }, 200);
      }
      const published = await broker.publish(b.publishInputOf(input));
      if (published.isErr()) return fail(c, published.error);
      const { seq, messageId, duplicate } = published.value;
      return c.json({ seq, message_id: messageId, duplicate }, 200);
    },
  );
  return routes;
}
