// The client SDK (src/client) against a real broker: startApp on 127.0.0.1, ephemeral ports, a temp
// directory per test, real sockets, no mocks. Connection trouble is made for real: the client killing its
// own connection (reconnect()), the broker stopping and starting again on the same file and port, a port
// where something accepts and hangs up at once. Also: a process whose client is done exits by itself, a
// reader too slow to drain the socket is not taken for a dead connection, and two readers waiting on one
// subscription both get a message.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import {
  connect,
  EventBusError,
  type ClientStatus,
  type ConnectOptions,
  type EventBusClient,
  type ReceivedMessage,
  type Subscription,
} from '../../src/client/index.js';
import { silentLogger } from '../../src/logger.js';
import { onPostgres, testAppConfig, type TestDb } from '../helpers/broker.js';
import { query, sleep, testScope } from '../helpers/scope.js';
import { restartablePort } from '../helpers/ports.js';
import { until } from '../helpers/until.js';

const scope = testScope();

// ---------------------------------------------------------------------------------------------- helpers

/** The app on `db`; its HTTP port one it can be started on again (test/helpers/ports.ts) unless `env` names one. */
async function startBroker(db: TestDb, env: Record<string, string> = {}): Promise<App> {
  const started = await startApp(testAppConfig(db, { EVENTBUS_HTTP_PORT: String(await restartablePort()), ...env }), silentLogger);
  if (started.isErr()) throw new Error(`broker did not start: ${started.error.message}`);
  const app = started.value;
  scope.defer(() => app.stop());
  return app;
}

/** A broker on a fresh database; `db` for SQL checks and restarts. */
async function freshBroker(env: Record<string, string> = {}): Promise<{ app: App; db: TestDb; url: string; port: number }> {
  const dir = await scope.dir();
  const app = await startBroker(dir, env);
  return { app, db: dir, url: wsUrl(app.ports.http), port: app.ports.http };
}

const wsUrl = (port: number): string => `ws://127.0.0.1:${port}/ws`;

interface Client {
  readonly c: EventBusClient;
  readonly statuses: ClientStatus[];
}

/** Connects with short reconnect intervals (tests wait for reconnects) and closes the client after the test. */
async function open(url: string, options: ConnectOptions = {}): Promise<Client> {
  const statuses: ClientStatus[] = [];
  const c = await connect(url, {
    reconnectIntervalMs: 20,
    maxReconnectIntervalMs: 200,
    maxRetries: 100,
    requestTimeoutMs: 20_000,
    ...options,
    onStatus: (s) => {
      statuses.push(s);
      options.onStatus?.(s);
    },
  });
  scope.defer(() => c.close());
  return { c, statuses };
}

/** A client that answers every request on `topic` with `answer(payload)`, from the background. */
async function answering(url: string, topic: string, answer: (payload: string) => string): Promise<EventBusClient> {
  const { c } = await open(url);
  const requests = await c.subscribe(topic);
  void (async () => {
    for await (const m of requests) await c.reply(m, answer(m.payload));
  })().catch(() => undefined);
  return c;
}

/** Reads a subscription in the background; acks every message unless told not to. */
function collect(sub: Subscription, options: { ack?: boolean; onMessage?: (m: ReceivedMessage, count: number) => void } = {}) {
  const messages: ReceivedMessage[] = [];
  const seqs = new Set<number>();
  const state: { error: unknown; ended: boolean } = { error: undefined, ended: false };
  const done = (async () => {
    try {
      for await (const m of sub) {
        messages.push(m);
        seqs.add(m.seq);
        if (options.ack !== false) m.ack();
        options.onMessage?.(m, messages.length);
      }
    } catch (e) {
      state.error = e;
    } finally {
      state.ended = true;
    }
  })();
  return { messages, seqs, state, done };
}

/** Publishes `n` messages, `window` at a time; resolves with their seqs in the order of `payloadOf(i)`. */
async function publishMany(c: EventBusClient, topic: string, n: number, payloadOf: (i: number) => string, window = 100): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < n; i += window) {
    const chunk = Array.from({ length: Math.min(window, n - i) }, (_, k) => c.publish(topic, payloadOf(i + k)));
    seqs.push(...(await Promise.all(chunk)));
  }
  return seqs;
}

