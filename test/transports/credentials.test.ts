// Credentials on every front-end (PROTOCOL.md §12), on the store the project runs on: a permission matrix (each
// operation of §3–§5, §8, §9's API, §11 and §12 with a credential that may and one that may not), refusals that
// store nothing and leave the connection open, wildcards that leak nothing, publish_rate, changes reaching open
// connections (narrowed: the subscription ends with FORBIDDEN; rotated or removed: the connection closes), the
// audit log, and 2,000 bad tokens refused while a good client goes on.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { sseConnect } from '../helpers/http-api.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { query, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import type { WsClient } from '../helpers/ws-client.js';

const scope = testScope();
const ADMIN = 'the-admin-token-of-this-test';

interface Bus {
  readonly t: TestApp;
  readonly base: string;
  /** An HTTP call with `token`; the status and the parsed body. */
  call(token: string | undefined, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** Makes a credential as the admin; its token. */
  credential(name: string, permissions: Record<string, unknown>): Promise<string>;
  ws(token: string): Promise<WsClient>;
  line(kind: 'transport' | 'registration', token: string): Promise<Awaited<ReturnType<TestApp['transport']>>>;
  headSeq(): number;
}

async function start(env: Record<string, string> = {}, logger?: Logger): Promise<Bus> {
  const t = await startTestApp(scope, { EVENTBUS_TOKEN: ADMIN, ...env }, logger === undefined ? {} : { logger });
  const base = `http://127.0.0.1:${t.app.ports.http}`;
  const call: Bus['call'] = async (token, method, path, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // text: the dashboard, /metrics
    }
    return { status: res.status, body: parsed };
  };
  return {
    t,
    base,
    call,
    credential: async (name, permissions) => {
      const made = await call(ADMIN, 'POST', '/api/credentials', { name, ...permissions });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      return (made.body as { token: string }).token;
    },
    ws: (token) => t.ws({ headers: { authorization: `Bearer ${token}` } }),
    line: async (kind, token) => {
      const client = await (kind === 'transport' ? t.transport() : t.registration());
      expect(await client.send(`AUTH ${token}`)).toBe('OK');
      return client;
    },
    headSeq: () => t.app.broker.headSeq(),
  };
}

const ORDERS = { publish: ['orders.#'], subscribe: ['orders.#'], consumers: ['billing-*'] };

