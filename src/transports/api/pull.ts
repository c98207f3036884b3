// /api/consumers/{id}/fetch, ack, nack and extend: a durable consumer read by requests (PROTOCOL.md §8), through
// the broker's pull members. Each route checks what it touches itself (route-access.ts): using the consumer, and
// for a fetch reading its patterns, as a WebSocket subscription to it would.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Broker } from '../../core/broker.js';
import { brokerError, type BrokerError } from '../../errors.js';
import * as b from '../../protocol/http-bodies.js';
import { principalOf } from './route-access.js';
import { apiRoutes, body, errors, fail, id, json, jsonText, type HttpEnv } from './route-kit.js';

/** Why the request's credential may not use the consumer (nor, to fetch, read what it matches); undefined when it may. */
function refusal(c: Context<HttpEnv>, broker: Broker, verb: string, reads: boolean): BrokerError | undefined {
  const action = `POST /api/consumers/{id}/${verb}`;
  const principal = principalOf(c);
  const consumer = id(c);
  const used = principal.useConsumer(consumer, action);
  if (used.isErr()) return used.error;
  if (!reads) return undefined;
  const patterns = broker.consumer(consumer)?.patterns;
  if (patterns === undefined) return brokerError('UNKNOWN_CONSUMER', `no consumer ${consumer}`);
  for (const pattern of patterns) {
    const allowed = principal.read(pattern, action);
    if (allowed.isErr()) return allowed.error;
  }
  return undefined;
}

export function pullRoutes(broker: Broker): OpenAPIHono<HttpEnv> {
  const routes = apiRoutes();

  routes.openapi(
    createRoute({
      method: 'post',
      path: '/api/consumers/{id}/fetch',
      summary:
        "Pulls up to max of the consumer's messages as one of its members; with none ready, waits up to wait_ms for some. Each is sent again after the consumer's ack timeout unless acked or extended",
      request: { params: b.IdParam, ...body(b.FetchBody, false) },
      responses: { 200: json(b.Fetched, 'the messages, in the order a WebSocket member would get them; none when none came in time'), ...errors(400, 404) },
    }),
    async (c) => {
      const refused = refusal(c, broker, 'fetch', true);
      if (refused !== undefined) return fail(c, refused);
      const input = c.req.valid('json');
      const fetched = await broker.pull.fetch(id(c), input.max, input.wait_ms, c.req.raw.signal);
      return fetched.isErr() ? fail(c, fetched.error) : jsonText(c, b.fetchedJson(fetched.value));
    },
  );

  routes.openapi(
    createRoute({
      method: 'post',
      path: '/api/consumers/{id}/ack',
      summary: 'Acks deliveries fetched from the consumer through this broker; seqs it did not fetch here, or acked already, are counted out',
      request: { params: b.IdParam, ...body(b.AckBody) },
      responses: { 200: json(b.Acked, 'how many were acked'), ...errors(400, 404) },
    }),
    (c) => {
      const refused = refusal(c, broker, 'ack', false);
      if (refused !== undefined) return fail(c, refused);
      const n = broker.pull.ack(id(c), c.req.valid('json').seqs);
      return n.isErr() ? fail(c, n.error) : c.json({ acked: n.value }, 200);
    },
  );

  routes.openapi(
    createRoute({
      method: 'post',
      path: '/api/consumers/{id}/nack',
      summary: "Sends fetched deliveries again after delay_ms, or without it after the consumer's backoff_ms (none: at once)",
      request: { params: b.IdParam, ...body(b.NackBody) },
      responses: { 200: json(b.Nacked, 'how many were nacked'), ...errors(400, 404) },
    }),
    (c) => {
      const refused = refusal(c, broker, 'nack', false);
      if (refused !== undefined) return fail(c, refused);
      const input = c.req.valid('json');
      const n = broker.pull.nack(id(c), input.seqs, input.delay_ms);
      return n.isErr() ? fail(c, n.error) : c.json({ nacked: n.value }, 200);
    },
  );

  routes.openapi(
    createRoute({
      method: 'post',
      path: '/api/consumers/{id}/extend',
      summary: 'Moves the ack deadline of fetched deliveries to ms from now, as Pub/Sub modifyAckDeadline',
      request: { params: b.IdParam, ...body(b.ExtendBody) },
      responses: { 200: json(b.Extended, 'how many deadlines moved'), ...errors(400, 404) },
    }),
    (c) => {
      const refused = refusal(c, broker, 'extend', false);
      if (refused !== undefined) return fail(c, refused);
      const input = c.req.valid('json');
      const n = broker.pull.extend(id(c), input.seqs, input.ms);
      return n.isErr() ? fail(c, n.error) : c.json({ extended: n.value }, 200);
    },
  );

  return routes;
}
