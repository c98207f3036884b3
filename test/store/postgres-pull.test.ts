// Pulling over HTTP (PROTOCOL.md §8 fetch, ack) with broker processes on one PostgreSQL database (§10): a pull
// member on broker A and a WebSocket member on broker B split a consumer's messages, each to one member, an
// ordering key in order; a long-poll on A wakes for a publish made on broker C; a consumer's own limits set
// through one broker apply and show on the others.
import { afterEach, describe, expect, test } from 'vitest';
import type { BrokerProcess } from '../helpers/broker-process.js';
import { pgBrokers } from '../helpers/pg-brokers.js';
import { pgQuery } from '../helpers/postgres.js';
import { sleep } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { wsConnect, type MessageFrame, type WsClient } from '../helpers/ws-client.js';

const cluster = pgBrokers();
const sockets: WsClient[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) await s.close();
});

interface Fetched {
  seq: number;
  ordering_key: string | null;
  delivery: number;
}

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller's word for the answer's shape, as with JSON.parse
async function call<T>(node: BrokerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${node.ports.http}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function fetchFrom(node: BrokerProcess, consumer: string, body: { max?: number; wait_ms?: number }): Promise<Fetched[]> {
  const answer = await call<{ messages: Fetched[] }>(node, 'POST', `/api/consumers/${consumer}/fetch`, body);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body.messages;
}

describe('pulling on brokers that share a PostgreSQL database', () => {
  test('a pull member on A and a WebSocket member on B split the messages, each to one member, an ordering key in order', async () => {
    const { nodes, schema } = await cluster.start(2, { EVENTBUS_ACK_TIMEOUT_MS: '5000' });
    const [a, b] = [nodes[0]!, nodes[1]!];
    expect((await call(a, 'PUT', '/api/consumers/split', { patterns: ['jobs.>'] })).status).toBe(200);
    const got: { member: string; seq: number; delivery: number; key: string | null | undefined }[] = [];
    const ws = await wsConnect(b.ports.http, {
      consume: (f) => {
        if (f.type !== 'message') return false;
        const m = f as MessageFrame;
        got.push({ member: 'ws', seq: m.seq, delivery: m.delivery, key: m.ordering_key });
        ws.send({ type: 'ack', subscription: m.subscription, seq: m.seq });
        return true;
      },
    });
    sockets.push(ws);
    await ws.subscribe({ pattern: 'jobs.>', consumer: 'split' });
    let pulling = true;
    const puller = (async () => {
      while (pulling) {
        const batch = await fetchFrom(a, 'split', { max: 16, wait_ms: 300 });
        for (const m of batch) got.push({ member: 'pull', seq: m.seq, delivery: m.delivery, key: m.ordering_key });
        if (batch.length > 0) await call(a, 'POST', '/api/consumers/split/ack', { seqs: batch.map((m) => m.seq) });
      }
    })();
    await until('both brokers hold partitions of the consumer', async () => {
      const rows = await pgQuery<{ n: number }>(`SELECT count(DISTINCT node)::int AS n FROM consumer_partitions WHERE consumer = 'split' AND node IS NOT NULL`, [], schema);
      return rows[0]!.n === 2;
    });
    const seqs: number[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const messages = Array.from({ length: 30 }, (_, i) => {
        const n = batch * 30 + i;
        return { topic: `jobs.j${n % 5}`, payload: String(n), ...(n % 3 === 0 ? { ordering_key: `k${n % 7}` } : {}) };
      });
      const published = await call<{ seqs: number[] }>(b, 'POST', '/api/publish', { messages });
      seqs.push(...published.body.seqs);
    }
    await until('every message received by one member or the other', () => seqs.every((s) => got.some((g) => g.seq === s)), 20_000);
    pulling = false;
    await puller;
    const firsts = got.filter((g) => g.delivery === 1).map((g) => g.seq);
    expect(new Set(firsts).size).toBe(firsts.length);
    expect(got.filter((g) => g.member === 'pull').length).toBeGreaterThan(0);
    expect(got.filter((g) => g.member === 'ws').length).toBeGreaterThan(0);
    for (const key of new Set(got.flatMap((g) => (g.key == null ? [] : [g.key])))) {
      const order = got.filter((g) => g.key === key).map((g) => g.seq);
      expect(order).toEqual([...order].sort((x, y) => x - y));
    }
    await until('the shared position reaches the head', async () => {
      const rows = await pgQuery<{ position: number }>(`SELECT position FROM consumers WHERE id = 'split'`, [], schema);
      return rows[0]!.position === Math.max(...seqs);
    });
  });

  test("a long-poll on A wakes for a publish on C, and a consumer's own limits set on A show and apply on B", async () => {
    const { nodes } = await cluster.start(3);
    const [a, b, c] = [nodes[0]!, nodes[1]!, nodes[2]!];
    expect((await call(a, 'PUT', '/api/consumers/poller', { patterns: ['jobs.*'] })).status).toBe(200);
    await until('B to know the consumer', async () => (await call(b, 'GET', '/api/consumers/poller')).status === 200);
    // Changed once B knows it: B takes the change up from the store, not when it first hears of the consumer.
    const put = await call<Record<string, unknown>>(a, 'PUT', '/api/consumers/poller', { patterns: ['jobs.*'], ack_timeout_ms: 400, max_deliveries: 4 });
    expect(put.body).toMatchObject({ ack_timeout_ms: 400, max_deliveries: 4 });
    await until('B to show the limits', async () => {
      const seen = await call<Record<string, unknown>>(b, 'GET', '/api/consumers/poller');
      return seen.status === 200 && seen.body['ack_timeout_ms'] === 400 && seen.body['max_deliveries'] === 4;
    });
    // A first fetch makes A's member and takes the consumer's partitions.
    expect(await fetchFrom(a, 'poller', {})).toEqual([]);
    const polling = fetchFrom(a, 'poller', { wait_ms: 20_000 });
    await sleep(100);
    const publishedAt = Date.now();
    const published = await call<{ seq: number }>(c, 'POST', '/api/publish', { topic: 'jobs.run', payload: 'from C' });
    const got = await polling;
    expect(got.map((m) => m.seq)).toEqual([published.body.seq]);
    // Far inside wait_ms: woken by C's commit (the speed itself is the benchmark's).
    expect(Date.now() - publishedAt).toBeLessThan(5000);
    // Never acked: back after the consumer's own 400 ms, not the setting's 30 s.
    const [again] = await fetchFrom(a, 'poller', { wait_ms: 10_000 });
    expect(again).toMatchObject({ seq: published.body.seq, delivery: 2 });
    expect((await call(a, 'POST', '/api/consumers/poller/ack', { seqs: [published.body.seq] })).body).toEqual({ acked: 1 });
  });
});