describe('the permission matrix', () => {
  test('line ingress: publish only to its topics; a refusal stores nothing and the connection goes on', async () => {
    const bus = await start();
    const orders = await bus.line('transport', await bus.credential('orders', ORDERS));
    expect(await orders.send('orders.created:one')).toMatch(/^OK \d+$/);
    const before = bus.headSeq();
    expect(await orders.send('payments.created:two')).toBe('ERR FORBIDDEN publish: credential orders may not publish to payments.created');
    expect(await orders.send('{"event_name":"payments.x","msg":"m","delay_ms":60000}')).toMatch(/^ERR FORBIDDEN /);
    expect(bus.headSeq()).toBe(before);
    expect(await orders.send('orders.eu.created:three')).toMatch(/^OK \d+$/);
    // A token that is none is refused and closed, as before credentials.
    const stranger = await bus.t.transport();
    expect(await stranger.send('AUTH not-a-token')).toMatch(/^ERR UNAUTHORIZED/);
    await stranger.closed();
  });

  test('registration: changes need admin, LIST needs monitor, HELP anyone; refusals leave the connection open', async () => {
    const bus = await start();
    const ops = await bus.line('registration', await bus.credential('ops', { monitor: true }));
    const orders = await bus.line('registration', await bus.credential('orders', ORDERS));
    const admin = await bus.line('registration', ADMIN);
    const commands = ['REGISTER billing-eu tcp://127.0.0.1:9 orders.#', 'SUBSCRIBE billing-eu orders.eu', 'UNSUBSCRIBE billing-eu orders.eu', 'REPLAY billing-eu 1', 'PAUSE billing-eu', 'RESUME billing-eu', 'UNREGISTER billing-eu'];
    for (const command of commands) {
      const verb = command.split(' ')[0]!;
      expect(await ops.send(command), command).toBe(`ERR FORBIDDEN ${verb}: credential ops is not an admin`);
      expect(await admin.send(command), command).toMatch(/^OK /);
    }
    expect(await ops.send('LIST')).toBe('END');
    expect(await orders.send('LIST')).toBe('ERR FORBIDDEN LIST: credential orders may not monitor the broker');
    await orders.send('HELP');
    expect(orders.isClosed).toBe(false);
  });

  test('WebSocket: publish and publish_batch to its topics, subscribe to covered patterns, as its consumers', async () => {
    const bus = await start();
    const ws = await bus.ws(await bus.credential('orders', ORDERS));
    expect(await ws.request({ type: 'publish', data: { topic: 'orders.created', payload: 'a' } })).toMatchObject({ type: 'published' });
    const before = bus.headSeq();
    const refused = [
      { type: 'publish', data: { topic: 'payments.created', payload: 'b' } },
      { type: 'publish', data: { topic: 'payments.created', payload: 'b' }, delay_ms: 60_000 },
      { type: 'publish_batch', messages: [{ topic: 'orders.created', payload: 'c' }, { topic: 'payments.created', payload: 'd' }] },
      { type: 'subscribe', pattern: '#' },
      { type: 'subscribe', pattern: 'payments.*' },
      { type: 'subscribe', pattern: ['orders.*', 'payments.*'] },
      { type: 'subscribe', pattern: 'orders.*', consumer: 'audit' },
    ];
    for (const frame of refused) expect(await ws.request(frame), JSON.stringify(frame)).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(bus.headSeq()).toBe(before);
    expect(await ws.request({ type: 'publish_batch', messages: [{ topic: 'orders.a', payload: 'c' }, { topic: 'orders.b', payload: 'd' }] })).toMatchObject({ type: 'published' });
    await ws.subscribe({ pattern: 'orders.*' });
    await ws.subscribe({ pattern: 'orders.#', consumer: 'billing-eu' });
    expect(ws.isClosed).toBe(false);
  });

  test('wildcards leak nothing: whatever pattern a credential for orders.# tries, it receives only orders', async () => {
    const bus = await start();
    const ws = await bus.ws(await bus.credential('orders', ORDERS));
    const tries = ['#', '>', '*', '*.*', '*.#', '*.created', 'payments.*', 'payments.#', 'orders', 'orders.*', 'orders.#', 'orders.>', 'orders.*.created', 'orders.eu', 'ordersx.#', 'order.#'];
    const accepted: string[] = [];
    for (const pattern of tries) {
      const answer = await ws.request({ type: 'subscribe', pattern });
      if (answer.type === 'subscribed') accepted.push(pattern);
      else expect(answer, pattern).toMatchObject({ code: 'FORBIDDEN' });
    }
    expect(accepted).toEqual(['orders', 'orders.*', 'orders.#', 'orders.>', 'orders.*.created', 'orders.eu']);
    const admin = await bus.ws(ADMIN);
    for (const topic of ['payments.created', 'orders.created', 'ordersx.created', 'order.x', 'x.orders', 'orders.eu.created', 'orders']) await admin.publish({ topic, payload: topic });
    const last = await admin.publish({ topic: 'orders.eu', payload: 'last' });
    // orders.eu reaches orders.*, orders.#, orders.> and orders.eu: by then every earlier message has reached its subscriptions.
    await until('the last message on each subscription that matches it', () => ws.pending((f) => f.type === 'message' && f.seq === last.seq).length === 4);
    const topics = new Set(ws.takeAll((f) => f.type === 'message').map((f) => f.topic as string));
    expect([...topics].sort()).toEqual(['orders', 'orders.created', 'orders.eu', 'orders.eu.created']);
  });

  test('HTTP API: every route with a credential that may and one that may not', async () => {
    const bus = await start();
    const tokens = {
      orders: await bus.credential('orders', ORDERS),
      ops: await bus.credential('ops', { monitor: true }),
      admin: ADMIN,
    };
    const seqOf = async (topic: string): Promise<number> => ((await bus.call(ADMIN, 'POST', '/api/publish', { topic, payload: 'x' })).body as { seq: number }).seq;
    const ordersSeq = await seqOf('orders.created');
    const paymentsSeq = await seqOf('payments.created');
    await bus.call(ADMIN, 'PUT', '/api/consumers/billing-eu', { patterns: ['orders.#'] });
    await bus.call(ADMIN, 'PUT', '/api/schedules/nightly', { topic: 'orders.report', payload: 'x', cron: '0 3 * * *' });
    type Row = [method: string, path: string, body: unknown, may: keyof typeof tokens, mayNot: keyof typeof tokens];
    const matrix: Row[] = [
      ['POST', '/api/publish', { topic: 'orders.x', payload: 'p' }, 'orders', 'ops'],
      ['POST', '/api/publish', { topic: 'orders.x', payload: 'p', delay_ms: 60_000 }, 'orders', 'ops'],
      ['POST', '/api/publish', { messages: [{ topic: 'orders.x', payload: 'p' }] }, 'orders', 'ops'],
      ['GET', '/api/messages?pattern=orders.%23', undefined, 'orders', 'ops'],
      ['GET', `/api/messages/${ordersSeq}`, undefined, 'orders', 'ops'],
      ['GET', '/api/messages', undefined, 'admin', 'orders'],
      ['GET', `/api/messages/${paymentsSeq}`, undefined, 'admin', 'orders'],
      ['GET', '/api/topics', undefined, 'ops', 'orders'],
      ['GET', '/api/stats', undefined, 'ops', 'orders'],
      ['GET', '/api/consumers', undefined, 'ops', 'orders'],
      ['GET', '/api/consumers/billing-eu', undefined, 'ops', 'orders'],
      ['GET', '/api/consumers/billing-eu/dead-letters', undefined, 'ops', 'orders'],
      ['GET', '/api/schedules', undefined, 'ops', 'orders'],
      ['GET', '/api/schedules/nightly', undefined, 'ops', 'orders'],
      ['GET', '/metrics', undefined, 'ops', 'orders'],
      ['PUT', '/api/consumers/billing-us', { patterns: ['orders.#'] }, 'admin', 'ops'],
      ['POST', '/api/consumers/billing-eu/replay', { from_seq: 1 }, 'admin', 'ops'],
      ['POST', '/api/consumers/billing-eu/pause', undefined, 'admin', 'ops'],
      ['POST', '/api/consumers/billing-eu/resume', undefined, 'admin', 'ops'],
      ['POST', '/api/consumers/billing-eu/dead-letters/requeue', {}, 'admin', 'ops'],
      ['DELETE', '/api/consumers/billing-eu/dead-letters', {}, 'admin', 'ops'],
      ['DELETE', '/api/consumers/billing-us', undefined, 'admin', 'ops'],
      ['PUT', '/api/schedules/hourly', { topic: 'orders.report', payload: 'x', cron: '0 * * * *' }, 'admin', 'ops'],
      ['POST', '/api/schedules/hourly/pause', undefined, 'admin', 'ops'],
      ['POST', '/api/schedules/hourly/resume', undefined, 'admin', 'ops'],
      ['DELETE', '/api/schedules/hourly', undefined, 'admin', 'ops'],
      ['POST', '/api/credentials', { name: 'reader', subscribe: ['orders.#'] }, 'admin', 'ops'],
      ['GET', '/api/credentials', undefined, 'admin', 'ops'],
      ['PATCH', '/api/credentials/reader', { monitor: true }, 'admin', 'ops'],
      ['POST', '/api/credentials/reader/rotate', undefined, 'admin', 'ops'],
      ['DELETE', '/api/credentials/reader', undefined, 'admin', 'ops'],
      ['GET', '/api/audit', undefined, 'admin', 'ops'],
    ];
    for (const [method, path, body, may, mayNot] of matrix) {
      const before = bus.headSeq();
      const refused = await bus.call(tokens[mayNot], method, path, body);
      expect([refused.status, (refused.body as { code?: string }).code], `${mayNot} ${method} ${path}`).toEqual([403, 'FORBIDDEN']);
      expect((refused.body as { message: string }).message, `${method} ${path}`).toContain(`credential ${mayNot} `);
      expect(bus.headSeq(), `${method} ${path} stored nothing`).toBe(before);
      const allowed = await bus.call(tokens[may], method, path, body);
      expect(allowed.status, `${may} ${method} ${path}: ${JSON.stringify(allowed.body)}`).toBeLessThan(300);
    }
    // Any valid token may ask what it may do, and probe the health.
    expect((await bus.call(tokens.orders, 'GET', '/api/whoami')).body).toMatchObject({ name: 'orders', publish: ['orders.#'], monitor: false, admin: false });
    expect((await bus.call(tokens.orders, 'GET', '/healthz')).status).toBe(200);
    expect((await bus.call(tokens.orders, 'GET', '/')).status).toBe(200);
    expect((await bus.call('not-a-token', 'GET', '/healthz')).status).toBe(401);
  });

  test('SSE: a stream of covered patterns only', async () => {
    const bus = await start();
    const token = await bus.credential('orders', ORDERS);
    const refused = await bus.call(token, 'GET', '/api/subscribe?pattern=%23');
    expect([refused.status, (refused.body as { code: string }).code]).toEqual([403, 'FORBIDDEN']);
    const stream = await sseConnect(bus.t.app.ports.http, '/api/subscribe?pattern=orders.%23', { authorization: `Bearer ${token}` });
    scope.defer(() => stream.close());
    await bus.call(ADMIN, 'POST', '/api/publish', { topic: 'payments.created', payload: 'no' });
    await bus.call(ADMIN, 'POST', '/api/publish', { topic: 'orders.created', payload: 'yes' });
    const [event] = await stream.take(1);
    expect(JSON.parse(event!.data)).toMatchObject({ topic: 'orders.created', payload: 'yes' });
  });
});

