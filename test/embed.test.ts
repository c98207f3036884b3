// Embedding (src/embed/): the embedded broker on a fresh database, its WebSocket API attached at a path of the
// application's own http.Server — plain node:http, Express 5, Fastify 5 and Hono's node server — with the
// application's routes still answering; transactional consume into an application table in the broker's
// own database (on either store), and on SQLite a real SIGKILL of a consuming child process and a restart to
// completion.
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { connect, type EventBusClient } from '../src/client/client.js';
import type { Delivery, StoredMessage } from '../src/core/types.js';
import { EventBusError, openEventBus, openEventBusResult } from '../src/embed/index.js';
import { onPostgres, tempDir, type TestDb, type TestDir } from './helpers/broker.js';
import { openTestEventBus, txSql, type AppTx, type TestEventBus } from './helpers/embedded.js';
import { closeServer, portOf, trackSockets } from './helpers/http-server.js';
import { query, sleep, testScope } from './helpers/scope.js';
import { until } from './helpers/until.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/tx-consumer.ts', import.meta.url));

type EventBus = TestEventBus['bus'];

async function openBus(db: TestDb): Promise<EventBus> {
  return (await openTestEventBus(db)).bus;
}

/** GET over a fresh connection (no keep-alive), so closing the server never waits on it. */
async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' } });
  return { status: res.status, body: await res.text() };
}

function waitListening(server: http.Server): Promise<void> {
  return server.listening ? Promise.resolve() : new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject));
}

/** An application's own server with one route of its own, GET /hello → `hello from <name>`. */
interface AppServer {
  readonly name: string;
  readonly server: http.Server;
  readonly port: number;
  close(): Promise<void>;
}

const frameworks: { name: string; start(): Promise<AppServer> }[] = [
  {
    name: 'node:http',
    start: async () => {
      const server = http.createServer((req, res) => {
        if (req.url === '/hello') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('hello from node:http');
        res.writeHead(404).end('not here');
      });
      // The application's own WebSocket endpoint on the same server, at another path.
      const own = new WebSocketServer({ noServer: true });
      server.on('upgrade', (req, socket, head) => {
        if (req.url !== '/own-ws') return;
        own.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(`echo:${(data as Buffer).toString()}`)));
      });
      const sockets = trackSockets(server);
      server.listen(0, '127.0.0.1');
      await waitListening(server);
      return {
        name: 'node:http',
        server,
        port: portOf(server),
        close: async () => {
          for (const c of own.clients) c.terminate();
          own.close();
          await closeServer(server, sockets);
        },
      };
    },
  },
  {
    name: 'express',
    start: async () => {
      const app = express();
      app.get('/hello', (_req, res) => {
        res.type('text/plain').send('hello from express');
      });
      app.post('/echo', express.json(), (req, res) => {
        res.json({ got: req.body as unknown });
      });
      const server = app.listen(0, '127.0.0.1');
      const sockets = trackSockets(server);
      await waitListening(server);
      return { name: 'express', server, port: portOf(server), close: () => closeServer(server, sockets) };
    },
  },
  {
    name: 'fastify',
    start: async () => {
      const fastify = Fastify({ logger: false, forceCloseConnections: true });
      fastify.get('/hello', async (_req, reply) => reply.type('text/plain').send('hello from fastify'));
      const sockets = trackSockets(fastify.server);
      await fastify.listen({ port: 0, host: '127.0.0.1' });
      return {
        name: 'fastify',
        server: fastify.server,
        port: portOf(fastify.server),
        close: async () => {
          for (const s of sockets) s.destroy();
          await fastify.close();
        },
      };
    },
  },
  {
    name: 'hono',
    start: async () => {
      const app = new Hono();
      app.get('/hello', (c) => c.text('hello from hono'));
      const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as http.Server;
      const sockets = trackSockets(server);
      await waitListening(server);
      return { name: 'hono', server, port: portOf(server), close: () => closeServer(server, sockets) };
    },
  },
];

