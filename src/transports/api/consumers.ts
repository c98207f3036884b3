// /api/consumers: the durable consumers, read, registered (as REGISTER, through the registration commands, which
// push delivery follows), removed, rewound, paused and resumed; each answer that names one is its report.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ok } from 'neverthrow';
import type { Broker, ConsumerReport } from '../../core/broker.js';
import { parseAddress } from '../../protocol/address.js';
import * as b from '../../protocol/http-bodies.js';
import type { RegistrationCommands } from '../registration.js';
import { apiRoutes, body, errors, fail, id, json, type HttpApiOptions, type HttpEnv } from './route-kit.js';

export function consumerRoutes(broker: Broker, commands: RegistrationCommands, options: Pick<HttpApiOptions, 'stateOf'>): OpenAPIHono<HttpEnv> {
  const routes = apiRoutes();
  const report = (c: Context, r: ConsumerReport) => c.json(b.wireConsumer(r, options.stateOf(r)), 200);

  routes.openapi(
    createRoute({
      method: 'get',
      path: '/api/consumers',
      summary: 'Every durable consumer, with its lag, deliveries in flight and dead letters',
      responses: { 200: json(b.Consumer.array(), 'the consumers'), ...errors() },
    }),
    async (c) => {
      const reports = await broker.consumerReports();
      if (reports.isErr()) return fail(c, reports.error);
      return c.json(
        reports.value.map((r) => b.wireConsumer(r, options.stateOf(r))),
        200,
      );
    },
  );

  routes.openapi(
    createRoute({ method: 'get', path: '/api/consumers/{id}', summary: 'One durable consumer, with its lag, deliveries in flight and dead letters', request: { params: b.IdParam }, responses: { 200: json(b.Consumer, 'the consumer'), ...errors(404) } }),
    async (c) => {
      const r = await broker.consumerReport(id(c));
      return r.isErr() ? fail(c, r.error) : report(c, r.value);
    },
  );

  routes.openapi(
    createRoute({
      method: 'put',
      path: '/api/consumers/{id}',
      summary:
        'Registers a consumer, or updates it as REGISTER does: its address replaced when given, its patterns added to, its filter, backoff_ms, format and limits (ack_timeout_ms, max_deliveries, max_in_flight) replaced when given',
      request: { params: b.IdParam, ...body(b.ConsumerBody) },
      responses: { 200: json(b.Consumer, 'the consumer'), ...errors(400) },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const address = parseAddress(input.address ?? '');
      if (input.address !== undefined && address.isErr()) return fail(c, address.error);
      const saved = await commands.put(id(c), {
        address: address.isOk() ? address.value : undefined,
        patterns: input.patterns,
        filter: input.filter,
        leaseMs: input.lease_ms,
        backoffMs: input.backoff_ms,
        format: input.format,
        limits: { ackTimeoutMs: input.ack_timeout_ms, maxDeliveries: input.max_deliveries, maxInFlight: input.max_in_flight },
      });
      if (saved.isErr()) return fail(c, saved.error);
      const r = await broker.consumerReport(id(c));
      return r.isErr() ? fail(c, r.error) : report(c, r.value);
    },
  );

  routes.openapi(
    createRoute({ method: 'delete', path: '/api/consumers/{id}', summary: 'Removes a consumer (as UNREGISTER)', request: { params: b.IdParam }, responses: { 200: json(b.Removed, 'removed'), ...errors(404) } }),
    async (c) => {
      const removed = await commands.unregister(id(c));
      return removed.isErr() ? fail(c, removed.error) : c.json({ id: id(c) }, 200);
    },
  );

  routes.openapi(
    createRoute({
      method: 'post',
      path: '/api/consumers/{id}/replay',
      summary: 'Rewinds a consumer to a seq or a time (as REPLAY): what follows is delivered again',
      request: { params: b.IdParam, ...body(b.ReplayBody) },
      responses: { 200: json(b.Consumer, 'the consumer, rewound'), ...errors(400, 404) },
    }),
    async (c) => {
      const input = c.req.valid('json');
      const seq = input.from_seq !== undefined ? ok(input.from_seq) : await broker.seqAtTime(input.from_time ?? 0);
      if (seq.isErr()) return fail(c, seq.error);
      const r = await broker.replayReport(id(c), seq.value);
      return r.isErr() ? fail(c, r.error) : report(c, r.value);
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    routes.openapi(
      createRoute({
        method: 'post',
        path: `/api/consumers/{id}/${action}`,
        summary: action === 'pause' ? 'Pauses a consumer on every broker: nothing is delivered to it; its position is kept' : 'Resumes a paused consumer',
        request: { params: b.IdParam },
        responses: { 200: json(b.Consumer, 'the consumer'), ...errors(404) },
      }),
      async (c) => {
        const changed = action === 'pause' ? await broker.pauseConsumer(id(c)) : await broker.resumeConsumer(id(c));
        if (changed.isErr()) return fail(c, changed.error);
        const r = await broker.consumerReport(id(c));
        return r.isErr() ? fail(c, r.error) : report(c, r.value);
      },
    );
  }

  return routes;
}
