// Pulling a durable consumer over plain HTTP (PROTOCOL.md §8 fetch, ack, nack, extend) and the limits a consumer
// has of its own (PUT /api/consumers: ack_timeout_ms, max_deliveries, max_in_flight), on either store: a pull
// member shares the consumer with a WebSocket member, in key order; what it fetches and does not ack comes back
// after the consumer's own ack timeout unless extended, and is dead-lettered after its max_deliveries; a
// long-poll wakes for a publish and is answered at once by a broker that stops; a kill -9 between a fetch and
// its ack loses nothing; bad input is refused with the §8 codes and changes nothing; credentials govern it.
import { describe, expect, test } from 'vitest';
import type { TestDb } from '../helpers/broker.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { sleep, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { startBus as startBusIn, type Bus } from '../helpers/ws-bus.js';
import type { MessageFrame } from '../helpers/ws-client.js';

const scope = testScope();
const startBus = (env?: Record<string, string>, db?: TestDb): Promise<Bus> => startBusIn(scope, env, db);

interface Fetched {
  seq: number;
  status: string;
  topic: string;
  payload: string;
  ordering_key: string | null;
  delivery: number;
  ack_deadline: number;
}

interface Answer<T> {
  status: number;
  body: T;
}

/** A JSON request to the broker on `port`. */
async function call<T = Record<string, unknown>>(port: number, method: string, path: string, body?: unknown, token?: string): Promise<Answer<T>> {
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as T };
}

/** The pull routes of one consumer on one broker. */
function pullOf(port: number, consumer: string, token?: string) {
  const base = `/api/consumers/${consumer}`;
  return {
    put: (body: Record<string, unknown>) => call(port, 'PUT', base, body, token),
    get: () => call(port, 'GET', base, undefined, token),
    fetch: async (body: { max?: number; wait_ms?: number } = {}): Promise<Fetched[]> => {
      const answer = await call<{ messages: Fetched[] }>(port, 'POST', `${base}/fetch`, body, token);
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      return answer.body.messages;
    },
    raw: (action: string, body: unknown) => call(port, 'POST', `${base}/${action}`, body, token),
    ack: async (seqs: number[]): Promise<number> => (await call<{ acked: number }>(port, 'POST', `${base}/ack`, { seqs }, token)).body.acked,
  };
}

async function publish(port: number, messages: { topic: string; payload: string; ordering_key?: string }[]): Promise<number[]> {
  const answer = await call<{ seqs: number[] }>(port, 'POST', '/api/publish', { messages });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body.seqs;
}

/** LIST's consumer lines (PROTOCOL.md §4). */
async function listLines(bus: Bus): Promise<string[]> {
  const registration = await bus.registration();
  const lines = [await registration.send('LIST')];
  while (lines.at(-1) !== 'END') lines.push(await registration.readLine());
  return lines;
}

const texts = (n: number, topic = 'jobs.run', from = 0) => Array.from({ length: n }, (_, i) => ({ topic, payload: `job ${from + i}` }));

