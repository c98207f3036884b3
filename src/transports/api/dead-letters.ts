// /api/consumers/{id}/dead-letters: a consumer's dead letters, paged in seq order, requeued for delivery, deleted.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Broker } from '../../core/broker.js';
import * as b from '../../protocol/http-bodies.js';
import { apiRoutes, body, errors, fail, id, json, type HttpEnv } from './route-kit.js';

export function deadLetterRoutes(broker: Broker): OpenAPIHono<HttpEnv> {
  const routes = apiRoutes();

  routes.openapi(
    createRoute({
      method: 'get',
      path: '/api/consumers/{id}/dead-letters',
      summary: 'A page of a consumer\'s dead letters, in seq order',
      request: { params: b.IdParam, query: b.DeadLettersQuery },
      responses: { 200: json(b.DeadLettersPage, 'the page'), ...errors(400, 404) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await broker.deadLetters(id(c), Math.max(1, q.from_seq ?? 1), q.limit ?? b.DEFAULT_PAGE);
      if (page.isErr()) return fail(c, page.error);
      return c.json({ dead_letters: page.value.deadLetters.map(b.wireDeadLetter), next_seq: page.value.nextSeq }, 200);
    },
  );

  routes.openapi(
    createRoute({
      method: 'post',
      path: '/api/consumers/{id}/dead-letters/requeue',
      summary: 'Delivers dead letters to the consumer again, from a first attempt: those of seqs and filter, or all when neither is given',
      request: { params: b.IdParam, ...body(b.RequeueBody, false) },
      responses: { 200: json(b.Requeued, 'how many left the dead letters'), ...errors(400, 404) },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const n = await broker.requeueDeadLetters(id(c), { seqs: input.seqs, filter: input.filter });
      return n.isErr() ? fail(c, n.error) : c.json({ requeued: n.value }, 200);
    },
  );

  routes.openapi(
    createRoute({
      method: 'delete',
      path: '/api/consumers/{id}/dead-letters',
      summary: 'Deletes dead letters: those of seqs, or all when none are given',
      request: { params: b.IdParam, ...body(b.DeleteDeadLettersBody, false) },
      responses: { 200: json(b.Deleted, 'how many were deleted'), ...errors(400, 404) },
    }),
    async (c) => {
      const n = await broker.deleteDeadLetters(id(c), { seqs: c.req.valid('json').seqs });
      return n.isErr() ? fail(c, n.error) : c.json({ deleted: n.value }, 200);
    },
  );

  return routes;
}
