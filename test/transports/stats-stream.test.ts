// GET /api/stats/stream, what the dashboard draws: the figures at once, then once a second, as the schema of the
// OpenAPI document says; topics and consumers as /api/topics and /api/consumers answer them; the publish and
// delivery rates of the last second; the token; the end when the broker stops. On both stores.
import { describe, expect, test } from 'vitest';
import * as b from '../../src/protocol/http-bodies.js';
import { sseConnect, startApi, type ApiBus, type SseClient, type StoreKind } from '../helpers/http-api.js';
import { testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { wsConnect } from '../helpers/ws-client.js';

const scope = testScope();

async function connect(bus: ApiBus, path: string): Promise<SseClient> {
  const client = await sseConnect(bus.app.ports.http, path);
  scope.defer(() => client.close());
  return client;
}

async function nextStats(client: SseClient): Promise<b.StatsEvent> {
  const [event] = await client.take(1, 3000);
  expect(event!.event).toBe('stats');
  return b.StatsEvent.parse(JSON.parse(event!.data));
}

describe.each(['sqlite', 'postgres'] as StoreKind[])('GET /api/stats/stream on %s', (store) => {
  test('sends the topics, the consumers with their lag and the rates at once, then every second', async () => {
    const bus = await startApi(scope, store);
    await bus.call('PUT', '/api/consumers/billing', { patterns: ['orders.*'] });
    await bus.call('POST', '/api/publish', { messages: [{ topic: 'orders.a', payload: '1' }, { topic: 'orders.a', payload: '2' }, { topic: 'other', payload: '3' }] });
    const client = await connect(bus, '/api/stats/stream');
    expect(client.headers['content-type']).toMatch(/^text\/event-stream/);
    const first = await nextStats(client);
    expect(first).toMatchObject({ head_seq: 3, node_id: expect.any(String) as string, connections: { sse: 1 } });
    expect(first.topics).toEqual((await bus.call<unknown[]>('GET', '/api/topics')).body.map((t) => ({ ...(t as object), published_per_s: expect.any(Number) as number })));
    expect(first.consumers).toEqual((await bus.call('GET', '/api/consumers')).body);
    expect(first.consumers[0]).toMatchObject({ id: 'billing', lag: 2 });

    // A subscriber takes what is published now: both rates show it in the second after.
    const ws = await wsConnect(bus.app.ports.http);
    scope.defer(() => ws.close());
    const sub = await ws.subscribe({ pattern: 'orders.*', consumer: 'billing' });
    await ws.messages(sub, 2);
    await bus.call('POST', '/api/publish', { topic: 'orders.a', payload: '4' });
    const seen: b.StatsEvent[] = [];
    await until('both rates above 0', async () => {
      seen.push(await nextStats(client));
      const last = seen.at(-1)!;
      return last.published_per_s > 0 && last.delivered_per_s > 0;
    });
    expect(seen.at(-1)!.topics.find((t) => t.topic === 'orders.a')).toMatchObject({ messages: 3, last_seq: 4 });
    // Once a second: the event times of two that follow each other.
    const [x, y] = [await nextStats(client), await nextStats(client)];
    expect(y.at - x.at).toBeGreaterThan(500);
    expect(y.at - x.at).toBeLessThan(2500);
  });

  test('wants the token when one is set (an EventSource sends it as ?token=), and ends when the broker stops', async () => {
    const bus = await startApi(scope, store, { EVENTBUS_TOKEN: 't0k' });
    expect((await connect(bus, '/api/stats/stream')).status).toBe(401);
    const client = await connect(bus, '/api/stats/stream?token=t0k');
    expect(client.status).toBe(200);
    await nextStats(client);
    const ended = new Promise<void>((resolve) => client.socket.once('end', () => resolve()));
    await bus.app.stop();
    await ended;
  });
});