describe('publish_rate', () => {
  test('beyond it a publish is RATE_LIMITED on every front-end, and nothing is stored', async () => {
    const bus = await start();
    const token = await bus.credential('slow', { publish: ['#'], publish_rate: 1 });
    const before = bus.headSeq();
    // Two at once are more than one a second, whatever the clock says.
    const http = await bus.call(token, 'POST', '/api/publish', { messages: [{ topic: 'a', payload: '1' }, { topic: 'a', payload: '2' }] });
    expect([http.status, (http.body as { code: string }).code]).toEqual([429, 'RATE_LIMITED']);
    const ws = await bus.ws(token);
    const frame = await ws.request({ type: 'publish_batch', messages: [{ topic: 'a', payload: '1' }, { topic: 'a', payload: '2' }] });
    expect(frame).toMatchObject({ type: 'error', code: 'RATE_LIMITED' });
    expect(bus.headSeq()).toBe(before);
    // Two lines in one write are read in one turn: the second finds the second's budget spent.
    const line = await bus.line('transport', token);
    await line.write('a:1\na:2\n');
    expect(await line.readLines(2)).toEqual([expect.stringMatching(/^OK \d+$/), 'ERR RATE_LIMITED publish: credential slow is over its publish_rate of 1 a second']);
    expect(bus.headSeq()).toBe(before + 1);
    type Audit = { entries: { credential: string; outcome: string }[] };
    await until('the refusals in the audit log', async () => ((await bus.call(ADMIN, 'GET', '/api/audit')).body as Audit).entries.filter((e) => e.outcome.startsWith('RATE_LIMITED')).length === 3);
  });
});