describe.each(frameworks)('attach() to a $name server at /events', (framework) => {
  let dir: TestDir;
  let bus: EventBus;
  let app: AppServer;
  const clients: EventBusClient[] = [];

  beforeAll(async () => {
    dir = await tempDir();
    bus = await openBus(dir);
    app = await framework.start();
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  afterAll(async () => {
    await bus?.close();
    await app?.close();
    await dir?.cleanup();
  });

  async function client(path = '/events'): Promise<EventBusClient> {
    const c = await connect(`ws://127.0.0.1:${app.port}${path}`, { maxRetries: 2, reconnectIntervalMs: 50, requestTimeoutMs: 10_000 });
    clients.push(c);
    return c;
  }

  test('a WebSocket client publishes at /events and an in-process subscriber receives it; the app routes still answer', async () => {
    const attached = bus.attach(app.server, { path: '/events' });
    try {
      const before = await get(app.port, '/hello');
      expect(before).toEqual({ status: 200, body: `hello from ${framework.name}` });

      const sub = await bus.subscribe({ pattern: `${framework.name.replace(':', '_')}.in.*` });
      try {
        const ws = await client();
        expect(ws.isConnected).toBe(true);
        expect(attached.connections()).toBe(1);
        const topic = `${framework.name.replace(':', '_')}.in.created`;
        const seq = await ws.publish(topic, 'from the socket', { metadata: { who: 'ws' }, messageId: `${framework.name}-1` });
        expect(seq).toBeGreaterThan(0);
        const d = await sub.next(5000);
        expect(d?.message.seq).toBe(seq);
        expect(d?.message.topic).toBe(topic);
        expect(d?.message.payload).toBe('from the socket');
        expect(d?.message.messageId).toBe(`${framework.name}-1`);
        expect(JSON.parse(d!.message.metadata)).toMatchObject({ who: 'ws' });

        // The application's HTTP routes answer while a WebSocket session is open on the same server.
        expect(await get(app.port, '/hello')).toEqual({ status: 200, body: `hello from ${framework.name}` });
        if (framework.name === 'express') {
          const res = await fetch(`http://127.0.0.1:${app.port}/echo`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', connection: 'close' },
            body: JSON.stringify({ a: 1 }),
          });
          expect(await res.json()).toEqual({ got: { a: 1 } });
        }
      } finally {
        sub.close();
      }
    } finally {
      void attached.close();
    }
  });

  test('an in-process publish (bus.publish) reaches a WebSocket subscriber at /events', async () => {
    const attached = bus.attach(app.server, { path: '/events' });
    try {
      const ws = await client();
      const prefix = `${framework.name.replace(':', '_')}.out`;
      const sub = await ws.subscribe(`${prefix}.*`);
      const durable = await ws.subscribe(`${prefix}.#`, { consumer: `${framework.name.replace(':', '_')}-durable` });
      const published = await bus.publish({ topic: `${prefix}.shipped`, payload: '{"order":7}', metadata: { content_type: 'application/json' } });
      await bus.publish({ topic: 'elsewhere.shipped', payload: 'not for them' });
      const m = await sub.next(5000);
      expect(m?.seq).toBe(published.seq);
      expect(m?.topic).toBe(`${prefix}.shipped`);
      expect(m?.json()).toEqual({ order: 7 });
      const dm = await durable.next(5000);
      expect(dm?.seq).toBe(published.seq);
      expect(dm?.delivery).toBe(1);
      dm?.ack();
      expect(await sub.next(300)).toBeUndefined();
      await sleep(100);
      await until('the durable ack', () => bus.broker.consumer(`${framework.name.replace(':', '_')}-durable`)?.inFlight === 0);
    } finally {
      void attached.close();
    }
  });

  test('detached: /events no longer upgrades, the app routes still answer', async () => {
    const attached = bus.attach(app.server, { path: '/events' });
    await client();
    expect(attached.connections()).toBe(1);
    void attached.close();
    await until('the session to close', () => attached.connections() === 0);
    expect(await get(app.port, '/hello')).toEqual({ status: 200, body: `hello from ${framework.name}` });
    // A fresh WebSocket handshake to /events now gets no 101 (nobody answers it, or the app refuses it).
    const outcome = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${app.port}/events`);
      const timer = setTimeout(() => {
        ws.terminate();
        resolve('no answer');
      }, 500);
      ws.on('open', () => {
        clearTimeout(timer);
        ws.terminate();
        resolve('upgraded');
      });
      ws.on('error', () => {
        clearTimeout(timer);
        resolve('refused');
      });
    });
    expect(outcome).not.toBe('upgraded');
  });

  if (framework.name === 'node:http') {
    test("the application's own WebSocket endpoint on another path keeps working next to /events", async () => {
      const attached = bus.attach(app.server, { path: '/events' });
      try {
        const echoed = await new Promise<string>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${app.port}/own-ws`);
          ws.on('open', () => ws.send('ping'));
          ws.on('message', (data) => {
            resolve((data as Buffer).toString());
            ws.close();
          });
          ws.on('error', reject);
        });
        expect(echoed).toBe('echo:ping');
        const c = await client();
        expect(await c.publish('own.check', 'ok')).toBeGreaterThan(0);
        expect(attached.connections()).toBe(1);
      } finally {
        void attached.close();
      }
    });
  }
});

