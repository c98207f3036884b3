// The HTTP front-end's plain routes under EVENTBUS_TOKEN and for methods other than GET and HEAD: /metrics
// and /healthz refuse a request without the token (401) and serve one with it (Bearer header or ?token=), the
// WebSocket upgrade is refused the same way, and other methods get 405 with an Allow header. The routes
// themselves (/healthz, /metrics, 404, upgrades elsewhere) are checked in ws.test.ts.
import { describe, expect, it } from 'vitest';
import { testScope } from '../helpers/scope.js';
import { startBus } from '../helpers/ws-bus.js';
import { wsConnect } from '../helpers/ws-client.js';

const scope = testScope();

describe('HTTP front-end', () => {
  it('/metrics and /healthz under a token: 401 without, 200 with the Bearer header or ?token=; the WebSocket too', async () => {
    const { port } = await startBus(scope, { EVENTBUS_TOKEN: 's3cret' });
    const base = `http://127.0.0.1:${port}`;
    for (const path of ['/metrics', '/healthz']) {
      expect((await fetch(`${base}${path}`)).status).toBe(401);
      expect((await fetch(`${base}${path}`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(`${base}${path}?token=wrong`)).status).toBe(401);
      expect((await fetch(`${base}${path}`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
      expect((await fetch(`${base}${path}?token=s3cret`)).status).toBe(200);
    }
    const text = await (await fetch(`${base}/metrics?token=s3cret`)).text();
    expect(text).toContain('eventbus_head_seq');
    expect(text).toContain('eventbus_websocket_connections');
    const refused = await wsConnect(port);
    expect((await refused.next((f) => f.type === 'error')).code).toBe('UNAUTHORIZED');
    expect((await refused.closed()).code).toBe(1008);
  });

  it('/livez and /readyz answer a prober without a token, under a token too, with the status and nothing else', async () => {
    const { port } = await startBus(scope, { EVENTBUS_TOKEN: 's3cret' });
    const base = `http://127.0.0.1:${port}`;
    for (const path of ['/livez', '/readyz']) {
      const res = await fetch(`${base}${path}`);
      expect({ status: res.status, type: res.headers.get('content-type'), body: await res.json() }, path).toEqual({ status: 200, type: 'application/json', body: { status: 'ok' } });
      expect((await fetch(`${base}${path}`, { headers: { authorization: 'Bearer wrong' } })).status, path).toBe(200);
      expect((await fetch(`${base}${path}`, { method: 'HEAD' })).status, path).toBe(200);
    }
    expect((await fetch(`${base}/healthz`)).status).toBe(401);
    expect((await fetch(`${base}/livez/x`)).status).toBe(401);
  });

  it('methods other than GET/HEAD: 405 with an Allow header (RFC 9110 §15.5.6)', async () => {
    const { port } = await startBus(scope);
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { method });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow') ?? '').toMatch(/GET/);
    }
    const head = await fetch(`http://127.0.0.1:${port}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });
});