describe('changes reach open connections', () => {
  test('narrowed: a subscription it may no longer read ends with FORBIDDEN, the others and the connection go on', async () => {
    const bus = await start();
    const token = await bus.credential('orders', ORDERS);
    const ws = await bus.ws(token);
    const eu = await ws.subscribe({ pattern: 'orders.eu.*' });
    const all = await ws.subscribe({ pattern: 'orders.#' });
    const stream = await sseConnect(bus.t.app.ports.http, '/api/subscribe?pattern=orders.%23', { authorization: `Bearer ${token}` });
    scope.defer(() => stream.close());
    expect((await bus.call(ADMIN, 'PATCH', '/api/credentials/orders', { subscribe: ['orders.eu.#'] })).status).toBe(200);
    const ended = await ws.next((f) => f.type === 'error');
    expect(ended).toMatchObject({ code: 'FORBIDDEN' });
    expect(ended.message).toContain(all);
    const sseEnd = await stream.take(1);
    expect(sseEnd[0]).toMatchObject({ event: 'error' });
    await bus.call(ADMIN, 'POST', '/api/publish', { topic: 'orders.eu.created', payload: 'still' });
    const [m] = await ws.messages(eu, 1);
    expect(m!.payload).toBe('still');
    expect(ws.isClosed).toBe(false);
  });

  test('rotated or removed: its connections on every front-end are closed, and the old token no longer works', async () => {
    const bus = await start();
    const token = await bus.credential('orders', { ...ORDERS, monitor: true });
    const ws = await bus.ws(token);
    const line = await bus.line('transport', token);
    const registration = await bus.line('registration', token);
    const stream = await sseConnect(bus.t.app.ports.http, '/api/subscribe?pattern=orders.%23', { authorization: `Bearer ${token}` });
    scope.defer(() => stream.close());
    const stats = await sseConnect(bus.t.app.ports.http, '/api/stats/stream', { authorization: `Bearer ${token}` });
    scope.defer(() => stats.close());
    expect((await stats.take(1))[0]).toMatchObject({ event: 'stats' });
    const rotated = await bus.call(ADMIN, 'POST', '/api/credentials/orders/rotate');
    const fresh = (rotated.body as { token: string }).token;
    expect((await ws.closed()).code).toBe(1008);
    expect(await line.readLine()).toBe('ERR UNAUTHORIZED the credential of this connection was rotated or removed');
    await line.closed();
    await registration.closed();
    expect((await stream.take(1))[0]).toMatchObject({ event: 'error' });
    // A tick of figures may come before it.
    await until('the stats stream ended with an error event', () => stats.pending().some((e) => e.event === 'error'));
    expect((await bus.call(token, 'GET', '/api/stats')).status).toBe(401);
    expect((await bus.call(fresh, 'GET', '/api/stats')).status).toBe(200);

    const again = await bus.ws(fresh);
    expect((await bus.call(ADMIN, 'DELETE', '/api/credentials/orders')).status).toBe(200);
    expect((await again.closed()).code).toBe(1008);
    expect((await bus.call(fresh, 'GET', '/api/stats')).status).toBe(401);
  });
});

