// The examples (examples/) run as their npm scripts would run them: real child processes on
// ephemeral ports, talking over real sockets, each on a database in a temp dir. The pull examples (the Python
// consumer of examples/, the curl loop of docs/http-api.md) run as their users would start them, against a broker
// of the test's own.
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { startApp, type App } from '../src/app.js';
import { connect } from '../src/client/index.js';
import { silentLogger } from '../src/logger.js';
import { tempDir, testAppConfig, type TestDir } from './helpers/broker.js';
import { PG_URL, pgSchemas } from './helpers/postgres.js';
import { until } from './helpers/until.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const schemas = pgSchemas();

interface Running {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the first match of `re` in the output. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited(): Promise<number | null>;
}

const running: ChildProcess[] = [];

function run(example: string, env: Record<string, string>): Running {
  // As a user runs it: none of the test run's own EVENTBUS_TEST_* settings, which a broker refuses as unknown.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EVENTBUS_')));
  return watch(example, spawn(process.execPath, ['--import', 'tsx', join('examples', example)], { cwd: ROOT, env: { ...inherited, ...env } }));
}

/** A child process's output, waited on. */
function watch(example: string, child: ChildProcess): Running {
  running.push(child);
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer): void => {
    out += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    waitFor: (re, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const m = out.match(re);
          if (m === null) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`${example}: no ${re} within ${timeoutMs} ms; output:\n${out}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
    exited: () => exit,
  };
}

async function stop(r: Running): Promise<void> {
  r.child.kill('SIGTERM');
  await r.exited();
}

const getJson = async (url: string): Promise<unknown> => (await fetch(url)).json();

/** The JSON list `url` serves, once it holds `n` entries. */
async function listOf(url: string, n: number): Promise<unknown[]> {
  let last: unknown;
  return until(
    () => `${n} entries at ${url} (last: ${JSON.stringify(last)?.slice(0, 300)})`,
    async () => {
      last = await getJson(url);
      return Array.isArray(last) && last.length === n && (last as unknown[]);
    },
    20_000,
  );
}
const postUser = (base: string, id: number, username: string): Promise<Response> =>
  fetch(`${base}/api/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, username }) });

let dir: TestDir;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  for (const c of running.splice(0)) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    // A shell loop is the leader of its own group, with its curl under it.
    if (c.spawnargs[0] === 'bash') process.kill(-c.pid!, 'SIGKILL');
    else c.kill('SIGKILL');
  }
  await app?.stop();
  app = undefined;
  await dir.cleanup();
});

let app: App | undefined;

/** A broker of the test's own (every port 0) with a consumer `consumer` of `pattern`; its HTTP address. */
async function pullBroker(consumer: string, pattern: string, env: Record<string, string> = {}): Promise<string> {
  app = (await startApp(testAppConfig(dir, env), silentLogger))._unsafeUnwrap();
  const base = `http://127.0.0.1:${app.ports.http}`;
  expect((await fetch(`${base}/api/consumers/${consumer}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ patterns: [pattern] }) })).status).toBe(200);
  return base;
}

/** Publishes `n` messages of `topic` in one request; their seqs. */
async function publishMany(base: string, topic: string, n: number, from = 0): Promise<number[]> {
  const messages = Array.from({ length: n }, (_, i) => ({ topic, payload: JSON.stringify({ n: from + i }) }));
  const res = await fetch(`${base}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages }) });
  return ((await res.json()) as { seqs: number[] }).seqs;
}

/** The one ```sh block of docs/http-api.md that holds `marker`. */
async function docShell(marker: string): Promise<string> {
  const text = await readFile(join(ROOT, 'docs', 'http-api.md'), 'utf8');
  const blocks = [...text.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!).filter((b) => b.includes(marker));
  expect(blocks).toHaveLength(1);
  return blocks[0]!;
}

