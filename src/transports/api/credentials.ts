// /api/credentials and /api/audit (PROTOCOL.md §12): credentials made (their token in that answer only), listed,
// changed, rotated and removed, and the audit log read a page at a time; admin only (route-access.ts), which
// also writes each change to the audit log. /api/whoami says what the request's own token may do, for the
// dashboard to show only what its user may use.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Broker } from '../../core/broker.js';
import * as cb from '../../protocol/credential-bodies.js';
import { DEFAULT_PAGE } from '../../protocol/http-bodies.js';
import { auditTarget, principalOf } from './route-access.js';
import { apiRoutes, body, errors, fail, json, type HttpEnv } from './route-kit.js';

export function credentialRoutes(broker: Broker): OpenAPIHono<HttpEnv> {
  const routes = apiRoutes();
  const access = broker.access;
  const name = (c: { req: { valid(target: 'param'): { name: string } } }): string => c.req.valid('param').name;

  routes.openapi(
    createRoute({
      method: 'post',
      path: '/api/credentials',
      summary: 'Makes a credential; the answer holds its token, shown this once',
      request: body(cb.CredentialBody),
      responses: { 201: json(cb.IssuedCredential, 'the credential, with its token'), ...errors(400) },
    }),
    async (c) => {
      const input = c.req.valid('json');
      auditTarget(c, input.name);
      const made = await access.create(input.name, cb.permissionsOf(input));
      if (made.isErr()) return fail(c, made.error);
      return c.json({ ...cb.wireCredential(made.value.credential), token: made.value.token }, 201);
    },
  );

  routes.openapi(
    createRoute({
      method: 'get',
      path: '/api/credentials',
      summary: 'The stored credentials, without tokens',
      responses: { 200: json(cb.Credential.array(), 'the credentials'), ...errors() },
    }),
    (c) => c.json(access.list().map(cb.wireCredential), 200),
  );

  routes.openapi(
    createRoute({
      method: 'patch',
      path: '/api/credentials/{name}',
      summary: 'Changes a credential: the permissions given replace its own, the others and its token stay',
      request: { params: cb.NameParam, ...body(cb.CredentialChange) },
      responses: { 200: json(cb.Credential, 'the credential, changed'), ...errors(400) },
    }),
    async (c) => {
      const changed = await access.update(name(c), cb.permissionsOf(c.req.valid('json')));
      return changed.isErr() ? fail(c, changed.error) : c.json(cb.wireCredential(changed.value), 200);
    },
  );

  routes.openapi(
    createRoute({
      method: 'post',
      path: '/api/credentials/{name}/rotate',
      summary: 'Gives a credential a new token; the old one stops working, and its connections are closed',
      request: { params: cb.NameParam },
      responses: { 200: json(cb.IssuedCredential, 'the credential, with its new token'), ...errors(400) },
    }),
    async (c) => {
      const rotated = await access.rotate(name(c));
      if (rotated.isErr()) return fail(c, rotated.error);
      return c.json({ ...cb.wireCredential(rotated.value.credential), token: rotated.value.token }, 200);
    },
  );

  routes.openapi(
    createRoute({
      method: 'delete',
      path: '/api/credentials/{name}',
      summary: 'Removes a credential; its connections are closed',
      request: { params: cb.NameParam },
      responses: { 200: json(cb.RemovedCredential, 'removed'), ...errors(400) },
    }),
    async (c) => {
      const removed = await access.remove(name(c));
      return removed.isErr() ? fail(c, removed.error) : c.json({ name: name(c) }, 200);
    },
  );

  routes.openapi(
    createRoute({
      method: 'get',
      path: '/api/audit',
      summary: 'The audit log, oldest first: administrative actions and refusals',
      request: { query: cb.AuditQuery },
      responses: { 200: json(cb.AuditPage, 'a page of the audit log'), ...errors(400) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const limit = q.limit ?? DEFAULT_PAGE;
      const page = await broker.auditPage(q.from_time ?? 0, q.after ?? 0, limit);
      if (page.isErr()) return fail(c, page.error);
      const rows = page.value;
      return c.json({ entries: rows.map(cb.wireAuditEntry), next: rows.length < limit ? null : rows.at(-1)!.id }, 200);
    },
  );

  routes.openapi(
    createRoute({
      method: 'get',
      path: '/api/whoami',
      summary: "What the request's token may do",
      responses: { 200: json(cb.WhoAmI, 'its credential and permissions'), ...errors() },
    }),
    (c) => {
      const { grant } = principalOf(c);
      return c.json({ name: grant.name, ...cb.wirePermissions(grant.permissions) }, 200);
    },
  );

  return routes;
}
