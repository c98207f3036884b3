// /api/schedules: recurring schedules made, read, paused, resumed and removed, and the delayed messages not yet
// due, listed and cancelled (PROTOCOL.md §11).
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Broker } from '../../core/broker.js';
import * as b from '../../protocol/http-bodies.js';
import { apiRoutes, body, errors, fail, id, json, type HttpEnv } from './route-kit.js';

export function scheduleRoutes(broker: Broker): OpenAPIHono<HttpEnv> {
  const routes = apiRoutes();
  const schedules = broker.schedules;

  routes.openapi(
    createRoute({
      method: 'get',
      path: '/api/schedules',
      summary: 'Recurring schedules and delayed messages not yet due, by id, a page at a time',
      request: { query: b.ScheduleListQuery },
      responses: { 200: json(b.ScheduleList, 'a page of schedules'), ...errors(400) },
    }),
    async (c) => {
      const { kind, from, limit } = c.req.valid('query');
      const page = await schedules.list(kind, from, limit ?? b.DEFAULT_PAGE);
      if (page.isErr()) return fail(c, page.error);
      return c.json({ schedules: page.value.schedules.map(b.wireSchedule), next: page.value.next }, 200);
    },
  );

  routes.openapi(
    createRoute({
      method: 'put',
      path: '/api/schedules/{id}',
      summary: 'Creates or replaces a recurring schedule: cron or every_ms',
      request: { params: b.IdParam, ...body(b.ScheduleBody) },
      responses: { 200: json(b.Schedule, 'the schedule'), ...errors(400, 413) },
    }),
    async (c) => {
      const made = await schedules.put(id(c), b.recurringInputOf(c.req.valid('json')));
      return made.isErr() ? fail(c, made.error) : c.json(b.wireSchedule(made.value), 200);
    },
  );

  routes.openapi(
    createRoute({ method: 'get', path: '/api/schedules/{id}', summary: 'One schedule: a recurring one, or a delayed message not yet due', request: { params: b.IdParam }, responses: { 200: json(b.Schedule, 'the schedule'), ...errors(404) } }),
    async (c) => {
      const s = await schedules.get(id(c));
      return s.isErr() ? fail(c, s.error) : c.json(b.wireSchedule(s.value), 200);
    },
  );

  routes.openapi(
    createRoute({
      method: 'delete',
      path: '/api/schedules/{id}',
      summary: 'Cancels a schedule: a delayed message not yet due is never appended',
      request: { params: b.IdParam },
      responses: { 200: json(b.Removed, 'removed'), ...errors(404) },
    }),
    async (c) => {
      const removed = await schedules.remove(id(c));
      return removed.isErr() ? fail(c, removed.error) : c.json({ id: id(c) }, 200);
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    routes.openapi(
      createRoute({
        method: 'post',
        path: `/api/schedules/{id}/${action}`,
        summary: action === 'pause' ? 'Pauses a schedule: no fires while paused' : 'Resumes a schedule from its next fire time after now',
        request: { params: b.IdParam },
        responses: { 200: json(b.Schedule, 'the schedule'), ...errors(404) },
      }),
      async (c) => {
        const changed = await schedules.setPaused(id(c), action === 'pause');
        return changed.isErr() ? fail(c, changed.error) : c.json(b.wireSchedule(changed.value), 200);
      },
    );
  }
  return routes;
}
