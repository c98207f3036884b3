// Credentials across brokers on one PostgreSQL database (PROTOCOL.md §12): a credential made, narrowed, rotated
// or removed through one broker applies on the other within 1 s, to its open connections too, and both write
// to the one audit log.
import { describe, expect, test } from 'vitest';
import type { BrokerProcess } from '../helpers/broker-process.js';
import { pgBrokers } from '../helpers/pg-brokers.js';
import { testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { wsConnect, type WsClient } from '../helpers/ws-client.js';

const cluster = pgBrokers();
const scope = testScope();
const ADMIN = 'the-admin-token-of-these-brokers';
// PROTOCOL.md §12: a change applies on every broker within this.
const WITHIN_MS = 1000;

async function call(node: BrokerProcess, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${node.ports.http}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function ws(node: BrokerProcess, token: string): Promise<WsClient> {
  const client = await wsConnect(node.ports.http, { headers: { authorization: `Bearer ${token}` } });
  scope.defer(() => client.close());
  return client;
}

describe('credentials shared by brokers on one database', () => {
  test('made, narrowed, rotated and removed on one broker: the other follows within 1 s, open connections too', async () => {
    const { nodes } = await cluster.start(2, { EVENTBUS_TOKEN: ADMIN });
    const [a, b] = nodes as [BrokerProcess, BrokerProcess];

    const made = await call(a, ADMIN, 'POST', '/api/credentials', { name: 'orders', publish: ['orders.#'], subscribe: ['orders.#'] });
    expect(made.status).toBe(201);
    const token = made.body.token as string;
    let since = Date.now();
    await until('the credential known on the other broker', async () => (await call(b, token, 'GET', '/api/whoami')).status === 200, WITHIN_MS);
    const known = Date.now() - since;

    const client = await ws(b, token);
    const wide = await client.subscribe({ pattern: 'orders.#' });
    const narrow = await client.subscribe({ pattern: 'orders.eu.*' });
    since = Date.now();
    expect((await call(a, ADMIN, 'PATCH', '/api/credentials/orders', { subscribe: ['orders.eu.#'] })).status).toBe(200);
    const ended = await client.next((f) => f.type === 'error', WITHIN_MS, 'the subscription it may no longer read ended');
    const narrowed = Date.now() - since;
    expect(ended).toMatchObject({ code: 'FORBIDDEN' });
    expect(ended.message).toContain(wide);
    await client.publish({ topic: 'orders.eu.created', payload: 'still allowed' });
    expect((await client.messages(narrow, 1))[0]!.payload).toBe('still allowed');

    since = Date.now();
    const rotated = await call(a, ADMIN, 'POST', '/api/credentials/orders/rotate');
    expect((await client.closed(WITHIN_MS)).code).toBe(1008);
    const revoked = Date.now() - since;
    const fresh = rotated.body.token as string;
    expect((await call(b, token, 'GET', '/api/whoami')).status).toBe(401);
    expect((await call(b, fresh, 'GET', '/api/whoami')).status).toBe(200);

    const again = await ws(b, fresh);
    since = Date.now();
    expect((await call(a, ADMIN, 'DELETE', '/api/credentials/orders')).status).toBe(200);
    expect((await again.closed(WITHIN_MS)).code).toBe(1008);
    const removed = Date.now() - since;
    expect((await call(b, fresh, 'GET', '/api/whoami')).status).toBe(401);
    console.log(`across brokers: known after ${known} ms, narrowed ${narrowed} ms, rotated ${revoked} ms, removed ${removed} ms`);

    // One audit log: the refusal on B and the admin's changes on A, read from either.
    await call(b, 'not-a-token', 'GET', '/api/stats');
    await until('both brokers\' entries in the audit log', async () => {
      const { entries } = (await call(b, ADMIN, 'GET', '/api/audit')).body as { entries: { action: string; outcome: string }[] };
      const actions = entries.map((e) => `${e.action} ${e.outcome.split(' ')[0]}`);
      return ['http POST /api/credentials ok', 'http PATCH /api/credentials/orders ok', 'http DELETE /api/credentials/orders ok', 'http authenticate UNAUTHORIZED'].every((x) => actions.includes(x));
    });
  });
});