describe('bus.close() leaves the application server running', () => {
  test('after close, the attached path is gone and the app route answers', async () => {
    const dir = await tempDir();
    const app = await frameworks[0]!.start();
    try {
      const bus = await openBus(dir);
      bus.attach(app.server, { path: '/events' });
      const statuses: string[] = [];
      const c = await connect(`ws://127.0.0.1:${app.port}/events`, { maxRetries: 0, reconnectIntervalMs: 50, onStatus: (s) => statuses.push(s) });
      try {
        await bus.close();
        // The broker's sessions end with it...
        await until('the client to see the session end', () => statuses.includes('disconnected'));
      } finally {
        c.close();
      }
      // ...and the server stays the application's.
      expect(app.server.listening).toBe(true);
      expect(await get(app.port, '/hello')).toEqual({ status: 200, body: 'hello from node:http' });
    } finally {
      await app.close();
      await dir.cleanup();
    }
  });
});

// --- The awaited calls and their Result forms -----------------------------------------------------------

describe('the embedding calls reject with an EventBusError; their Result forms hold the same error', () => {
  const scope = testScope();

  test('publish, publishBatch, subscribe and consume', async () => {
    const embedded = await openTestEventBus(await scope.dir());
    const { bus } = embedded;
    scope.defer(() => bus.close());
    const badTopic = { code: 'BAD_TOPIC', message: expect.stringContaining('bad topic') };
    await expect(bus.publish({ topic: 'bad topic', payload: 'x' })).rejects.toBeInstanceOf(EventBusError);
    await expect(bus.publish({ topic: 'bad topic', payload: 'x' })).rejects.toMatchObject(badTopic);
    await expect(bus.publishBatch([{ topic: 'fine', payload: 'x' }, { topic: 'bad topic', payload: 'y' }])).rejects.toMatchObject(badTopic);
    expect(bus.broker.stats().headSeq).toBe(0);

    const badPattern = { name: 'EventBusError', code: 'BAD_PATTERN' };
    await expect(bus.subscribe({ pattern: 'a b' })).rejects.toMatchObject(badPattern);
    expect((await bus.subscribeResult({ pattern: 'a b' }))._unsafeUnwrapErr()).toMatchObject({ code: 'BAD_PATTERN' });
    await expect(bus.consume({ pattern: 'a b', consumer: 'c' }, () => undefined)).rejects.toMatchObject(badPattern);
    expect((await embedded.consume({ pattern: 'a b', consumer: 'c' }, () => undefined))._unsafeUnwrapErr()).toMatchObject({ code: 'BAD_PATTERN' });

    const [first, second] = await bus.publishBatch([{ topic: 'ok.a', payload: '1' }, { topic: 'ok.b', payload: '2' }]);
    expect((await bus.publish({ topic: 'ok.c', payload: '3' })).seq).toBe(second!.seq + 1);
    const sub = await bus.subscribe({ pattern: 'ok.*', start: { kind: 'seq', seq: first!.seq } });
    expect((await sub.take(3)).map((d) => d.message.payload)).toEqual(['1', '2', '3']);
    sub.close();
  });

  test.skipIf(onPostgres)('openEventBus on a file it cannot open rejects with UNAVAILABLE; openEventBusResult holds it', async () => {
    const notADirectory = join((await scope.dir()).dir, 'file');
    await writeFile(notADirectory, 'not a directory');
    const dbPath = join(notADirectory, 'bus.db');
    const refused = openEventBus({ dbPath });
    await expect(refused).rejects.toBeInstanceOf(EventBusError);
    await expect(refused).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining(dbPath) });
    expect((await openEventBusResult({ dbPath }))._unsafeUnwrapErr()).toMatchObject({ code: 'UNAVAILABLE' });
  });
});

