// Who may call which route of the HTTP server (PROTOCOL.md §12), in one table: the token of each request is
// turned into a Principal, then the route's need is checked before it runs. Operator views need `monitor`;
// anything that changes the broker's set-up needs `admin` and is written to the audit log with its outcome; a
// route that reads or writes topics or uses a consumer checks what it touches itself (`own`), as only it knows
// the topics. A route missing from the table needs `admin`: a new route is closed until it is placed here.
import type { Context, MiddlewareHandler } from 'hono';
import type { Broker, Principal } from '../../core/broker.js';
import { brokerError } from '../../errors.js';
import { tokenOf, UNAUTHORIZED_MESSAGE, type RefusalLog } from '../auth.js';
import { fail, type HttpEnv } from './route-kit.js';

export type Need = 'open' | 'any' | 'monitor' | 'admin' | 'own';

const RULES: readonly [methods: readonly string[], path: RegExp, need: Need][] = [
  // The probes: a prober has no token, and they say nothing but a status.
  [['GET'], /^\/(livez|readyz)$/, 'open'],
  // The dashboard's page holds no data: what it shows comes from calls that are checked each.
  [['GET'], /^\/(|healthz|ws|api\/openapi\.json|api\/asyncapi\.json|api\/whoami)$/, 'any'],
  [['POST'], /^\/api\/publish$/, 'own'],
  [['GET'], /^\/api\/(messages(\/[^/]+)?|subscribe)$/, 'own'],
  // Pulling uses the consumer (PROTOCOL.md §12 `consumers`), as subscribing as it over the WebSocket does.
  [['POST'], /^\/api\/consumers\/[^/]+\/(fetch|ack|nack|extend)$/, 'own'],
  [['GET'], /^\/metrics$/, 'monitor'],
  [['GET'], /^\/api\/(stats|topics|consumers|schedules)(\/.*)?$/, 'monitor'],
];

/** What a route needs: 'open' ones take no token; the OpenAPI document (openapi.ts) says so of each route. */
export function accessOf(method: string, path: string): Need {
  const m = method === 'HEAD' ? 'GET' : method;
  for (const [methods, pattern, need] of RULES) if (methods.includes(m) && pattern.test(path)) return need;
  return 'admin';
}

/** The principal of a request that went through authenticate(). */
export function principalOf(c: Context<HttpEnv>): Principal {
  return c.get('principal');
}

/**
 * Sets what an administrative request's audit entry names as its target when the path does not (a credential
 * or schedule made by POST, whose name is in the body).
 */
export function auditTarget(c: Context<HttpEnv>, target: string): void {
  c.set('auditTarget', target);
}

/** Answers 401 without a token that is one, 403 when the route needs what the credential lacks. */
export function authenticate(broker: Broker, refusals: RefusalLog): MiddlewareHandler<HttpEnv> {
  return async (c, next) => {
    const need = accessOf(c.req.method, c.req.path);
    if (need === 'open') {
      await next();
      return undefined;
    }
    // Undefined for a request an embedding application hands over in-process (app.fetch(request)).
    const socket = (c.env as HttpEnv['Bindings'] | undefined)?.incoming?.socket;
    const peer = socket === undefined ? 'in-process' : `${socket.remoteAddress}:${socket.remotePort}`;
    const entered = broker.gate.enter(tokenOf(c.req.header('authorization'), c.req.url), { front: 'http', peer });
    if (entered.isErr()) {
      refusals.refused(peer, 'http');
      return fail(c, brokerError('UNAUTHORIZED', `${entered.error.message}: ${UNAUTHORIZED_MESSAGE}`));
    }
    const principal = entered.value;
    c.set('principal', principal);
    const path = c.req.path;
    const action = `${c.req.method} ${path}`;
    if (need === 'monitor') {
      const allowed = principal.monitor(action);
      if (allowed.isErr()) return fail(c, allowed.error);
    }
    if (need !== 'admin') {
      await next();
      return undefined;
    }
    const pathTarget = targetOf(path);
    const allowed = principal.mayAdminister(action, pathTarget);
    if (allowed.isErr()) return fail(c, allowed.error);
    await next();
    // Reading the credentials or the audit log changes nothing: only changes are written down.
    if (c.req.method === 'GET' || c.req.method === 'HEAD' || c.get('unrouted') === true) return undefined;
    const target = c.get('auditTarget') ?? pathTarget;
    principal.record(action, target, c.res.ok ? 'ok' : await outcomeOf(c.res));
    return undefined;
  };
}

/** What a path is about: /api/consumers/billing/replay → billing. */
function targetOf(path: string): string | null {
  const segment = path.split('/')[3];
  if (segment === undefined) return null;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** A refused request's code and reason, from its answer. */
async function outcomeOf(res: Response): Promise<string> {
  const body = (await res
    .clone()
    .json()
    .catch(() => undefined)) as { code?: unknown; message?: unknown } | undefined;
  return typeof body?.code === 'string' ? `${body.code} ${String(body.message)}` : `HTTP ${res.status}`;
}
