// What every route of the HTTP API is made of: the app a resource's routes are declared on (a request their zod
// schemas refuse is answered BAD_ARGS), how requests and answers are declared for the OpenAPI document, and how
// a broker error is answered: `{code, message}` with the status of its code.
import type { HttpBindings } from '@hono/node-server';
import { OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ConsumerInfo, Principal } from '../../core/broker.js';
import type { BrokerError } from '../../errors.js';
import * as b from '../../protocol/http-bodies.js';

export type HttpEnv = {
  Bindings: Partial<HttpBindings>;
  /**
   * Set by route-access.ts's authenticate(): who is asking, and what an admin request's audit entry names; by
   * the answer to a request no route takes, which is no action to write down.
   */
  Variables: { principal: Principal; auditTarget?: string; unrouted?: boolean };
};

export interface HttpApiOptions {
  readonly nodeId: string;
  /** Largest request body read; a longer one is refused with TOO_LARGE unread. */
  readonly maxBodyBytes: number;
  /** Rows of the log one page of GET /api/messages reads at most. */
  readonly scanRows: number;
  /** An event stream's unsent bytes before its subscription pauses. */
  readonly bufferBytes: number;
  /** How a consumer's deliveries are going: paused, connected, retrying, offline. */
  readonly stateOf: (consumer: ConsumerInfo) => string;
  /** Open connections by front-end, for /api/stats. */
  readonly connections: () => Record<string, number>;
}

/** The event streams open on an API: ended by the front-end when it stops. */
export interface EventStreams {
  readonly size: number;
  closeAll(): void;
}

/** An app to declare routes on; createApiApp mounts each resource's. */
export function apiRoutes(): OpenAPIHono<HttpEnv> {
  return new OpenAPIHono<HttpEnv>({
    defaultHook: (result, c) => {
      if (!result.success) return c.json({ code: 'BAD_ARGS' as const, message: b.describeIssues(result.error) }, 400);
      return undefined;
    },
  });
}

export const json = <T extends z.ZodType>(schema: T, description: string) => ({ content: { 'application/json': { schema } }, description });
export const body = <T extends z.ZodType>(schema: T, required = true) => ({ body: { content: { 'application/json': { schema } }, required } });

const ERROR_DESCRIPTIONS = {
  400: 'BAD_*: the request is not one the API takes',
  401: 'UNAUTHORIZED: tokens are checked and the request carries none that is valid',
  403: "FORBIDDEN: the token's credential may not do this (docs/security.md)",
  404: 'UNKNOWN_*: no such consumer or message',
  413: 'TOO_LARGE: a body over EVENTBUS_HTTP_MAX_BODY or a payload over EVENTBUS_MAX_PAYLOAD',
  429: "RATE_LIMITED: the credential's publish_rate is used up for now; nothing was stored",
  503: 'UNAVAILABLE: the database cannot be written now, or the broker is stopping',
} as const;
type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

/** The error answers of a route, for the document: those of `statuses`, and 401, 403 and 503, which every route may give. */
export function errors<S extends ErrorStatus>(...statuses: S[]): Record<S | 401 | 403 | 503, ReturnType<typeof json<typeof b.ErrorBody>>> {
  const all = [...new Set<ErrorStatus>([...statuses, 401, 403, 503])];
  return Object.fromEntries(all.map((s) => [s, json(b.ErrorBody, ERROR_DESCRIPTIONS[s])])) as Record<S | 401 | 403 | 503, ReturnType<typeof json<typeof b.ErrorBody>>>;
}

/**
 * The answer to a broker error. Typed `never` so that a route's handler may return it whatever its declared
 * answers: the status comes from the code, which the route's `errors(...)` lists for the document.
 */
export function fail(c: Context, e: BrokerError): never {
  return c.json({ code: e.code, message: e.message }, b.httpStatusOf(e.code)) as never;
}

/**
 * A 200 answer whose JSON text the caller wrote (protocol/http-bodies.ts says where and why). Typed `never` as
 * fail() is: the route's declared schema is what the text holds.
 */
export function jsonText(c: Context, text: string): never {
  return c.body(text, 200, { 'content-type': 'application/json' }) as never;
}

/** The consumer id of a route under /api/consumers/{id}. */
export const id = (c: { req: { valid(target: 'param'): { id: string } } }): string => c.req.valid('param').id;
