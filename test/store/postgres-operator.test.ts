// The operator surface across broker processes on one PostgreSQL database (PROTOCOL.md §10): a pause made
// on one broker stops deliveries on the others at once and a resume there starts them again; dead letters
// requeued on one broker are delivered by the broker whose member holds them; /api/consumers, LIST and the
// lag agree on every broker; an event stream on one broker carries what is published on another.
import { describe, expect, test } from 'vitest';
import type { ReceivedMessage, Subscription } from '../../src/client/index.js';
import type { BrokerProcess } from '../helpers/broker-process.js';
import { sseConnect } from '../helpers/http-api.js';
import { lineClient } from '../helpers/line-client.js';
import { pgBrokers } from '../helpers/pg-brokers.js';
import { sleep } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const cluster = pgBrokers();

type Json = Record<string, unknown>;

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller's word for the answer's shape, as with JSON.parse
async function call<T = Json>(node: BrokerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${node.ports.http}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function listLine(node: BrokerProcess, id: string): Promise<string | undefined> {
  const c = await lineClient(node.ports.registration);
  try {
    const lines = [await c.send('LIST')];
    while (lines.at(-1) !== 'END') lines.push(await c.readLine());
    return lines.find((l) => l.startsWith(`${id} `));
  } finally {
    c.destroy();
  }
}

/** Reads a subscription into `got` in the background; `ack` says which to ack. */
function drain(sub: Subscription, got: ReceivedMessage[], ack: (m: ReceivedMessage) => boolean = () => true): void {
  void (async () => {
    for await (const m of sub) {
      got.push(m);
      if (ack(m)) m.ack();
      else m.nack();
    }
  })().catch(() => undefined);
}

describe('the operator surface on brokers sharing a PostgreSQL database', () => {
  test('a pause on one broker stops deliveries on the other as it commits; a resume there brings what was missed', async () => {
    const { nodes } = await cluster.start(2, { EVENTBUS_ACK_TIMEOUT_MS: '2000' });
    const [a, b] = [nodes[0]!, nodes[1]!];
    expect((await call(a, 'PUT', '/api/consumers/workers', { patterns: ['jobs'] })).status).toBe(200);
    const onB = await cluster.client(b);
    const got: ReceivedMessage[] = [];
    drain(await onB.subscribe('jobs', { consumer: 'workers' }), got);
    await until('b to hold the consumer\'s partitions', async () => {
      await call(b, 'POST', '/api/publish', { topic: 'jobs', payload: 'warm-up' });
      await sleep(50);
      return got.length > 0;
    });
    const before = got.length;
    expect((await call(a, 'POST', '/api/consumers/workers/pause')).body).toMatchObject({ paused: true, state: 'paused' });
    for (let i = 0; i < 5; i++) await call(b, 'POST', '/api/publish', { topic: 'jobs', payload: `p${i}` });
    await sleep(500);
    expect(got.length).toBe(before);
    expect((await call(b, 'GET', '/api/consumers/workers')).body).toMatchObject({ paused: true, state: 'paused', lag: 5 });
    expect(await listLine(b, 'workers')).toMatch(/^workers - jobs paused \d+ lag=5 in_flight=0 dead_letters=0$/);
    expect((await call(b, 'POST', '/api/consumers/workers/resume')).body).toMatchObject({ paused: false });
    await until('the five to arrive', () => got.length === before + 5);
    expect(got.slice(before).map((m) => m.payload)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
  });

  test('dead letters requeued on one broker are delivered by the other, and every broker says the same of the consumer', async () => {
    const { nodes } = await cluster.start(2, { EVENTBUS_ACK_TIMEOUT_MS: '2000', EVENTBUS_MAX_DELIVERIES: '1' });
    const [a, b] = [nodes[0]!, nodes[1]!];
    await call(a, 'PUT', '/api/consumers/billing', { patterns: ['pay'] });
    const onB = await cluster.client(b);
    const got: ReceivedMessage[] = [];
    let failing = true;
    drain(await onB.subscribe('pay', { consumer: 'billing' }), got, () => !failing);
    await until('b to hold the consumer\'s partitions', async () => (await call(b, 'GET', '/api/stats')).body['subscriptions'] === 1);
    await sleep(500);
    for (let i = 1; i <= 3; i++) await call(a, 'POST', '/api/publish', { topic: 'pay', payload: `m${i}` });
    await until('three dead letters', async () => (await call(a, 'GET', '/api/consumers/billing')).body['dead_letters'] === 3);
    failing = false;
    const seen = got.length;
    expect((await call(a, 'POST', '/api/consumers/billing/dead-letters/requeue', { seqs: [2, 3] })).body).toEqual({ requeued: 2 });
    await until('the two requeued to reach the member on b', () => got.length >= seen + 2);
    // The broker sends them as first deliveries; the client counts a seq it has seen before as a redelivery.
    expect(got.slice(seen).map((m) => [m.payload, m.delivery])).toEqual([
      ['m2', 2],
      ['m3', 2],
    ]);
    // a learns of b's deliveries in flight from b's heartbeat.
    await until('both brokers to agree', async () => {
      const [onA, onBb] = [(await call(a, 'GET', '/api/consumers/billing')).body, (await call(b, 'GET', '/api/consumers/billing')).body];
      return [onA, onBb].every((c) => c['lag'] === 0 && c['in_flight'] === 0 && c['dead_letters'] === 1) && onA['position'] === onBb['position'];
    });
    expect((await listLine(a, 'billing'))?.split(' ').slice(5)).toEqual(['lag=0', 'in_flight=0', 'dead_letters=1']);
    expect((await listLine(b, 'billing'))?.split(' ').slice(5)).toEqual(['lag=0', 'in_flight=0', 'dead_letters=1']);
    expect((await call<{ dead_letters: Json[] }>(b, 'GET', '/api/consumers/billing/dead-letters')).body.dead_letters.map((d) => d['payload'])).toEqual(['m1']);
  });

  test('an event stream on one broker carries what is published on another, in seq order; /api/stats lists both brokers', async () => {
    const { nodes } = await cluster.start(2);
    const [a, b] = [nodes[0]!, nodes[1]!];
    const stream = await sseConnect(b.ports.http, '/api/subscribe?pattern=feed');
    try {
      for (let i = 0; i < 20; i++) await call(i % 2 === 0 ? a : b, 'POST', '/api/publish', { topic: 'feed', payload: `${i}` });
      const events = await stream.take(20);
      expect(events.map((e) => Number(e.id))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(events.map((e) => (JSON.parse(e.data) as { payload: string }).payload)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}`));
    } finally {
      stream.close();
    }
    await until('both brokers listed', async () => ((await call<{ nodes: Json[] }>(a, 'GET', '/api/stats')).body.nodes.length === 2));
    expect((await call<{ nodes: Json[]; node_id: string }>(a, 'GET', '/api/stats')).body).toMatchObject({ node_id: 'node-0', nodes: [{ node_id: 'node-0' }, { node_id: 'node-1' }] });
  });
});