describe('the audit log', () => {
  test('administrative actions and refusals, with credential, peer, action, target and outcome; no token in any table or log line', async () => {
    const logLines: string[] = [];
    const bus = await start({}, createLogger('debug', { write: (line) => logLines.push(line) }));
    // No route: no action to write down.
    expect((await bus.call(ADMIN, 'POST', '/api/nothing-here')).status).toBe(404);
    const token = await bus.credential('ops', { monitor: true });
    const rotated = ((await bus.call(ADMIN, 'POST', '/api/credentials/ops/rotate')).body as { token: string }).token;
    const tokenOfOps = await bus.credential('ops2', { monitor: true });
    await bus.call(ADMIN, 'PUT', '/api/consumers/billing', { patterns: ['orders.#'] });
    await bus.call(rotated, 'POST', '/api/consumers/billing/pause');
    await bus.call('wrong-token', 'GET', '/api/stats');
    const admin = await bus.line('registration', ADMIN);
    expect(await admin.send('PAUSE billing')).toBe('OK paused billing');
    let entries: Record<string, unknown>[] = [];
    await until('the entries written', async () => {
      entries = ((await bus.call(ADMIN, 'GET', '/api/audit')).body as { entries: Record<string, unknown>[] }).entries;
      return entries.length >= 7;
    });
    const peer = expect.stringMatching(/^127\.0\.0\.1:\d+$/) as unknown;
    expect(entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ credential: 'admin', peer, action: 'http POST /api/credentials', target: 'ops', outcome: 'ok' }),
        expect.objectContaining({ credential: 'admin', action: 'http PUT /api/consumers/billing', target: 'billing', outcome: 'ok' }),
        expect.objectContaining({ credential: 'ops', action: 'http POST /api/consumers/billing/pause', target: 'billing', outcome: 'FORBIDDEN is not an admin' }),
        expect.objectContaining({ credential: null, action: 'http authenticate', target: null, outcome: 'UNAUTHORIZED no such token' }),
        expect.objectContaining({ credential: 'admin', action: 'registration PAUSE', target: 'billing', outcome: 'ok' }),
      ]),
    );
    expect(JSON.stringify(entries)).not.toContain('nothing-here');
    const tables = ['credentials', 'audit_log', 'messages'].map((table) => JSON.stringify(query(bus.t, `SELECT * FROM ${table}`)));
    for (const secret of [token, rotated, tokenOfOps, ADMIN]) {
      for (const [i, text] of [...tables, ...logLines].entries()) expect(text.includes(secret), `${i}: ${text.slice(0, 200)}`).toBe(false);
    }
    expect(logLines.some((l) => l.includes('authentication refused'))).toBe(true);
    // Paged: `next` leads on, null at the end.
    const first = (await bus.call(ADMIN, 'GET', '/api/audit?limit=2')).body as { entries: unknown[]; next: number };
    const second = (await bus.call(ADMIN, 'GET', `/api/audit?limit=1000&after=${first.next}`)).body as { entries: unknown[]; next: number | null };
    expect([first.entries.length, second.entries.length + 2, second.next]).toEqual([2, entries.length, null]);
  });
});