// --- Transactional consume ------------------------------------------------------------------------------

describe('bus.consume(): the handler runs in the transaction that records its ack', () => {
  let dir: TestDir;
  let embedded: TestEventBus | undefined;

  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await embedded?.bus.close();
    embedded = undefined;
    await dir.cleanup();
  });

  async function open(): Promise<TestEventBus> {
    embedded = await openTestEventBus(dir);
    return embedded;
  }

  const createUsers = (b: TestEventBus, table: string): Promise<void> =>
    b.exec(`CREATE TABLE IF NOT EXISTS ${table} (id TEXT PRIMARY KEY, name TEXT NOT NULL, seq INTEGER NOT NULL, delivery INTEGER NOT NULL)`);

  const users = (db: TestDb, table: string): { id: string; name: string; seq: number; delivery: number }[] =>
    query(db, `SELECT id, name, seq, delivery FROM ${table} ORDER BY seq`);

  test('every matching message becomes exactly one row; after a restart nothing is delivered again', async () => {
    let opened = await open();
    let bus = opened.bus;
    await createUsers(opened, 'app_users');
    const calls: number[] = [];
    const consumer = (
      await opened.consume({ pattern: 'user.*', consumer: 'sync' }, (m, tx, delivery) => {
        calls.push(m.seq);
        const u = JSON.parse(m.payload) as { id: string; name: string };
        return txSql(tx, 'INSERT INTO app_users (id, name, seq, delivery) VALUES (?, ?, ?, ?)', [u.id, u.name, m.seq, delivery]);
      })
    )._unsafeUnwrap();
    expect(consumer.subscriptionId).toMatch(/./);

    const published: number[] = [];
    for (let i = 0; i < 30; i++) {
      published.push((await bus.broker.publish({ topic: i % 2 ? 'user.created' : 'user.updated', payload: JSON.stringify({ id: `u${i}`, name: `name ${i}` }) }))._unsafeUnwrap().seq);
      if (i % 10 === 0) (await bus.broker.publish({ topic: 'order.created', payload: '{"id":"o"}' }))._unsafeUnwrap(); // not user.*
    }
    // One batch too: several messages in one commit.
    const batch = (
      await bus.broker.publishBatch(Array.from({ length: 20 }, (_, i) => ({ topic: 'user.imported', payload: JSON.stringify({ id: `b${i}`, name: `batch ${i}` }) })))
    )._unsafeUnwrap();
    published.push(...batch.map((p) => p.seq));

    await until('50 rows', () => users(dir, 'app_users').length >= 50);
    await sleep(300); // a duplicate would come within this
    const rows = users(dir, 'app_users');
    expect(rows.map((r) => r.seq)).toEqual(published);
    expect(rows.every((r) => r.delivery === 1)).toBe(true);
    expect(calls).toEqual(published);
    await consumer.close();
    await bus.close();

    // Reopened: the consumer's position comes back from the database; nothing is delivered to it again.
    opened = await open();
    bus = opened.bus;
    const again: number[] = [];
    const consumer2 = (await opened.consume({ pattern: 'user.*', consumer: 'sync' }, (m) => void again.push(m.seq)))._unsafeUnwrap();
    await sleep(500);
    expect(again).toEqual([]);
    const next = (await bus.broker.publish({ topic: 'user.created', payload: JSON.stringify({ id: 'late', name: 'late' }) }))._unsafeUnwrap();
    await until('the new message', () => again.length > 0);
    expect(again).toEqual([next.seq]);
    await consumer2.close();
  });

  test('a handler that throws: its write is rolled back and the message is redelivered (delivery 2), then applied once', async () => {
    const opened = await open();
    const bus = opened.bus;
    await createUsers(opened, 'app_users');
    const seen: { id: string; delivery: number; rowsBefore: number }[] = [];
    const consumer = (
      await opened.consume({ pattern: 'user.*', consumer: 'sync', retryDelayMs: 50 }, (m, tx, delivery) => {
        const u = JSON.parse(m.payload) as { id: string; name: string };
        return txSql(tx, 'SELECT count(*) AS n FROM app_users WHERE id = ?', [u.id], ([before]) => {
          seen.push({ id: u.id, delivery, rowsBefore: (before as { n: number }).n });
          return txSql(tx, 'INSERT INTO app_users (id, name, seq, delivery) VALUES (?, ?, ?, ?)', [u.id, u.name, m.seq, delivery], () => {
            if (u.id === 'bob' && delivery === 1) throw new Error('downstream not ready');
          });
        });
      })
    )._unsafeUnwrap();

    (await bus.broker.publish({ topic: 'user.created', payload: JSON.stringify({ id: 'alice', name: 'Alice' }) }))._unsafeUnwrap();
    const bob = (await bus.broker.publish({ topic: 'user.created', payload: JSON.stringify({ id: 'bob', name: 'Bob' }) }))._unsafeUnwrap();
    (await bus.broker.publish({ topic: 'user.created', payload: JSON.stringify({ id: 'carol', name: 'Carol' }) }))._unsafeUnwrap();

    await until('three rows', () => users(dir, 'app_users').length >= 3);
    await sleep(300);
    const rows = users(dir, 'app_users');
    expect(rows.map((r) => [r.id, r.delivery])).toEqual([
      ['alice', 1],
      ['bob', 2],
      ['carol', 1],
    ]);
    expect(rows.find((r) => r.id === 'bob')?.seq).toBe(bob.seq);
    const bobs = seen.filter((s) => s.id === 'bob');
    // The second attempt found no row of the first: it was rolled back with the failed handler.
    expect(bobs).toEqual([
      { id: 'bob', delivery: 1, rowsBefore: 0 },
      { id: 'bob', delivery: 2, rowsBefore: 0 },
    ]);
    expect(seen.filter((s) => s.id !== 'bob').map((s) => s.delivery)).toEqual([1, 1]);
    await consumer.close();
  });

  // SQLite's: its transaction cannot stay open across an await. On PostgreSQL a handler awaits its queries
  // (test/embed/postgres-embed.test.ts).
  test.skipIf(onPostgres)('a handler that returns a promise is refused: its write is rolled back and the message is not acked', async () => {
    const opened = await open();
    const bus = opened.bus;
    await createUsers(opened, 'app_users');
    const deliveries: number[] = [];
    const consumer = (
      await opened.consume({ pattern: 'user.*', consumer: 'async', retryDelayMs: 50 }, async (m: StoredMessage, tx: AppTx, delivery: number) => {
        deliveries.push(delivery);
        // Runs synchronously, inside the transaction, before the promise is returned.
        void txSql(tx, 'INSERT INTO app_users (id, name, seq, delivery) VALUES (?, ?, ?, ?)', [`a${delivery}`, 'async', m.seq, delivery]);
        await sleep(1);
      })
    )._unsafeUnwrap();
    (await bus.broker.publish({ topic: 'user.created', payload: '{}' }))._unsafeUnwrap();
    await until('a redelivery', () => deliveries.length >= 3);
    await consumer.close();
    expect(deliveries.slice(0, 3)).toEqual([1, 2, 3]);
    expect(users(dir, 'app_users')).toEqual([]);
    const info = bus.broker.consumer('async');
    expect(info?.position).toBe(0);
  });
});