describe('pulling over HTTP', () => {
  test("the curl loop of docs/http-api.md takes every message, keeps it and acks it", async () => {
    const base = await pullBroker('worker', 'jobs.*');
    const loop = (await docShell('while :; do')).replaceAll('http://127.0.0.1:3000', base);
    const shell = watch('the curl loop', spawn('bash', ['-c', loop], { cwd: dir.dir, detached: true }));
    await until('the loop to wait in a fetch', () => app!.broker.consumer('worker')?.subscribers === 1);
    const seqs: number[] = [];
    for (let batch = 0; batch < 5; batch++) seqs.push(...(await publishMany(base, 'jobs.resize', 20, batch * 20)));
    await until('every message acked', () => app!.broker.consumer('worker')?.position === seqs.at(-1), 20_000);
    const kept = (await readFile(join(dir.dir, 'done.ndjson'), 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .flatMap((l) => (JSON.parse(l) as { messages: { seq: number; payload: string }[] }).messages);
    expect(kept.map((m) => m.seq)).toEqual(seqs);
    expect(kept.map((m) => JSON.parse(m.payload) as unknown)).toEqual(seqs.map((_, n) => ({ n })));
    expect(shell.output()).toBe('');
  }, 60_000);

  test('the Python consumer (urllib only) applies every message once, across a kill -9', async () => {
    // A short ack timeout: what it applied and did not ack before the kill comes back within a second.
    const base = await pullBroker('orders-db', 'orders.*', { EVENTBUS_ACK_TIMEOUT_MS: '1000' });
    const file = join(dir.dir, 'orders.db');
    const start = (): Running => watch('pull_consumer.py', spawn('python3', [join('examples', 'pull_consumer.py'), 'orders-db', 'orders.*', file], { cwd: ROOT, env: { ...process.env, EVENTBUS_URL: base } }));
    let py = start();
    await py.waitFor(/^consuming orders-db \(orders\.\*\) from http:/m);
    const seqs = await publishMany(base, 'orders.created', 300);
    await py.waitFor(/^applied \d+ /m);
    py.child.kill('SIGKILL');
    await py.exited();
    py = start();
    await py.waitFor(/^consuming/m);
    seqs.push(...(await publishMany(base, 'orders.created', 50, 300)));
    await until('every order acked', () => app!.broker.consumer('orders-db')?.position === seqs.at(-1), 30_000);
    const db = new Database(file, { readonly: true });
    try {
      const rows = db.prepare('SELECT seq, payload FROM orders ORDER BY seq').all() as { seq: number; payload: string }[];
      expect(rows.map((r) => r.seq)).toEqual(seqs);
      expect(rows.map((r) => JSON.parse(r.payload) as unknown)).toEqual(seqs.map((_, n) => ({ n })));
    } finally {
      db.close();
    }
    py.child.kill('SIGTERM');
    expect(await py.exited()).toBe(0);
    expect(py.output()).toMatch(/stopped\n$/);
  }, 60_000);
});

describe('examples', () => {
  test('ledger on PostgreSQL: two brokers, an embedded transactional consumer killed and restarted, every order applied once', async () => {
    const ledger = run('ledger-postgres.ts', { EVENTBUS_DB: PG_URL, EVENTBUS_PG_SCHEMA: schemas.schema(), ORDERS: '150' });
    expect(await ledger.exited(), ledger.output()).toBe(0);
    const lines = ledger.output().split('\n').filter((l) => l !== '' && !l.startsWith('applied '));
    expect(lines).toEqual([
      expect.stringMatching(/^brokers node-0 and node-1 on ws:/),
      expect.stringMatching(/^ledger killed with SIGKILL after \d+ orders applied; starting it again$/),
      'published 150 orders on the two brokers',
      'each order applied once: 150 rows for 150 orders, total 741',
    ]);
  }, 90_000);

  test('chat: the subscriber prints every message of chat.* and the run completes', async () => {
    const chat = run('chat.ts', { EVENTBUS_HTTP_PORT: '0', EVENTBUS_DB: join(dir.dir, 'chat.db') });
    expect(await chat.exited()).toBe(0);
    const received = chat.output().split('\n').filter((l) => l.startsWith('Subscriber received:'));
    expect(received).toEqual([
      'Subscriber received: [chat.user1] Hello from User1!',
      "Subscriber received: [chat.user1] How's it going?",
      'Subscriber received: [chat.user1] Batch message 1',
      'Subscriber received: [chat.user1] Batch message 2',
    ]);
    expect(chat.output()).toContain('Test completed!');
  }, 60_000);

  test.each([
    ['user-service.ts', 'PORT'],
    ['user-sync.ts', 'PORT'],
    ['user-sync-embedded.ts', 'PORT'],
    ['chat.ts', 'EVENTBUS_HTTP_PORT'],
  ])('%s on a port that is taken says so in one line and exits 1', async (example, setting) => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = taken.address() as net.AddressInfo;
      const r = run(example, { [setting]: String(port), EVENTBUS_DB: join(dir.dir, 'taken.db'), SYNC_DB: join(dir.dir, 'sync.db'), EVENTBUS_URL: 'ws://127.0.0.1:1/ws' });
      expect(await r.exited()).toBe(1);
      const lines = r.output().split('\n').filter((l) => l !== '');
      expect(lines).toEqual([expect.stringContaining(`cannot listen on 127.0.0.1:${port}`)]);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  test('user service publishes user.created; the sync service keeps its table in step and catches up after a stop', async () => {
    const service = run('user-service.ts', { PORT: '0', EVENTBUS_DB: join(dir.dir, 'service.db') });
    const [, port] = await service.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    const base = `http://127.0.0.1:${port}`;
    const created = await postUser(base, 1, 'alice');
    expect(created.status).toBe(201);
    expect(((await created.json()) as { seq: number }).seq).toBe(1);
    expect((await postUser(base, 2, 42 as unknown as string)).status).toBe(400);

    const syncEnv = { EVENTBUS_URL: `ws://127.0.0.1:${port}/ws`, PORT: '0', SYNC_DB: join(dir.dir, 'sync.db') };
    let sync = run('user-sync.ts', syncEnv);
    let [, syncPort] = await sync.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    // A durable consumer created now starts at the head: alice was published before it existed.
    await postUser(base, 2, 'bob');
    expect(await listOf(`http://127.0.0.1:${syncPort}`, 1)).toEqual([{ id: 2, username: 'bob' }]);
    await sync.waitFor(/User created: \{"id":2,"username":"bob"\}/);

    await stop(sync);
    await postUser(base, 3, 'carol');
    await postUser(base, 4, 'dave');
    sync = run('user-sync.ts', syncEnv);
    [, syncPort] = await sync.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    expect(await listOf(`http://127.0.0.1:${syncPort}`, 3)).toEqual([
      { id: 2, username: 'bob' },
      { id: 3, username: 'carol' },
      { id: 4, username: 'dave' },
    ]);
    await stop(sync);
    await stop(service);
    // The service's log holds every event once, readable with plain SQL.
    const log = new Database(join(dir.dir, 'service.db'), { readonly: true });
    expect(log.prepare(`SELECT topic, payload FROM messages ORDER BY seq`).all()).toEqual([
      { topic: 'user.created', payload: '{"id":1,"username":"alice"}' },
      { topic: 'user.created', payload: '{"id":2,"username":"bob"}' },
      { topic: 'user.created', payload: '{"id":3,"username":"carol"}' },
      { topic: 'user.created', payload: '{"id":4,"username":"dave"}' },
    ]);
    log.close();
  }, 90_000);

  test('embedded user sync: events published over its WebSocket are applied once each, across a kill -9', async () => {
    const env = { PORT: '0', EVENTBUS_DB: join(dir.dir, 'embedded.db') };
    let sync = run('user-sync-embedded.ts', env);
    let [, port] = await sync.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    let client = await connect(`ws://127.0.0.1:${port}/ws`, { maxRetries: 0 });
    for (let id = 1; id <= 200; id++) await client.publish('user.created', JSON.stringify({ id, username: `user${id}` }));
    client.close();
    sync.child.kill('SIGKILL');
    await sync.exited();

    sync = run('user-sync-embedded.ts', env);
    [, port] = await sync.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    client = await connect(`ws://127.0.0.1:${port}/ws`, { maxRetries: 0 });
    for (let id = 201; id <= 250; id++) await client.publish('user.created', JSON.stringify({ id, username: `user${id}` }));
    client.close();
    const users = (await listOf(`http://127.0.0.1:${port}`, 250)) as { id: number }[];
    expect(users.map((u) => u.id)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    await stop(sync);
    const db = new Database(join(dir.dir, 'embedded.db'), { readonly: true });
    expect(db.prepare(`SELECT count(*) AS n, count(DISTINCT seq) AS seqs FROM synced_users`).get()).toEqual({ n: 250, seqs: 250 });
    db.close();
  }, 90_000);
});
