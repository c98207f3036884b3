// GET /livez and /readyz: the probes of Kubernetes and of any load balancer, open without a token (a probe has
// none to send) and saying nothing but the status, so that an open route tells nobody anything about the log.
// /healthz, behind the token, stays the one that says why.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { Probe } from '../protocol/http-bodies.js';
import type { HttpEnv } from './api/route-kit.js';

export interface Readiness {
  /** Whether the store can be written now. */
  readonly writable: () => boolean;
  /** Whether every listener is up and the broker is not stopping. */
  readonly serving: () => boolean;
}

const probe = (description: string) => ({ content: { 'application/json': { schema: Probe } }, description });

export function addProbeRoutes(app: OpenAPIHono<HttpEnv>, readiness: Readiness): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/livez',
      summary: 'Liveness: 200 whenever the process answers; no token needed',
      responses: { 200: probe('the process answers') },
    }),
    (c) => c.json({ status: 'ok' as const }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/readyz',
      summary: 'Readiness: 200 while every listener is up and the database can be written, else 503; no token needed',
      responses: { 200: probe('ready for traffic'), 503: probe('starting, stopping, or the database cannot be written') },
    }),
    (c) => (readiness.serving() && readiness.writable() ? c.json({ status: 'ok' as const }, 200) : c.json({ status: 'unavailable' as const }, 503)),
  );
}
