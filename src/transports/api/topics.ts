// GET /api/topics: every topic the log holds, with its counts and rate.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Broker } from '../../core/broker.js';
import * as b from '../../protocol/http-bodies.js';
import { apiRoutes, errors, fail, json, type HttpEnv } from './route-kit.js';

export function topicRoutes(broker: Broker): OpenAPIHono<HttpEnv> {
  const routes = apiRoutes();
  routes.openapi(
    createRoute({ method: 'get', path: '/api/topics', summary: 'Every topic the log holds', responses: { 200: json(b.Topic.array(), 'the topics'), ...errors() } }),
    async (c) => {
      const topics = await broker.topics();
      if (topics.isErr()) return fail(c, topics.error);
      return c.json(topics.value.map(b.wireTopic), 200);
    },
  );
  return routes;
}