describe('bad tokens', () => {
  test('2,000 fuzzed tokens are refused on every front-end while a good client keeps publishing', async () => {
    const bus = await start();
    const token = await bus.credential('orders', ORDERS);
    const good = await bus.ws(token);
    const fuzzed = (i: number): string => {
      switch (i % 5) {
        case 0:
          return randomBytes(32).toString('base64url');
        case 1: // the good one with one character changed
          return token.slice(0, i % token.length) + (token[i % token.length] === 'A' ? 'B' : 'A') + token.slice((i % token.length) + 1);
        case 2:
          return token + 'x';
        case 3:
          return ADMIN.slice(0, -1);
        default:
          return randomBytes(i % 64).toString('hex');
      }
    };
    let published = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await good.publish({ topic: 'orders.created', payload: String(published) });
        published++;
      }
    })();
    const refusals: Promise<void>[] = [];
    for (let i = 0; i < 2000; i++) {
      const bad = fuzzed(i);
      if (bad === token) continue;
      if (i % 10 === 0) {
        refusals.push(
          (async () => {
            const line = await bus.t.transport();
            expect(await line.send(`AUTH ${bad}`)).toMatch(/^ERR UNAUTHORIZED/);
            line.destroy();
          })(),
        );
      } else {
        refusals.push(
          (async () => {
            const res = await fetch(`${bus.base}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${bad}`, 'content-type': 'application/json' }, body: '{"topic":"orders.x","payload":"p"}' });
            expect(res.status).toBe(401);
            await res.arrayBuffer();
          })(),
        );
      }
      if (refusals.length >= 50) await Promise.all(refusals.splice(0));
    }
    await Promise.all(refusals);
    publishing = false;
    await publisher;
    expect(published).toBeGreaterThan(0);
    expect(bus.headSeq()).toBe(published);
  });
});