// --- SIGKILL while consuming transactionally ------------------------------------------------------------

interface Summary {
  rows: number;
  handled: number;
  failures: number;
  redelivered: number;
  failureSamples: string[];
}

function runConsumer(dbPath: string, expected: number, spinMs: number): { child: ReturnType<typeof spawn>; exited: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dbPath, String(expected), String(spinMs)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, exited };
}

// The fixture is an application on SQLite; on PostgreSQL the same crash is examples/ledger-postgres.ts's,
// which test/examples.test.ts runs.
describe.skipIf(onPostgres)('SIGKILL of an application consuming transactionally', () => {
  const N = 2000;
  let dir: TestDir;
  let killed: ReturnType<typeof spawn> | undefined;

  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => {
    if (killed && killed.exitCode === null && killed.signalCode === null) killed.kill('SIGKILL');
    await dir?.cleanup();
  });

  test(
    'killed part-way and restarted: every message is applied exactly once, none lost, and the consumer finishes',
    async () => {
      // The log: the consumer exists first (so it reads from the start), then N matching messages, with
      // messages it does not want in between.
      const setup = await openBus(dir);
      (await setup.broker.saveConsumer({ id: 'crash', address: null, patterns: ['crash.#'] }))._unsafeUnwrap();
      const expected = new Map<number, { topic: string; payload: string }>();
      for (let start = 0; start < N; start += 250) {
        const inputs = Array.from({ length: 250 }, (_, i) => ({ topic: `crash.t${(start + i) % 4}`, payload: `payload ${start + i} "é✓"` }));
        const published = (await setup.broker.publishBatch(inputs))._unsafeUnwrap();
        published.forEach((p, i) => expected.set(p.seq, inputs[i]!));
        (await setup.broker.publish({ topic: 'noise.x', payload: 'not consumed' }))._unsafeUnwrap();
      }
      expect(expected.size).toBe(N);
      await setup.close();

      // Run 1: ~1 ms of work per message inside its transaction; killed once more than killAt rows exist.
      const killAt = 300 + Math.floor(Math.random() * 700);
      const first = runConsumer(dir.dbPath, N, 1);
      killed = first.child;
      let rowsAtKill = 0;
      let reader: Database.Database | undefined;
      try {
        await until(
          `more than ${killAt} rows`,
          () => {
            if (first.child.exitCode !== null) throw new Error(`the consumer exited by itself (${first.child.exitCode})`);
            try {
              reader ??= new Database(dir.dbPath, { readonly: true, fileMustExist: true });
              rowsAtKill = reader.prepare('SELECT count(*) FROM app_rows').pluck().get() as number;
            } catch (e) {
              if (!/no such table/.test(String(e))) throw e;
              return false; // not created yet
            }
            if (rowsAtKill <= killAt) return false;
            first.child.kill('SIGKILL');
            return true;
          },
          30_000,
        );
      } finally {
        reader?.close();
      }
      const run1 = await first.exited;
      expect(run1.signal, `run 1 ended by itself: ${run1.stdout} ${run1.stderr}`).toBe('SIGKILL');
      expect(rowsAtKill).toBeLessThan(N);

      const afterKill = new Database(dir.dbPath, { readonly: true, fileMustExist: true });
      const partial = afterKill.prepare('SELECT count(*) FROM app_rows').pluck().get() as number;
      afterKill.close();
      expect(partial).toBeGreaterThanOrEqual(rowsAtKill);
      expect(partial).toBeLessThan(N);

      // Run 2: to completion.
      const second = runConsumer(dir.dbPath, N, 0);
      killed = second.child;
      const run2 = await second.exited;
      expect(run2.code, `run 2 failed: ${run2.stderr}`).toBe(0);
      const summary = JSON.parse(run2.stdout.trim()) as Summary;
      // A message whose transaction committed before the kill must not be handed to the handler again (its
      // plain INSERT would fail); and none of the rest failed either.
      expect({ failures: summary.failures, samples: summary.failureSamples }).toEqual({ failures: 0, samples: [] });
      expect(summary.rows).toBe(N);
      expect(summary.handled).toBeGreaterThanOrEqual(N - partial);

      const db = new Database(dir.dbPath, { readonly: true, fileMustExist: true });
      try {
        const rows = db.prepare('SELECT seq, topic, payload FROM app_rows ORDER BY seq').all() as { seq: number; topic: string; payload: string }[];
        expect(rows.length).toBe(N);
        const wrong = rows.filter((r) => expected.get(r.seq)?.payload !== r.payload || expected.get(r.seq)?.topic !== r.topic);
        expect(wrong.slice(0, 5)).toEqual([]);
        const missing = [...expected.keys()].filter((seq) => !rows.some((r) => r.seq === seq));
        expect(missing.slice(0, 10)).toEqual([]);
        expect(rows.some((r) => r.topic === 'noise.x')).toBe(false);
      } finally {
        db.close();
      }

      // The consumer finished: reopened, it has nothing left to deliver.
      const check = await openBus(dir);
      try {
        const sub = await check.subscribe({ pattern: 'crash.#', consumer: 'crash' });
        const left: Delivery | undefined = await sub.next(500);
        expect(left?.message.seq).toBeUndefined();
        sub.close();
        expect(check.broker.consumer('crash')?.position).toBeGreaterThanOrEqual(Math.max(...expected.keys()));
      } finally {
        await check.close();
      }
    },
    60_000,
  );
});