/** The rejection of `p` as an EventBusError (fails the test if it resolves or rejects with anything else). */
async function rejection(p: Promise<unknown>): Promise<EventBusError> {
  const outcome = await p.then(
    (value) => ({ resolved: true as const, value }),
    (error: unknown) => ({ resolved: false as const, error }),
  );
  if (outcome.resolved) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)?.slice(0, 200)}`);
  expect(outcome.error).toBeInstanceOf(EventBusError);
  return outcome.error as EventBusError;
}

/** 'pending' if `p` has not settled within `withinMs`, else how it settled (the rejection's code and message). */
async function stateOf(p: Promise<unknown>, withinMs = 20): Promise<string> {
  return Promise.race([
    p.then(
      (v) => `resolved ${JSON.stringify(v)}`,
      (e: unknown) => `rejected ${e instanceof EventBusError ? `${e.code}: ${e.message}` : String(e)}`,
    ),
    new Promise<string>((res) => setTimeout(() => res('pending'), withinMs)),
  ]);
}

/** Every seq seen more than once must be a redelivery the caller is told about: delivery > 1 on the repeat. */
function unannouncedRepeats(messages: readonly ReceivedMessage[]): { seq: number; delivery: number }[] {
  const seen = new Set<number>();
  const bad: { seq: number; delivery: number }[] = [];
  for (const m of messages) {
    if (seen.has(m.seq) && m.delivery <= 1) bad.push({ seq: m.seq, delivery: m.delivery });
    seen.add(m.seq);
  }
  return bad;
}

const missing = (expected: readonly number[], got: ReadonlySet<number>): number[] => expected.filter((s) => !got.has(s));

/** Something listening on `port` that accepts each connection and drops it at once; counts the attempts. */
async function hangUpServer(port: number): Promise<{ attempts: () => number; close: () => Promise<void> }> {
  let attempts = 0;
  const server = net.createServer((socket) => {
    attempts++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  scope.defer(close);
  return { attempts: () => attempts, close };
}

// ------------------------------------------------------------------------------------------------ tests

describe('publish and subscribe', () => {
  it('delivers what is published, with seq, topic, payload, metadata and delivery 1; publishBatch stores all in order', async () => {
    const { url, db } = await freshBroker();
    const { c } = await open(url);
    const sub = await c.subscribe('orders.*');
    const seq1 = await c.publish('orders.created', 'hello', { metadata: { tenant: 'acme' } });
    const seqOther = await c.publish('payments.created', 'not for orders.*');
    const seq2 = await c.publish('orders.updated', { n: 1, tags: ['a'] });
    const batch = await c.publishBatch([
      { topic: 'orders.created', payload: 'b1' },
      { topic: 'orders.created', payload: 'b2', messageId: 'batch-2' },
      { topic: 'orders.deleted', payload: 'b3' },
    ]);
    expect(seq1).toBeGreaterThan(0);
    expect(seqOther).toBe(seq1 + 1);
    expect(seq2).toBe(seq1 + 2);
    expect(batch).toEqual([seq2 + 1, seq2 + 2, seq2 + 3]);

    const got: ReceivedMessage[] = [];
    for (let i = 0; i < 5; i++) {
      const m = await sub.next(10_000);
      expect(m, `message ${i + 1} of 5`).toBeDefined();
      got.push(m!);
    }
    expect(got.map((m) => m.seq)).toEqual([seq1, seq2, ...batch]);
    expect(got.map((m) => m.topic)).toEqual(['orders.created', 'orders.updated', 'orders.created', 'orders.created', 'orders.deleted']);
    expect(got.map((m) => m.payload)).toEqual(['hello', '{"n":1,"tags":["a"]}', 'b1', 'b2', 'b3']);
    expect(got.every((m) => m.delivery === 1)).toBe(true);
    expect(got[0]!.metadata['tenant']).toBe('acme');
    expect(typeof got[0]!.metadata.timestamp).toBe('number');
    expect(got[0]!.messageId).toMatch(/\S/);
    expect(got[1]!.json()).toEqual({ n: 1, tags: ['a'] });
    expect(got[1]!.metadata.content_type).toBe('application/json');
    expect(got[3]!.messageId).toBe('batch-2');
    // payments.created was not delivered to orders.*
    expect(await sub.next(100)).toBeUndefined();

    const rows = query<{ seq: number; topic: string; payload: string }>(db, 'SELECT seq, topic, payload FROM messages ORDER BY seq');
    expect(rows.map((r) => r.seq)).toEqual([seq1, seqOther, seq2, ...batch]);
    expect(rows.map((r) => r.payload)).toEqual(['hello', 'not for orders.*', '{"n":1,"tags":["a"]}', 'b1', 'b2', 'b3']);
  });

  it('a publish without messageId gets a time-ordered UUID (v7), so ids grow along seq and the unique index at its end', async () => {
    const { url, db } = await freshBroker();
    const { c } = await open(url);
    for (let i = 0; i < 40; i++) await c.publish('ids.t', `m${i}`);
    await c.publishBatch(Array.from({ length: 40 }, (_, i) => ({ topic: 'ids.t', payload: `b${i}` })));
    const ids = query<{ message_id: string }>(db, "SELECT message_id FROM messages WHERE topic = 'ids.t' ORDER BY seq").map((r) => r.message_id);
    expect(ids).toHaveLength(80);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(80);
    expect([...ids].sort()).toEqual(ids);
  });

  it('a repeated messageId is stored once and answers with the original seq', async () => {
    const { url, db } = await freshBroker();
    const { c } = await open(url);
    const a = await c.publish('dedup.t', 'first', { messageId: 'same-id' });
    const b = await c.publish('dedup.t', 'second', { messageId: 'same-id' });
    expect(b).toBe(a);
    expect(query<{ n: number }>(db, `SELECT count(*) AS n FROM messages WHERE message_id = 'same-id'`)[0]!.n).toBe(1);
  });

  it('fromSeq replays the log, then continues live while others publish: every seq once, in order, no gap', async () => {
    const { url } = await freshBroker();
    const { c: publisher } = await open(url);
    const { c: reader } = await open(url);
    const before = await publishMany(publisher, 'replay.t', 600, (i) => `old-${i}`);
    const from = before[199]!;
    // Publishing goes on while the subscription replays and switches to live.
    const concurrent = publishMany(publisher, 'replay.t', 1400, (i) => `new-${i}`, 20);
    const sub = await reader.subscribe('replay.t', { fromSeq: from });
    const got = collect(sub);
    const after = await concurrent;
    const expected = [...before, ...after].filter((s) => s >= from).sort((x, y) => x - y);
    await until('the last published seq', () => got.seqs.has(expected.at(-1)!));
    expect(got.state.error).toBeUndefined();
    expect(got.messages.map((m) => m.seq)).toEqual(expected);
    expect(got.messages.every((m) => m.delivery === 1)).toBe(true);
    expect(got.messages[0]!.payload).toBe('old-199');
  });

  it('fromTime starts at the first message stored at or after that time, then continues live', async () => {
    const { url } = await freshBroker();
    const { c } = await open(url);
    const old = await publishMany(c, 'time.t', 50, (i) => `old-${i}`);
    // created_at is ms; make sure the next messages are stored strictly later than the old ones.
    const lastOld = Date.now();
    await until('the clock to move', () => Date.now() >= lastOld + 3);
    const from = Date.now();
    const recent = await publishMany(c, 'time.t', 30, (i) => `recent-${i}`);
    const sub = await c.subscribe('time.t', { fromTime: from });
    const live = await publishMany(c, 'time.t', 20, (i) => `live-${i}`);
    const got = collect(sub);
    await until('the last live message', () => got.seqs.has(live.at(-1)!));
    expect(got.messages.map((m) => m.seq)).toEqual([...recent, ...live]);
    expect(got.messages.some((m) => old.includes(m.seq))).toBe(false);
    expect(got.messages[0]!.payload).toBe('recent-0');
  });

  it('subscription.close() stops delivery: the iteration ends and the broker drops the subscription', async () => {
    const { app, url } = await freshBroker();
    const { c } = await open(url);
    const closing = await c.subscribe('close.t');
    const other = await c.subscribe('close.t');
    const otherGot = collect(other);
    await until('two subscriptions on the broker', () => app.broker.stats().subscriptions === 2);
    const first = await c.publish('close.t', 'one');
    expect((await closing.next(10_000))?.seq).toBe(first);

    await closing.close();
    await until('the closed subscription to leave the broker', () => app.broker.stats().subscriptions === 1);
    const later = await publishMany(c, 'close.t', 5, (i) => `later-${i}`);
    await until('the other subscription to get the later messages', () => otherGot.seqs.has(later.at(-1)!));
    expect(await closing.next(50)).toBeUndefined();
    // A for-await over the closed subscription ends at once.
    const seen: number[] = [];
    for await (const m of closing) seen.push(m.seq);
    expect(seen).toEqual([]);
    expect(otherGot.messages.map((m) => m.seq)).toEqual([first, ...later]);
  });
});

// The store plays no part: on SQLite only (vitest.config.ts).
describe.skipIf(onPostgres)('errors from the broker', () => {
  it('BAD_TOPIC on publish and publishBatch, BAD_PATTERN on subscribe, as EventBusError with the code; the client goes on working', async () => {
    const { url, db } = await freshBroker();
    const { c } = await open(url);
    const badTopic = await rejection(c.publish('bad topic', 'x'));
    expect(badTopic.code).toBe('BAD_TOPIC');
    expect(badTopic.message).not.toBe('');
    expect((await rejection(c.publish('a..b', 'x'))).code).toBe('BAD_TOPIC');
    const batch = await rejection(
      c.publishBatch([
        { topic: 'good.topic', payload: 'would be stored' },
        { topic: 'bad/topic', payload: 'x' },
      ]),
    );
    expect(batch.code).toBe('BAD_TOPIC');
    expect((await rejection(c.subscribe('a.#.b'))).code).toBe('BAD_PATTERN');
    expect((await rejection(c.subscribe('chat.'))).code).toBe('BAD_PATTERN');
    // Nothing of the failed batch was stored, and the connection still serves.
    expect(query<{ n: number }>(db, 'SELECT count(*) AS n FROM messages')[0]!.n).toBe(0);
    const sub = await c.subscribe('good.*');
    const seq = await c.publish('good.topic', 'fine');
    expect((await sub.next(10_000))?.seq).toBe(seq);
  });
});

describe('durable consumers', () => {
  it('a filter on subscribe: only matching messages arrive, and a durable consumer moves past the others', async () => {
    const { url } = await freshBroker();
    const { c } = await open(url);
    const sub = await c.subscribe('pay.*', { consumer: 'big-payments', filter: { 'payload.amount': { $gte: 100 } } });
    const small = await c.publish('pay.in', { amount: 5 });
    const big = await c.publish('pay.in', { amount: 250 });
    const other = await c.publish('pay.out', { amount: 100 });
    const first = await sub.next(10_000);
    const second = await sub.next(10_000);
    expect([first?.seq, second?.seq]).toEqual([big, other]);
    expect(first?.json()).toEqual({ amount: 250 });
    first!.ack();
    second!.ack();
    expect(await sub.next(200)).toBeUndefined();
    await sub.close();
    // The filtered-out message counts as done: a resumed subscription does not get it either.
    const again = await c.subscribe('pay.*', { consumer: 'big-payments', filter: { 'payload.amount': { $gte: 100 } } });
    expect(await again.next(300)).toBeUndefined();
    expect(small).toBeLessThan(big);
  });

  it("backoffMs on subscribe is set on the consumer, and a nack() without a delay waits it before the redelivery", async () => {
    const { url, app } = await freshBroker();
    const { c } = await open(url);
    const sub = await c.subscribe('bo.t', { consumer: 'backing-off', backoffMs: [300] });
    expect(app.broker.consumer('backing-off')?.backoffMs).toEqual([300]);
    const seq = await c.publish('bo.t', 'x');
    const first = await sub.next(10_000);
    expect(first?.seq).toBe(seq);
    const nackedAt = Date.now();
    first!.nack();
    const again = await sub.next(10_000);
    expect(again && [again.seq, again.delivery]).toEqual([seq, 2]);
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(300 - 2);
    again!.ack();
  });

  it('a durable consumer resumes after its last ack on a new subscribe', async () => {
    const { url } = await freshBroker();
    const { c } = await open(url);
    const sub = await c.subscribe('dur.t', { consumer: 'resumer' });
    const seqs = await publishMany(c, 'dur.t', 10, (i) => `m-${i}`);
    for (let i = 0; i < 4; i++) {
      const m = await sub.next(10_000);
      expect(m?.seq).toBe(seqs[i]);
      m!.ack();
    }
    await sub.close();
    const again = await c.subscribe('dur.t', { consumer: 'resumer' });
    const got = collect(again);
    await until('the rest of the messages', () => got.seqs.has(seqs.at(-1)!));
    // The ones delivered but never acked (seqs[4..]) may come back as redeliveries; nothing acked does.
    expect([...got.seqs].sort((a, b) => a - b)).toEqual(seqs.slice(4));
    expect(unannouncedRepeats(got.messages)).toEqual([]);
  });

  it('ackAll acks a page of messages with one frame: a new subscribe resumes after the page, nothing acked comes back', async () => {
    const { url } = await freshBroker();
    const { c } = await open(url);
    const sub = await c.subscribe('page.t', { consumer: 'pager', maxInFlight: 100 });
    const seqs = await publishMany(c, 'page.t', 60, (i) => `m-${i}`);
    const page = [];
    for (let i = 0; i < 50; i++) page.push((await sub.next(10_000))!);
    expect(page.map((m) => m.seq)).toEqual(seqs.slice(0, 50));
    sub.ackAll(page);
    await sub.close();
    const again = await c.subscribe('page.t', { consumer: 'pager' });
    const got = collect(again);
    await until('the rest of the messages', () => got.seqs.has(seqs.at(-1)!));
    expect([...got.seqs].sort((a, b) => a - b)).toEqual(seqs.slice(50));
  });

  it('nack(delay) redelivers the message after the delay with delivery 2', async () => {
    const { url, db } = await freshBroker();
    const { c } = await open(url);
    const sub = await c.subscribe('nack.t', { consumer: 'nacker' });
    const seq = await c.publish('nack.t', 'try again');
    const first = await sub.next(10_000);
    expect(first?.seq).toBe(seq);
    expect(first?.delivery).toBe(1);
    const nackedAt = Date.now();
    first!.nack(300);
    const second = await sub.next(10_000);
    const waited = Date.now() - nackedAt;
    expect(second?.seq).toBe(seq);
    expect(second?.delivery).toBe(2);
    expect(waited).toBeGreaterThanOrEqual(250);
    second!.ack();
    await until(
      'the ack to be recorded',
      () => query(db, `SELECT 1 FROM processed_messages WHERE consumer = 'nacker' AND seq = ?`, seq).length === 1,
    );
    expect(query<{ delivery: number }>(db, `SELECT delivery FROM processed_messages WHERE consumer = 'nacker' AND seq = ?`, seq)[0]!.delivery).toBe(2);
  });

  it('maxInFlight: no more unacked deliveries than allowed; an ack lets the next one through', async () => {
    const { app, url } = await freshBroker();
    const { c } = await open(url);
    const sub = await c.subscribe('mif.t', { consumer: 'windowed', maxInFlight: 3 });
    const seqs = await c.publishBatch(Array.from({ length: 10 }, (_, i) => ({ topic: 'mif.t', payload: `m-${i}` })));
    const got: ReceivedMessage[] = [];
    for (let i = 0; i < 3; i++) got.push((await sub.next(10_000))!);
    expect(got.map((m) => m.seq)).toEqual(seqs.slice(0, 3));
    expect(await sub.next(400)).toBeUndefined();
    expect(app.broker.consumer('windowed')?.inFlight).toBe(3);
    got[0]!.ack();
    const fourth = await sub.next(10_000);
    expect(fourth?.seq).toBe(seqs[3]);
    expect(await sub.next(300)).toBeUndefined();
    // Acking everything drains the rest, still never more than 3 at a time.
    const rest = collect(sub, {
      onMessage: () => expect(app.broker.consumer('windowed')!.inFlight).toBeLessThanOrEqual(3),
    });
    for (const m of [...got.slice(1), fourth!]) m.ack();
    await until('the last message', () => rest.seqs.has(seqs.at(-1)!));
    expect(rest.messages.map((m) => m.seq)).toEqual(seqs.slice(4));
  });

  it('two clients with the same consumer and group split the messages: each to exactly one of them', async () => {
    const { url } = await freshBroker();
    const { c: a } = await open(url);
    const { c: b } = await open(url);
    const { c: publisher } = await open(url);
    const gotA = collect(await a.subscribe('grp.t', { consumer: 'workers', group: 'g1' }));
    const gotB = collect(await b.subscribe('grp.t', { consumer: 'workers', group: 'g1' }));
    const seqs = await publishMany(publisher, 'grp.t', 300, (i) => `job-${i}`, 30);
    await until('every job to reach a worker', () => seqs.every((s) => gotA.seqs.has(s) || gotB.seqs.has(s)));
    const both = [...gotA.seqs].filter((s) => gotB.seqs.has(s));
    expect(both).toEqual([]);
    expect(gotA.messages.length).toBe(gotA.seqs.size);
    expect(gotB.messages.length).toBe(gotB.seqs.size);
    expect(gotA.seqs.size + gotB.seqs.size).toBe(300);
    expect(gotA.seqs.size).toBeGreaterThan(0);
    expect(gotB.seqs.size).toBeGreaterThan(0);
  });
});

// The store plays no part: on SQLite only (vitest.config.ts).
describe.skipIf(onPostgres)('request / reply', () => {
  it('request() resolves with the reply published by another client', async () => {
    const { url } = await freshBroker();
    const server = await answering(url, 'rpc.echo', (payload) => `echo:${payload}`);
    const { c: caller } = await open(url);
    const reply = await caller.request('rpc.echo', 'ping', { timeoutMs: 10_000 });
    expect(reply.payload).toBe('echo:ping');
    // Concurrent requests each get their own answer.
    const many = await Promise.all(Array.from({ length: 5 }, (_, i) => caller.request('rpc.echo', `p${i}`, { timeoutMs: 10_000 })));
    expect(many.map((r) => r.payload)).toEqual(['echo:p0', 'echo:p1', 'echo:p2', 'echo:p3', 'echo:p4']);
    // reply() to a message that is not a request
    const plain = await server.subscribe('plain.t');
    await caller.publish('plain.t', 'no reply_to');
    const m = await plain.next(10_000);
    expect((await rejection(server.reply(m!, 'x'))).code).toBe('BAD_ARGS');
  });

  it('a request nobody answers rejects with UNAVAILABLE after timeoutMs', async () => {
    const { url } = await freshBroker();
    const { c } = await open(url);
    const started = Date.now();
    const e = await rejection(c.request('rpc.nobody', 'hello?', { timeoutMs: 300 }));
    const took = Date.now() - started;
    expect(e.code).toBe('UNAVAILABLE');
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(5000);
  });
});

// The store plays no part: on SQLite only (vitest.config.ts).
describe.skipIf(onPostgres)('auth', () => {
  it('a wrong or missing token makes connect reject with UNAUTHORIZED; the right one works', async () => {
    const { url } = await freshBroker({ EVENTBUS_TOKEN: 'open-sesame' });
    // Whatever happens, leave no client running; check both refusals even if the first check fails.
    const wrong = connect(url, { token: 'wrong', maxRetries: 0, reconnectIntervalMs: 20 });
    void wrong.then((c) => c.close(), () => undefined);
    const none = connect(url, { maxRetries: 0, reconnectIntervalMs: 20 });
    void none.then((c) => c.close(), () => undefined);
    expect.soft(await stateOf(wrong, 5000)).toMatch(/^rejected UNAUTHORIZED: /);
    expect.soft(await stateOf(none, 5000)).toMatch(/^rejected UNAUTHORIZED: /);

    const { c } = await open(url, { token: 'open-sesame' });
    const sub = await c.subscribe('auth.t');
    const seq = await c.publish('auth.t', 'let in');
    expect((await sub.next(10_000))?.payload).toBe('let in');
    expect(seq).toBeGreaterThan(0);
  });

  it('a client whose token is refused gives up instead of retrying', async () => {
    const { url } = await freshBroker({ EVENTBUS_TOKEN: 'open-sesame' });
    const statuses: ClientStatus[] = [];
    const client = connect(url, { token: 'wrong', onStatus: (s) => statuses.push(s) });
    const c = await client.catch(() => undefined);
    if (c !== undefined) scope.defer(() => c.close());
    await until('the client to give up', () => statuses.includes('closed'));
    expect(statuses).not.toContain('reconnected');
  });
});

describe('reconnect and resume', () => {
  for (const durable of [true, false]) {
    const kind = durable ? 'durable' : 'non-durable';
    it(`${kind} subscription: 5000 messages published while the client drops its connection several times; every seq arrives, repeats only with delivery > 1`, async () => {
      const { url, db } = await freshBroker();
      const { c, statuses } = await open(url);
      const topic = `stress.${durable ? 'durable' : 'plain'}`;
      const sub = await c.subscribe(topic, durable ? { consumer: 'stress-consumer' } : {});
      const triggers = [500, 1500, 2500, 3500];
      let dropped = 0;
      const got = collect(sub, {
        onMessage: (_m, count) => {
          if (dropped < triggers.length && count >= triggers[dropped]!) {
            dropped++;
            c.reconnect();
          }
        },
      });
      // The same client publishes: its publishes are cut off by the drops too, and must be neither lost nor doubled.
      const seqs = await publishMany(c, topic, 5000, (i) => `p-${i}`, 200);
      await until('every seq to arrive', () => got.seqs.size >= seqs.length && missing(seqs, got.seqs).length === 0, 25_000);

      expect(got.state.error).toBeUndefined();
      expect(new Set(seqs).size).toBe(5000);
      expect(dropped).toBe(triggers.length);
      await until('the client to report its reconnects', () => statuses.filter((s) => s === 'reconnected').length >= triggers.length);
      expect(missing(seqs, got.seqs)).toEqual([]);
      expect([...got.seqs].filter((s) => !seqs.includes(s))).toEqual([]);
      expect(unannouncedRepeats(got.messages)).toEqual([]);
      if (!durable) {
        // An ephemeral subscription resumes right after the last seq it received: strictly in order, no repeats.
        const order = got.messages.map((m) => m.seq);
        expect(order).toEqual([...order].sort((a, b) => a - b));
        expect(order.length).toBe(5000);
      }
      // Each publish stored exactly once, however often it was resent.
      const stored = query<{ n: number; payloads: number }>(db, 'SELECT count(*) AS n, count(DISTINCT payload) AS payloads FROM messages WHERE topic = ?', topic)[0]!;
      expect(stored).toEqual({ n: 5000, payloads: 5000 });
    });
  }

  it('a second drop while a subscription is being resumed does not subscribe it twice', async () => {
    const { app, url } = await freshBroker();
    let drops = 0;
    let client: EventBusClient | undefined;
    // Drop the connection again the moment it is back: the resubscribe frames were just sent, not answered.
    const { c, statuses } = await open(url, {
      onStatus: (s) => {
        if (s === 'reconnected' && drops === 1) {
          drops++;
          client!.reconnect();
        }
      },
    });
    client = c;
    const plain = collect(await c.subscribe('twice.t'));
    const durable = collect(await c.subscribe('twice.d', { consumer: 'twice-consumer' }));
    drops = 1;
    c.reconnect();
    await until('two reconnects', () => statuses.filter((s) => s === 'reconnected').length >= 2);
    const seqs = await publishMany(c, 'twice.t', 50, (i) => `m-${i}`);
    const marker = await c.publish('twice.t', 'marker');
    const dseq = await c.publish('twice.d', 'durable one');
    await until('the messages after the reconnects', () => plain.seqs.has(marker) && durable.seqs.has(dseq));
    // Each message once (delivery 1 every time, so a repeat would be one the caller is not told about).
    expect.soft(plain.messages.map((m) => m.seq)).toEqual([...seqs, marker]);
    expect.soft(app.broker.consumer('twice-consumer')?.subscribers).toBe(1);
    expect.soft(app.broker.stats().subscriptions).toBe(2);
  });

  /**
   * A durable reader and a publisher, both running while the broker stops mid-stream and a new one starts on
   * the same file and http port. 1500 publishes run across the stop; 200 more are issued while it is down.
   */
  async function restartMidStream() {
    const dir = await scope.dir();
    const first = await startBroker(dir);
    const port = first.ports.http;
    const url = wsUrl(port);
    const { c: reader, statuses: readerStatuses } = await open(url);
    const { c: publisher, statuses: publisherStatuses } = await open(url);
    const topic = 'restart.t';
    const got = collect(await reader.subscribe(topic, { consumer: 'survivor' }));

    // Publishing runs on while the broker goes away and comes back.
    const before = publishMany(publisher, topic, 1500, (i) => `before-${i}`, 50);
    await until('the reader to be mid-stream', () => got.messages.length >= 300);
    await first.stop();
    const seenBeforeStop = got.messages.length;
    await until('both clients to see the broker gone', () => !reader.isConnected && !publisher.isConnected);
    // These are issued while nothing listens: they must wait, not fail and not vanish.
    const whileDown = Array.from({ length: 200 }, (_, i) => publisher.publish(topic, `down-${i}`));
    const downState = await stateOf(whileDown[0]!);

    await startBroker(dir, { EVENTBUS_HTTP_PORT: String(port) });
    const seqs = [...(await before), ...(await Promise.all(whileDown))];
    await until('every message to reach the reader', () => missing(seqs, got.seqs).length === 0, 25_000);
    return { db: dir, topic, got, seqs, seenBeforeStop, downState, readerStatuses, publisherStatuses };
  }

  it('durable subscription across a broker restart on the same file and port: the client reconnects by itself, nothing is lost, publishes made while down are stored exactly once', async () => {
    const { db, topic, got, seqs, downState, readerStatuses, publisherStatuses } = await restartMidStream();
    expect(downState).toBe('pending');
    expect(got.state.error).toBeUndefined();
    expect(readerStatuses).toContain('reconnected');
    expect(publisherStatuses).toContain('reconnected');
    expect(new Set(seqs).size).toBe(1700);
    expect(missing(seqs, got.seqs)).toEqual([]);
    // Every publish is in the log exactly once: none lost, none stored twice by a resend.
    const dupes = query<{ payload: string; n: number }>(db, 'SELECT payload, count(*) AS n FROM messages WHERE topic = ? GROUP BY payload HAVING count(*) > 1', topic);
    expect(dupes).toEqual([]);
    expect(query<{ n: number }>(db, 'SELECT count(*) AS n FROM messages WHERE topic = ?', topic)[0]!.n).toBe(1700);
    const downRows = query<{ seq: number }>(db, `SELECT seq FROM messages WHERE payload LIKE 'down-%' ORDER BY seq`);
    expect(downRows.map((r) => r.seq)).toEqual(seqs.slice(1500).sort((a, b) => a - b));
  });

  it('durable subscription across a broker restart: a message the caller already saw comes again only with delivery > 1', async () => {
    const { got, seenBeforeStop } = await restartMidStream();
    expect(got.state.error).toBeUndefined();
    // The caller saw (and acked) the first `seenBeforeStop` messages on the old broker.
    const seenEarlier = new Set(got.messages.slice(0, seenBeforeStop).map((m) => m.seq));
    const unannounced = got.messages.slice(seenBeforeStop).filter((m) => seenEarlier.has(m.seq) && m.delivery <= 1).map((m) => m.seq);
    expect(unannounced).toEqual([]);
    expect(unannouncedRepeats(got.messages)).toEqual([]);
  });
});

// The store plays no part: on SQLite only (vitest.config.ts).
describe.skipIf(onPostgres)('giving up and bounds', () => {
  it('connect rejects with UNAVAILABLE when nothing listens, after maxRetries', async () => {
    // A port that was just free: bind and release one.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const e = await rejection(connect(wsUrl(port), { maxRetries: 2, reconnectIntervalMs: 10 }));
    expect(e.code).toBe('UNAVAILABLE');
  });

  it('maxRetries exhausted: a pending publish rejects with UNAVAILABLE and the subscription iterator throws', async () => {
    const { app, url } = await freshBroker();
    const { c, statuses } = await open(url, { maxRetries: 3, reconnectIntervalMs: 100, maxReconnectIntervalMs: 400 });
    const sub = await c.subscribe('gone.t');
    const got = collect(sub);
    const seq = await c.publish('gone.t', 'before');
    await until('the first message', () => got.seqs.has(seq));
    await app.stop();
    await until('the client to see the broker gone', () => !c.isConnected);
    const pending = c.publish('gone.t', 'never stored');
    expect(await stateOf(pending)).toBe('pending');
    const e = await rejection(pending);
    expect(e.code).toBe('UNAVAILABLE');
    await until('the subscription to end', () => got.state.ended);
    expect(got.state.error).toBeInstanceOf(EventBusError);
    expect((got.state.error as EventBusError).code).toBe('UNAVAILABLE');
    expect(statuses.at(-1)).toBe('closed');
    // Later calls fail at once.
    expect((await rejection(c.publish('gone.t', 'after'))).code).toBe('UNAVAILABLE');
    expect((await rejection(c.subscribe('gone.t'))).code).toBe('UNAVAILABLE');
  });

  it('maxPendingPublishes: one publish more than may wait fails at once with UNAVAILABLE; the waiting ones are stored on reconnect', async () => {
    const dir = await scope.dir();
    const first = await startBroker(dir);
    const port = first.ports.http;
    const { c } = await open(wsUrl(port), { maxPendingPublishes: 3, reconnectIntervalMs: 10, maxReconnectIntervalMs: 50, maxRetries: 1000 });
    await c.publish('bound.t', 'while up');
    await first.stop();
    await until('the client to see the broker gone', () => !c.isConnected);
    const waiting = [c.publish('bound.t', 'w1'), c.publish('bound.t', 'w2'), c.publish('bound.t', 'w3')];
    const started = Date.now();
    const e = await rejection(c.publish('bound.t', 'one too many'));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(e.code).toBe('UNAVAILABLE');
    for (const p of waiting) expect(await stateOf(p)).toBe('pending');

    await startBroker(dir, { EVENTBUS_HTTP_PORT: String(port) });
    const seqs = await Promise.all(waiting);
    expect(new Set(seqs).size).toBe(3);
    const rows = query<{ payload: string }>(dir, `SELECT payload FROM messages WHERE topic = 'bound.t' ORDER BY seq`);
    expect(rows.map((r) => r.payload)).toEqual(['while up', 'w1', 'w2', 'w3']);
  });

  it('maxPendingPublishes counts waiting publishes, not failed reconnect attempts', async () => {
    const dir = await scope.dir();
    const first = await startBroker(dir);
    const port = first.ports.http;
    const { c } = await open(wsUrl(port), { maxPendingPublishes: 3, reconnectIntervalMs: 10, maxReconnectIntervalMs: 20, maxRetries: 1000 });
    await first.stop();
    await until('the client to see the broker gone', () => !c.isConnected);
    // Something on the port that hangs up: each reconnect attempt fails, and we can count them.
    const hangUp = await hangUpServer(port);
    const p1 = c.publish('attempts.t', 'a1');
    const seen = hangUp.attempts();
    await until('five failed reconnect attempts', () => hangUp.attempts() >= seen + 5);
    // One publish waits; two more fit under maxPendingPublishes = 3, however many attempts failed.
    const p2 = c.publish('attempts.t', 'a2');
    const p3 = c.publish('attempts.t', 'a3');
    for (const p of [p1, p2, p3]) p.catch(() => undefined); // asserted below; no unhandled rejection if the test fails early
    expect(await stateOf(p2)).toBe('pending');
    expect(await stateOf(p3)).toBe('pending');
    await hangUp.close();
    await startBroker(dir, { EVENTBUS_HTTP_PORT: String(port) });
    expect((await Promise.all([p1, p2, p3])).length).toBe(3);
    expect(query<{ n: number }>(dir, `SELECT count(*) AS n FROM messages WHERE topic = 'attempts.t'`)[0]!.n).toBe(3);
  });
});

// The store plays no part: on SQLite only (vitest.config.ts).
describe.skipIf(onPostgres)('subscriptions across reconnects', () => {
  it('Subscription.close() while its resume after a reconnect is in flight leaves no subscription on the broker', async () => {
    const { app, url } = await freshBroker();
    let subA: Awaited<ReturnType<EventBusClient['subscribe']>> | undefined;
    let closedInWindow = false;
    const { c: a } = await open(url, {
      onStatus: (s) => {
        // The resume subscribe has been sent, its answer not read yet: the caller gives up on the subscription.
        if (s === 'reconnected' && subA !== undefined && !closedInWindow) {
          closedInWindow = true;
          void subA.close();
        }
      },
    });
    const { c: b } = await open(url);
    subA = await a.subscribe('work.*', { consumer: 'worker', group: 'g' });
    const subB = await b.subscribe('work.*', { consumer: 'worker', group: 'g' });
    await until('two members', () => app.broker.stats().subscriptions === 2);
    a.reconnect();
    await until('A reconnected and closed its subscription', () => closedInWindow && a.isConnected);
    await sleep(200);
    // Only B is left: A closed its subscription.
    expect.soft(app.broker.stats().subscriptions).toBe(1);
    // So every message goes to B, none to a subscription nobody reads (it would hold them until the ack timeout).
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) seqs.push(await b.publish('work.item', `job ${i}`));
    const got: number[] = [];
    for (;;) {
      const m = await subB.next(1000);
      if (m === undefined) break;
      got.push(m.seq);
      m.ack();
      if (got.length === seqs.length) break;
    }
    expect(got).toEqual(seqs);
  });

  it('publishes that timed out while disconnected no longer count against maxPendingPublishes', async () => {
    const { app, url } = await freshBroker();
    const { c } = await open(url, { maxPendingPublishes: 2, requestTimeoutMs: 100, reconnectIntervalMs: 50, maxReconnectIntervalMs: 50, maxRetries: 1000 });
    await app.stop();
    await until('disconnected', () => !c.isConnected);
    const first = await Promise.allSettled([c.publish('t.a', '1'), c.publish('t.a', '2')]);
    expect(first.map((r) => r.status)).toEqual(['rejected', 'rejected']); // timed out: nothing waits any more
    // Nothing is waiting now, so this one may wait (it then times out after requestTimeoutMs like the others).
    const started = Date.now();
    const third = await c.publish('t.a', '3').catch((e: unknown) => e as EventBusError);
    expect(third).toBeInstanceOf(EventBusError);
    expect((third as EventBusError).message).toMatch(/requestTimeoutMs/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(80);
  });

  it('a subscribe() made while disconnected is sent on reconnect and receives', async () => {
    const dir = await scope.dir();
    const first = await startApp(testAppConfig(dir, { EVENTBUS_HTTP_PORT: String(await restartablePort()) }), silentLogger);
    const app1 = first._unsafeUnwrap();
    const port = app1.ports.http;
    const { c } = await open(`ws://127.0.0.1:${port}/ws`);
    await app1.stop();
    await until('disconnected', () => !c.isConnected);
    const pending = c.subscribe('late.*');
    const second = (await startApp(testAppConfig(dir, { EVENTBUS_HTTP_PORT: String(port) }), silentLogger))._unsafeUnwrap();
    scope.defer(() => second.stop());
    const sub = await pending;
    const seq = await c.publish('late.x', 'hi');
    const m = await sub.next(2000);
    expect(m?.seq).toBe(seq);
  });

  it('close() during reconnect backoff: no further dial, pending calls reject, iterators end', async () => {
    const { app, url } = await freshBroker();
    const c = await connect(url, { reconnectIntervalMs: 300, maxReconnectIntervalMs: 300, maxRetries: 100 });
    const sub = await c.subscribe('x.*');
    await app.stop();
    await until('disconnected', () => !c.isConnected);
    const pending = c.publish('x.y', 'p');
    c.close();
    await expect(pending).rejects.toBeInstanceOf(EventBusError);
    expect(await sub.next(50)).toBeUndefined();
  });

  it('gives up after maxRetries when the broker comes back on another port', async () => {
    const dir = await scope.dir();
    const app1 = (await startApp(testAppConfig(dir), silentLogger))._unsafeUnwrap();
    const c = await connect(`ws://127.0.0.1:${app1.ports.http}/ws`, { reconnectIntervalMs: 10, maxReconnectIntervalMs: 20, maxRetries: 5 });
    scope.defer(() => c.close());
    const sub = await c.subscribe('moved.*', { consumer: 'moved' });
    await app1.stop();
    const app2 = (await startApp(testAppConfig(dir), silentLogger))._unsafeUnwrap();
    scope.defer(() => app2.stop());
    const err = await sub.next(5000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventBusError);
    expect((err as EventBusError).code).toBe('UNAVAILABLE');
    await expect(c.publish('moved.x', 'y')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('breaking out of for-await unsubscribes on the broker', async () => {
    const { app, url } = await freshBroker();
    const { c } = await open(url);
    const sub = await c.subscribe('loop.*');
    await until('subscribed', () => app.broker.stats().subscriptions === 1);
    await c.publish('loop.a', '1');
    for await (const m of sub) {
      expect(m.payload).toBe('1');
      break;
    }
    await until('unsubscribed', () => app.broker.stats().subscriptions === 0);
  });

  it('request(): a reply that arrives before the publish is answered is not lost', async () => {
    const { url } = await freshBroker();
    await answering(url, 'price.get', (payload) => `answer to ${payload}`);
    const { c: requester } = await open(url);
    const replies = await Promise.all([1, 2, 3, 4, 5].map((i) => requester.request('price.get', `q${i}`, { timeoutMs: 3000 })));
    expect(replies.map((r) => r.payload)).toEqual([1, 2, 3, 4, 5].map((i) => `answer to q${i}`));
  });
});

// The store plays no part: on SQLite only (vitest.config.ts).
describe.skipIf(onPostgres)('nothing keeps the process alive after the client is done', () => {
  const FIXTURE = new URL('../fixtures/client-exit.ts', import.meta.url).pathname;

  async function runChild(url: string, mode: string, onLine?: (line: string) => void, limitMs = 6000): Promise<{ exited: boolean; afterDoneMs: number; stdout: string; stderr: string }> {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, url, mode], { cwd: new URL('../..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let doneAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      for (const line of String(d).split('\n').filter(Boolean)) {
        if (line === 'done') doneAt = Date.now();
        onLine?.(line);
      }
      stdout += String(d);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    const exited = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), limitMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!exited) child.kill('SIGKILL');
    return { exited, afterDoneMs: doneAt === 0 ? -1 : Date.now() - doneAt, stdout, stderr };
  }

  it.each(['plain', 'waiting-next', 'receiver'])('%s: exits by itself soon after close()', async (mode) => {
    const { url } = await freshBroker();
    const r = await runChild(url, mode);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('done');
    expect(r.exited).toBe(true);
  });

  it('gave-up: a client that gave up (maxRetries) while the reader waited with a timeout lets the process exit', async () => {
    const { app, url } = await freshBroker();
    let stopping: Promise<void> | undefined;
    const r = await runChild(url, 'gave-up', (line) => {
      if (line === 'subscribed') stopping = app.stop();
    });
    await stopping;
    expect(r.stdout).toContain('done');
    expect(r.exited).toBe(true);
  });
});

