// The HTTP API when embedded (bus.httpApi()): served by the application's own http.Server next to its own
// routes, with the token of its settings, event streams ended by bus.close(), and the same API as a fetch
// handler.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { openEventBus } from '../../src/embed/index.js';
import { sseConnect } from '../helpers/http-api.js';
import { testScope } from '../helpers/scope.js';

const scope = testScope();

describe('the embedded HTTP API', () => {
  it('answers /api/ on the application\'s server, leaves its other paths to it, and wants the token', async () => {
    const { dbPath } = await scope.dir();
    const bus = await openEventBus({ dbPath, token: 'k3y' });
    scope.defer(() => bus.close());
    const api = bus.httpApi();
    const server = http.createServer((req, res) => {
      if (!api.handle(req, res)) res.end('my service\n');
    });
    bus.attach(server, { path: '/ws' });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    scope.defer(() => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    });
    const port = (server.address() as AddressInfo).port;
    const base = `http://127.0.0.1:${port}`;
    const auth = { authorization: 'Bearer k3y', 'content-type': 'application/json' };
    expect(await (await fetch(`${base}/orders`)).text()).toBe('my service\n');
    expect((await fetch(`${base}/api/topics`)).status).toBe(401);
    const stream = await sseConnect(port, '/api/subscribe?pattern=orders.*&token=k3y');
    expect(stream.status).toBe(200);
    const published = await fetch(`${base}/api/publish`, { method: 'POST', headers: auth, body: JSON.stringify({ topic: 'orders.created', payload: { id: 1 } }) });
    expect(await published.json()).toEqual({ seq: 1, message_id: null, duplicate: false });
    expect(JSON.parse((await stream.take(1))[0]!.data)).toMatchObject({ seq: 1, payload: '{"id":1}' });
    const topics = await api.fetch(new Request('http://in-process/api/topics', { headers: auth }));
    expect(await topics.json()).toMatchObject([{ topic: 'orders.created', messages: 1, first_seq: 1, last_seq: 1 }]);
    const ended = new Promise<void>((resolve) => stream.socket.once('end', () => resolve()));
    await bus.close();
    await ended;
  });
});