describe('pulling a consumer over HTTP', () => {
  test('a fetch answers what is ready in seq order with its delivery and ack deadline; ack counts the deliveries it held', async () => {
    const bus = await startBus();
    const pull = pullOf(bus.port, 'worker');
    expect((await pull.put({ patterns: ['jobs.*'] })).status).toBe(200);
    const seqs = await publish(bus.port, texts(5));
    const before = Date.now();
    const got = await pull.fetch({ max: 3 });
    expect(got.map((m) => [m.seq, m.payload, m.delivery])).toEqual([
      [seqs[0], 'job 0', 1],
      [seqs[1], 'job 1', 1],
      [seqs[2], 'job 2', 1],
    ]);
    // The default EVENTBUS_ACK_TIMEOUT_MS (30 s) from when each was sent.
    for (const m of got) expect(m.ack_deadline).toBeGreaterThanOrEqual(before + 30_000);
    expect(await pull.ack([seqs[0]!, seqs[1]!, seqs[0]!, 999])).toBe(2);
    expect(await pull.ack([seqs[0]!])).toBe(0);
    const rest = await pull.fetch({ max: 10 });
    expect(rest.map((m) => m.seq)).toEqual([seqs[3], seqs[4]]);
    expect(await pull.ack([seqs[2]!, seqs[3]!, seqs[4]!])).toBe(3);
    await until('the position to reach the last seq', () => bus.app.broker.consumer('worker')?.position === seqs[4]);
    expect(await pull.fetch()).toEqual([]);
  });

  test("a fetch shows each message's status as the log holds it", async () => {
    const bus = await startBus();
    const [first, second] = [pullOf(bus.port, 'first'), pullOf(bus.port, 'second')];
    for (const c of [first, second]) expect((await c.put({ patterns: ['st.*'] })).status).toBe(200);
    const seqs = await publish(bus.port, texts(2, 'st.x'));
    expect(await first.ack((await first.fetch({ max: 2 })).map((m) => m.seq))).toBe(2);
    expect((await second.fetch({ max: 2 })).map((m) => m.status)).toEqual(['pending', 'pending']);
    expect(await second.ack([seqs[0]!])).toBe(1);
    const statusOf = async (seq: number) => (await call<{ status: string }>(bus.port, 'GET', `/api/messages/${seq}`)).body.status;
    await until('the first message stored as processed', async () => (await statusOf(seqs[0]!)) === 'processed');
    // Read again from the log: the one both consumers acked says so.
    expect((await call(bus.port, 'POST', '/api/consumers/second/replay', { from_seq: seqs[0] })).status).toBe(200);
    const again: Fetched[] = [];
    while (again.length < 2) again.push(...(await second.fetch({ max: 2 - again.length, wait_ms: 5000 })));
    expect(again.map((m) => [m.seq, m.status])).toEqual([
      [seqs[0], 'processed'],
      [seqs[1], 'pending'],
    ]);
  });

  test('a pull member and a WebSocket member of one consumer share its messages, each ordering key in order', async () => {
    const bus = await startBus();
    const pull = pullOf(bus.port, 'shared');
    await pull.put({ patterns: ['orders.*'] });
    const ws = await bus.connect();
    const sub = await ws.subscribe({ pattern: 'orders.*', consumer: 'shared', max_in_flight: 8 });
    const byMember = { pull: [] as Fetched[], ws: [] as MessageFrame[] };
    let pulling = true;
    const puller = (async () => {
      while (pulling) {
        const got = await pull.fetch({ max: 4, wait_ms: 200 });
        byMember.pull.push(...got);
        // Held a moment, so that the member keeps its keys while the other one takes messages.
        await sleep(5);
        if (got.length > 0) expect(await pull.ack(got.map((m) => m.seq))).toBe(got.length);
      }
    })();
    const all: number[] = [];
    // Ten batches, then more until the pull member has had some: on PostgreSQL its share of the partitions
    // comes with a heartbeat, and a loaded machine may deliver the first ten to the WebSocket member before.
    const deadline = Date.now() + 30_000;
    for (let batch = 0; batch < 10 || (byMember.pull.length === 0 && Date.now() < deadline); batch++) {
      if (batch >= 10) await sleep(50);
      const messages = Array.from({ length: 20 }, (_, i) => ({ topic: 'orders.created', payload: `o${batch * 20 + i}`, ordering_key: `k${i % 5}` }));
      all.push(...(await publish(bus.port, messages)));
      // The WebSocket member acks what has come so far.
      for (const m of ws.takeAll((f) => f.type === 'message' && f['subscription'] === sub) as MessageFrame[]) {
        byMember.ws.push(m);
        ws.send({ type: 'ack', subscription: sub, seq: m.seq });
      }
    }
    await until('every message delivered to one member or the other', () => {
      for (const m of ws.takeAll((f) => f.type === 'message' && f['subscription'] === sub) as MessageFrame[]) {
        byMember.ws.push(m);
        ws.send({ type: 'ack', subscription: sub, seq: m.seq });
      }
      const seen = new Set([...byMember.pull.map((m) => m.seq), ...byMember.ws.map((m) => m.seq)]);
      return all.every((s) => seen.has(s));
    });
    pulling = false;
    await puller;
    expect(byMember.pull.length).toBeGreaterThan(0);
    expect(byMember.ws.length).toBeGreaterThan(0);
    // Within each member, each key's messages came in seq order.
    const keyOf = (seq: number): string => `k${all.indexOf(seq) % 5}`;
    for (const seqs of [byMember.pull.map((m) => m.seq), byMember.ws.map((m) => m.seq)]) {
      for (const key of ['k0', 'k1', 'k2', 'k3', 'k4']) {
        const ofKey = seqs.filter((s) => keyOf(s) === key);
        expect(ofKey).toEqual([...ofKey].sort((a, b) => a - b));
      }
    }
    await until('the position to reach the last seq', () => bus.app.broker.consumer('shared')?.position === all.at(-1));
  });

  test("a fetched message never acked comes back after the consumer's own ack timeout with delivery 2; extend keeps it away past that", async () => {
    const bus = await startBus();
    const pull = pullOf(bus.port, 'slow');
    const put = await pull.put({ patterns: ['jobs.*'], ack_timeout_ms: 300 });
    expect(put.body).toMatchObject({ ack_timeout_ms: 300 });
    const [seq] = await publish(bus.port, texts(1));
    const sentAfter = Date.now();
    const [first] = await pull.fetch();
    expect(first).toMatchObject({ seq, delivery: 1 });
    expect(first!.ack_deadline).toBeGreaterThanOrEqual(sentAfter + 300);
    expect(first!.ack_deadline).toBeLessThanOrEqual(Date.now() + 300);
    // The setting is 30 s: back within seconds, it is the consumer's own timeout.
    const [again] = await pull.fetch({ wait_ms: 10_000 });
    expect(again).toMatchObject({ seq, delivery: 2 });

    expect((await pull.raw('extend', { seqs: [seq, 999], ms: 4000 })).body).toEqual({ extended: 1 });
    // Without the extension it would have come back within 300 ms.
    expect(await pull.fetch({ wait_ms: 1500 })).toEqual([]);
    const [third] = await pull.fetch({ wait_ms: 10_000 });
    expect(third).toMatchObject({ seq, delivery: 3 });
    expect(await pull.ack([seq!])).toBe(1);
  });

  test('an extended delivery holds back none of those sent after it: each comes back at its own deadline', async () => {
    const bus = await startBus();
    const pull = pullOf(bus.port, 'mixed');
    await pull.put({ patterns: ['jobs.*'], ack_timeout_ms: 300 });
    const [first, second] = await publish(bus.port, texts(2));
    expect((await pull.fetch({ max: 1 })).map((m) => m.seq)).toEqual([first]);
    expect((await pull.raw('extend', { seqs: [first], ms: 20_000 })).body).toEqual({ extended: 1 });
    expect((await pull.fetch({ max: 1 })).map((m) => m.seq)).toEqual([second]);
    // The second's deadline passes long before the first's, which was sent before it.
    const back = await pull.fetch({ wait_ms: 10_000 });
    expect(back.map((m) => [m.seq, m.delivery])).toEqual([[second, 2]]);
    expect(await pull.ack([first!, second!])).toBe(2);
  });

  test('max_deliveries 2 dead-letters a message where its third attempt would be', async () => {
    const bus = await startBus();
    const pull = pullOf(bus.port, 'fragile');
    await pull.put({ patterns: ['jobs.*'], ack_timeout_ms: 200, max_deliveries: 2 });
    const [seq] = await publish(bus.port, texts(1));
    expect((await pull.fetch()).map((m) => [m.seq, m.delivery])).toEqual([[seq, 1]]);
    expect((await pull.fetch({ wait_ms: 10_000 })).map((m) => [m.seq, m.delivery])).toEqual([[seq, 2]]);
    const dead = await until('the dead letter', async () => {
      const page = await call<{ dead_letters: { seq: number; deliveries: number; reason: string }[] }>(bus.port, 'GET', '/api/consumers/fragile/dead-letters');
      return page.body.dead_letters[0];
    });
    expect(dead).toMatchObject({ seq, deliveries: 2, reason: expect.stringContaining('ack timeout after 2 deliveries') as string });
    expect(await pull.fetch({ wait_ms: 500 })).toEqual([]);
    expect((await pull.get()).body).toMatchObject({ max_deliveries: 2, dead_letters: 1, lag: 0 });
  });

  test("nack sends a delivery again after delay_ms, or without it after the consumer's backoff", async () => {
    const bus = await startBus();
    const pull = pullOf(bus.port, 'retry');
    await pull.put({ patterns: ['jobs.*'], backoff_ms: [400] });
    const [seq] = await publish(bus.port, texts(1));
    await pull.fetch();
    expect((await pull.raw('nack', { seqs: [seq], delay_ms: 0 })).body).toEqual({ nacked: 1 });
    expect((await pull.fetch({ wait_ms: 10_000 })).map((m) => [m.seq, m.delivery])).toEqual([[seq, 2]]);
    const nackedAt = Date.now();
    expect((await pull.raw('nack', { seqs: [seq] })).body).toEqual({ nacked: 1 });
    const [back] = await pull.fetch({ wait_ms: 10_000 });
    expect(back).toMatchObject({ seq, delivery: 3 });
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(390);
    // A seq it no longer holds is counted out.
    expect(await pull.ack([seq!])).toBe(1);
    expect((await pull.raw('nack', { seqs: [seq] })).body).toEqual({ nacked: 0 });
  });

  test("a pull member is held to the consumer's max_in_flight", async () => {
    const bus = await startBus();
    const pull = pullOf(bus.port, 'narrow');
    await pull.put({ patterns: ['jobs.*'], max_in_flight: 3 });
    const seqs = await publish(bus.port, texts(10));
    expect((await pull.fetch({ max: 10 })).map((m) => m.seq)).toEqual(seqs.slice(0, 3));
    expect(await pull.fetch({ max: 10 })).toEqual([]);
    expect(await pull.ack([seqs[0]!])).toBe(1);
    expect((await pull.fetch({ max: 10 })).map((m) => m.seq)).toEqual([seqs[3]]);
  });

  test('a long-poll answers soon after the publish it waited for, and a broker that is stopping answers it at once', async () => {
    const bus = await startBus();
    const pull = pullOf(bus.port, 'poller');
    await pull.put({ patterns: ['jobs.*'] });
    const polling = pull.fetch({ wait_ms: 20_000 });
    await until('the pull member to wait', () => bus.app.broker.consumer('poller')?.subscribers === 1);
    await sleep(50);
    const publishedAt = Date.now();
    const [seq] = await publish(bus.port, texts(1));
    const got = await polling;
    const answeredAt = Date.now();
    expect(got.map((m) => m.seq)).toEqual([seq]);
    // Far inside wait_ms: it woke for the publish (the speed itself is the benchmark's).
    expect(answeredAt - publishedAt).toBeLessThan(5000);

    const waiting = pull.fetch({ wait_ms: 20_000 });
    await sleep(100);
    const stopAt = Date.now();
    const stopped = bus.app.stop();
    expect(await waiting).toEqual([]);
    expect(Date.now() - stopAt).toBeLessThan(5000);
    await stopped;
  });

  test('a long-poll whose client goes away takes nothing with it: what comes next goes to the next fetch at once', async () => {
    const bus = await startBus();
    const pull = pullOf(bus.port, 'leaver');
    await pull.put({ patterns: ['jobs.*'] });
    const gone = new AbortController();
    const cut = fetch(`http://127.0.0.1:${bus.port}/api/consumers/leaver/fetch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ wait_ms: 20_000 }),
      signal: gone.signal,
    }).catch((e: unknown) => e);
    await until('the pull member to wait', () => bus.app.broker.consumer('leaver')?.subscribers === 1);
    gone.abort();
    expect(await cut).toBeInstanceOf(Error);
    await sleep(200);
    const [seq] = await publish(bus.port, texts(1));
    // Had the cut fetch taken it, it would come back only after the 30 s ack timeout.
    const [got] = await pull.fetch({ wait_ms: 10_000 });
    expect(got?.seq).toBe(seq);
    expect(await pull.ack([seq!])).toBe(1);
  });

  test('bad input gets the §8 codes and changes nothing', async () => {
    const bus = await startBus();
    const pull = pullOf(bus.port, 'strict');
    await pull.put({ patterns: ['jobs.*'] });
    const [seq] = await publish(bus.port, texts(1));
    const refusals: [string, unknown, number, string][] = [
      ['fetch', { max: 0 }, 400, 'BAD_ARGS'],
      ['fetch', { max: 5000 }, 400, 'BAD_ARGS'],
      ['fetch', { max: 1.5 }, 400, 'BAD_ARGS'],
      ['fetch', { wait_ms: 30_001 }, 400, 'BAD_ARGS'],
      ['fetch', { wait_ms: -1 }, 400, 'BAD_ARGS'],
      ['ack', {}, 400, 'BAD_ARGS'],
      ['ack', { seqs: [0] }, 400, 'BAD_ARGS'],
      ['ack', { seqs: 'all' }, 400, 'BAD_ARGS'],
      ['nack', { seqs: [seq], delay_ms: -5 }, 400, 'BAD_ARGS'],
      ['extend', { seqs: [seq] }, 400, 'BAD_ARGS'],
      ['extend', { seqs: [seq], ms: 43_200_001 }, 400, 'BAD_ARGS'],
    ];
    for (const [action, body, status, code] of refusals) {
      const answer = await pull.raw(action, body);
      expect([action, body, answer.status, answer.body['code']]).toEqual([action, body, status, code]);
      expect(typeof answer.body['message']).toBe('string');
    }
    const unknown = pullOf(bus.port, 'nobody');
    for (const [action, body] of [['fetch', {}], ['ack', { seqs: [seq] }], ['nack', { seqs: [seq] }], ['extend', { seqs: [seq], ms: 10 }]] as const) {
      const answer = await unknown.raw(action, body);
      expect([action, answer.status, answer.body['code']]).toEqual([action, 404, 'UNKNOWN_CONSUMER']);
    }
    for (const body of [{ patterns: ['jobs.*'], max_in_flight: 0 }, { patterns: ['jobs.*'], max_deliveries: 'ten' }, { patterns: ['jobs.*'], ack_timeout_ms: 43_200_001 }]) {
      const answer = await pull.put(body);
      expect([answer.status, answer.body['code']]).toEqual([400, 'BAD_ARGS']);
    }
    // Seqs it was never delivered are counted out, not acked.
    expect((await pull.raw('ack', { seqs: [seq] })).body).toEqual({ acked: 0 });
    expect((await pull.raw('nack', { seqs: [seq] })).body).toEqual({ nacked: 0 });
    expect((await pull.raw('extend', { seqs: [seq], ms: 10 })).body).toEqual({ extended: 0 });
    // Nothing moved: the message is still the consumer's, delivered for the first time, and its limits are the settings'.
    expect((await pull.get()).body).toMatchObject({ position: 0, lag: 1, in_flight: 0, ack_timeout_ms: 30_000, max_deliveries: 10, max_in_flight: 256 });
    expect((await pull.fetch()).map((m) => [m.seq, m.delivery])).toEqual([[seq, 1]]);
  });

  test('credentials govern the pull routes as they do the other uses of a consumer', async () => {
    const bus = await startBus({ EVENTBUS_TOKEN: 'root' });
    const admin = pullOf(bus.port, 'billing', 'root');
    await admin.put({ patterns: ['orders.*'] });
    const make = async (name: string, grant: Record<string, unknown>): Promise<string> => {
      const made = await call<{ token: string }>(bus.port, 'POST', '/api/credentials', { name, ...grant }, 'root');
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      return made.body.token;
    };
    const worker = pullOf(bus.port, 'billing', await make('worker', { consumers: ['billing'], subscribe: ['orders.#'] }));
    const stranger = pullOf(bus.port, 'billing', await make('stranger', { consumers: ['audit-*'], subscribe: ['#'] }));
    const blinkered = pullOf(bus.port, 'billing', await make('blinkered', { consumers: ['billing'], subscribe: ['orders.eu'] }));
    const [seq] = (await call<{ seqs: number[] }>(bus.port, 'POST', '/api/publish', { messages: [{ topic: 'orders.eu', payload: 'x' }] }, 'root')).body.seqs;
    for (const action of ['fetch', 'ack', 'nack', 'extend']) {
      const answer = await stranger.raw(action, { seqs: [seq], ms: 10 });
      expect([action, answer.status, answer.body['code']]).toEqual([action, 403, 'FORBIDDEN']);
    }
    // May use the consumer, but not read all it matches (orders.* is not covered by orders.eu).
    expect((await blinkered.raw('fetch', {})).body['code']).toBe('FORBIDDEN');
    expect((await worker.fetch()).map((m) => m.seq)).toEqual([seq]);
    expect((await blinkered.raw('extend', { seqs: [seq], ms: 1000 })).body).toEqual({ extended: 1 });
    expect(await worker.ack([seq!])).toBe(1);
    expect((await call(bus.port, 'POST', '/api/consumers/billing/fetch', {})).status).toBe(401);
  });
});

describe('limits per consumer', () => {
  test('PUT sets them, GET, LIST and every consumer answer show them, a restart keeps them, and null gives one back to the setting', async () => {
    const db = await scope.dir();
    const bus = await startBus({}, db);
    const pull = pullOf(bus.port, 'tuned');
    const put = await pull.put({ patterns: ['jobs.*'], ack_timeout_ms: 90_000, max_deliveries: 3, max_in_flight: 16 });
    expect(put.body).toMatchObject({ ack_timeout_ms: 90_000, max_deliveries: 3, max_in_flight: 16 });
    // Absent: kept.
    expect((await pull.put({ patterns: ['jobs.*'] })).body).toMatchObject({ ack_timeout_ms: 90_000, max_deliveries: 3, max_in_flight: 16 });
    const list = await call<{ id: string }[]>(bus.port, 'GET', '/api/consumers');
    expect(list.body.find((c) => c.id === 'tuned')).toMatchObject({ ack_timeout_ms: 90_000, max_deliveries: 3, max_in_flight: 16 });
    expect(await listLines(bus)).toContainEqual(expect.stringMatching(/^tuned - jobs\.\* offline 0 lag=0 in_flight=0 dead_letters=0 ack_timeout_ms=90000 max_deliveries=3 max_in_flight=16$/));
    await bus.app.stop();

    const again = await startBus({}, db);
    const after = pullOf(again.port, 'tuned');
    expect((await after.get()).body).toMatchObject({ ack_timeout_ms: 90_000, max_deliveries: 3, max_in_flight: 16 });
    expect((await after.put({ patterns: ['jobs.*'], ack_timeout_ms: null, max_in_flight: 4 })).body).toMatchObject({ ack_timeout_ms: 30_000, max_deliveries: 3, max_in_flight: 4 });
    expect(await listLines(again)).toContainEqual(expect.stringMatching(/^tuned .* dead_letters=0 max_deliveries=3 max_in_flight=4$/));
  });

  test("a WebSocket subscription takes the consumer's max_in_flight when it asks for none, and no more than it when it asks for more", async () => {
    const bus = await startBus();
    await pullOf(bus.port, 'ws-narrow').put({ patterns: ['jobs.*'], max_in_flight: 2 });
    const ws = await bus.connect();
    const sub = await ws.subscribe({ pattern: 'jobs.*', consumer: 'ws-narrow', max_in_flight: 100 });
    await publish(bus.port, texts(6));
    const first = await ws.messages(sub, 2);
    await sleep(200);
    expect(ws.pending((f) => f.type === 'message')).toEqual([]);
    ws.send({ type: 'ack', subscription: sub, seq: first[0]!.seq });
    expect((await ws.messages(sub, 1)).map((m) => m.seq)).toEqual([first[1]!.seq + 1]);
  });
});

describe('a kill -9 between a fetch and its ack', () => {
  test('loses nothing: the message comes back after the restart, and is gone once acked', async () => {
    const db = await scope.dir();
    const start = async (): Promise<BrokerProcess> => {
      const broker = await startBrokerProcess(db.env);
      scope.defer(async () => {
        broker.signal('SIGKILL');
        await broker.exited().catch(() => undefined);
      });
      return broker;
    };
    const first = await start();
    const pull = pullOf(first.ports.http, 'durable');
    await pull.put({ patterns: ['jobs.*'] });
    const seqs = await publish(first.ports.http, texts(3));
    const got = await pull.fetch({ max: 3 });
    expect(got.map((m) => m.seq)).toEqual(seqs);
    expect(await pull.ack([seqs[0]!])).toBe(1);
    // The ack is written within moments; the kill comes once it is.
    await until('the ack of the first to be stored', async () => (await pull.get()).body['position'] === seqs[0]);
    first.signal('SIGKILL');
    await first.exited();

    const second = await start();
    const after = pullOf(second.ports.http, 'durable');
    const back = await after.fetch({ max: 10, wait_ms: 10_000 });
    expect(back.map((m) => m.seq)).toEqual(seqs.slice(1));
    expect(back.every((m) => m.delivery >= 2)).toBe(true);
    expect(await after.ack(back.map((m) => m.seq))).toBe(2);
    expect(await after.fetch({ wait_ms: 300 })).toEqual([]);
    await until('the position to reach the last seq', async () => (await after.get()).body['position'] === seqs[2]);
  });
});