describe('flow control', () => {
  it('a healthy connection held for flow control (a full subscription queue) is not dropped as dead by the ping', async () => {
    const { url } = await freshBroker();
    const { c: slow, statuses } = await open(url, { queueLimit: 10, pingIntervalMs: 100 });
    const { c: pub } = await open(url);
    const sub = await slow.subscribe('flood.*');
    for (let i = 0; i < 100; i++) await pub.publish('flood.x', String(i));
    // The reader is busy for a while: the queue is full and the client stops reading from the socket.
    await sleep(800);
    expect(statuses).toEqual(['connected']); // no 'disconnected' / 'reconnected': the broker is there, only the reader is slow
    const got: string[] = [];
    for (;;) {
      const m = await sub.next(500);
      if (m === undefined) break;
      got.push(m.payload);
    }
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
  });

  it('a durable consumer that is only slow loses no message to the dead letters through ping-drop churn', async () => {
    const { db, url } = await freshBroker({ EVENTBUS_MAX_DELIVERIES: '3' });
    const { c: slow } = await open(url, { queueLimit: 5, pingIntervalMs: 50 });
    const { c: pub } = await open(url);
    const sub = await slow.subscribe('slow.*', { consumer: 'slow', maxInFlight: 50 });
    const seqs: number[] = [];
    for (let i = 0; i < 40; i++) seqs.push(await pub.publish('slow.x', String(i)));
    await sleep(1000); // the reader is busy elsewhere for a second
    const seen = new Set<number>();
    for (;;) {
      const m = await sub.next(800);
      if (m === undefined) break;
      seen.add(m.seq);
      m.ack();
    }
    const dead = query<{ seq: number }>(db, "SELECT seq FROM dead_letters WHERE consumer = 'slow'").map((r) => r.seq);
    expect(dead).toEqual([]);
    expect([...seen].sort((a, b) => a - b)).toEqual(seqs);
  });
});

// The store plays no part: on SQLite only (vitest.config.ts).
describe.skipIf(onPostgres)('concurrent readers', () => {
  it('two next() calls waiting at once on one Subscription both get a message', async () => {
    const { url } = await freshBroker();
    const { c } = await open(url);
    const sub = await c.subscribe('pair.*');
    const first = sub.next();
    const second = sub.next();
    await c.publish('pair.a', '1');
    await c.publish('pair.a', '2');
    const settled = await Promise.race([Promise.all([first, second]), sleep(2000).then(() => 'hung' as const)]);
    expect(settled).not.toBe('hung');
    expect((settled as { payload: string }[]).map((m) => m.payload).sort()).toEqual(['1', '2']);
  });
});
