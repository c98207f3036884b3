// The broker process as users start and stop it (src/main.ts in a child process): refusals at start-up that
// leave nothing behind, and what SIGTERM / SIGINT do to the clients connected at that moment (on either store).
import Database from 'better-sqlite3';
import { chmod, chown, mkdir, readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { startApp } from '../src/app.js';
import { silentLogger } from '../src/logger.js';
import { onPostgres, sqliteFile, tempDir, testAppConfig, type TestDb, type TestDir } from './helpers/broker.js';
import { PG_URL, pgQuery } from './helpers/postgres.js';
import { killIfRunning, runBrokerProcess, startBrokerProcess as start, type BrokerProcess } from './helpers/broker-process.js';
import { query, sleep } from './helpers/scope.js';
import WebSocket from 'ws';
import { until } from './helpers/until.js';
import { wsConnect, type Closed, type Frame } from './helpers/ws-client.js';

const dirs: TestDir[] = [];
const servers: net.Server[] = [];
const brokers: BrokerProcess[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await killIfRunning(b);
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
  for (const d of dirs.splice(0)) await d.cleanup();
});

async function dir(): Promise<TestDir> {
  const d = await tempDir();
  dirs.push(d);
  return d;
}

/** A port some other program holds. */
async function takenPort(): Promise<number> {
  const server = net.createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

async function startBrokerProcess(env: Record<string, string>): Promise<BrokerProcess> {
  const b = await start(env);
  brokers.push(b);
  return b;
}

/** One line on stderr, exit 1, no stack trace. */
function expectOneLineRefusal(run: { code: number | null; stderr: string }, ...contains: string[]): void {
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  expect({ code: run.code, lines }).toMatchObject({ code: 1, lines: [expect.any(String)] });
  for (const text of contains) expect(lines[0]).toContain(text);
  expect(run.stderr).not.toContain('    at ');
}

// What start-up leaves behind when it refuses is SQLite's question (a file, its lock, its mode); a refusal
// on PostgreSQL comes before the database is touched the same way, and its own refusals (a database that
// does not answer) are test/store/postgres-faults.test.ts's.
describe.skipIf(onPostgres)('start-up refusals', () => {
  test.each(['EVENTBUS_TRANSPORT_PORT', 'EVENTBUS_REGISTRATION_PORT', 'EVENTBUS_HTTP_PORT'])(
    'a port in use (%s) stops start-up before the database is created: no file, no lock left behind',
    async (setting) => {
      const d = await dir();
      const dataDir = join(d.dir, 'data');
      const port = await takenPort();
      const run = await runBrokerProcess({ EVENTBUS_DB: join(dataDir, 'bus.db'), [setting]: String(port) });
      expectOneLineRefusal(run, setting, String(port));
      expect(await readdir(d.dir)).toEqual([]);
    },
  );

  test('one port given to two settings is refused the same way', async () => {
    const d = await dir();
    const port = await takenPort();
    await new Promise((resolve) => servers.pop()!.close(resolve)); // free again: only the two settings clash
    const run = await runBrokerProcess({ EVENTBUS_DB: d.dbPath, EVENTBUS_TRANSPORT_PORT: String(port), EVENTBUS_HTTP_PORT: String(port) });
    expectOneLineRefusal(run, 'EVENTBUS_HTTP_PORT', String(port));
    expect(await readdir(d.dir)).toEqual([]);
  });

  test('an existing database is left as it was when a port is in use, and opens at once afterwards', async () => {
    const d = await dir();
    const first = (await startApp(testAppConfig(d), silentLogger))._unsafeUnwrap();
    const seq = (await first.broker.publish({ topic: 'kept', payload: 'x' }))._unsafeUnwrap().seq;
    await first.stop();
    const run = await runBrokerProcess({ EVENTBUS_DB: d.dbPath, EVENTBUS_HTTP_PORT: String(await takenPort()) });
    expectOneLineRefusal(run, 'EVENTBUS_HTTP_PORT');
    const again = (await startApp(testAppConfig(d), silentLogger))._unsafeUnwrap();
    expect(again.broker.headSeq()).toBe(seq);
    await again.stop();
  });

  // Root writes to any file whatever its mode: the broker then runs as nobody, for whom the file is read-only.
  const asOther = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

  test('a read-only database file in a writable directory is refused with one line, before anything listens', async () => {
    const d = await dir();
    const dataDir = join(d.dir, 'data');
    await mkdir(dataDir);
    const dbPath = join(dataDir, 'bus.db');
    const first = (await startApp(testAppConfig(sqliteFile(dbPath)), silentLogger))._unsafeUnwrap();
    (await first.broker.publish({ topic: 'kept', payload: 'x' }))._unsafeUnwrap();
    await first.stop();
    // Everything but the database file stays writable for the broker: its directory, the lock file.
    if (asOther.uid !== undefined) {
      for (const name of await readdir(dataDir)) await chown(join(dataDir, name), asOther.uid, asOther.gid);
      await chown(dataDir, asOther.uid, asOther.gid);
    }
    await chmod(dbPath, 0o444);
    await chmod(d.dir, 0o755);
    const run = await runBrokerProcess({ EVENTBUS_DB: dbPath }, asOther);
    expectOneLineRefusal(run, 'EVENTBUS_DB', 'read-only');
    const db = new Database(dbPath, { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM messages').get()).toEqual({ n: 1 });
    db.close();
  });

  test("another application's SQLite file is refused with one line naming its tables, and left exactly as it was", async () => {
    const d = await dir();
    const dbPath = join(d.dir, 'app.db');
    const theirs = new Database(dbPath);
    theirs.exec("CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO messages (body) VALUES ('theirs'); CREATE TABLE users (name TEXT)");
    theirs.close();
    const before = await readFile(dbPath);
    const run = await runBrokerProcess({ EVENTBUS_DB: dbPath });
    expectOneLineRefusal(run, 'EVENTBUS_DB', "not eventbus's", 'messages, users');
    expect((await readFile(dbPath)).equals(before)).toBe(true);
    expect(await readdir(d.dir)).not.toContain('app.db-wal');
  });

  test("a PostgreSQL schema holding another application's tables is refused with one line, and left as it was", async () => {
    const schema = `theirs_${Date.now().toString(36)}`;
    await pgQuery(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.orders (id int); INSERT INTO ${schema}.orders VALUES (7)`);
    try {
      const run = await runBrokerProcess({ EVENTBUS_DB: PG_URL, EVENTBUS_PG_SCHEMA: schema });
      expectOneLineRefusal(run, 'EVENTBUS_DB', "not eventbus's", '(orders)');
      const tables = await pgQuery<{ name: string }>('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1', [schema]);
      expect(tables.map((t) => t.name)).toEqual(['orders']);
    } finally {
      await pgQuery(`DROP SCHEMA ${schema} CASCADE`);
    }
  });

  // Node's recursive mkdir spun for ever on /proc/x (deaf to SIGTERM), and the URLs became SQLite brokers in
  // new directories named "postgres:" and "mysql:". Each now ends start-up (runBrokerProcess gives up on a
  // process that has not exited within 20 s, and kills it).
  test.each([
    ['/proc/x/y.db', 'cannot create the directory of /proc/x/y.db'],
    ['postgres:/oops', 'expected postgres://'],
    ['mysql://root:secret@host/x', 'a mysql: URL is neither a SQLite file nor postgres://'],
  ])('--db %s stops start-up with one line naming EVENTBUS_DB, and creates no directory', async (db, why) => {
    const d = await dir();
    const run = await runBrokerProcess({}, { args: ['--db', db], cwd: d.dir });
    expectOneLineRefusal(run, 'EVENTBUS_DB', why);
    expect(run.stderr).not.toContain('secret');
    expect(await readdir(d.dir)).toEqual([]);
  });
});

/** A raw connection to a line port; `replies` resolves with every line it received once the server closed it. */
async function rawLineConnection(port: number, options: { allowHalfOpen?: boolean } = {}): Promise<{ socket: net.Socket; replies: Promise<string[]> }> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => {});
  const replies = new Promise<string[]>((resolve) => socket.once('close', () => resolve(text.split('\n').filter((l) => l !== ''))));
  return { socket, replies };
}

const write = (socket: net.Socket, text: string): Promise<void> =>
  new Promise((resolve, reject) => socket.write(text, (e) => (e ? reject(e) : resolve())));

/** seq → payload of the stored messages of `topic`. */
const stored = (db: TestDb, topic: string): Map<number, string> =>
  new Map(query<{ seq: number; payload: string }>(db, 'SELECT seq, payload FROM messages WHERE topic = ?', topic).map((r) => [r.seq, r.payload]));

/**
 * A client that pipelines lines without pause (each write as soon as the last is in the kernel) until the
 * server ends the connection: what it was answered, and how the connection ended.
 */
async function endlessLines(port: number, line: (i: number) => string): Promise<{ replies: string[]; sent: () => number; ended: Promise<{ end: boolean; partial: string; error: string | undefined }> }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const replies: string[] = [];
  let partial = '';
  let sent = 0;
  let end = false;
  let error: string | undefined;
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    replies.push(...lines);
  });
  socket.on('end', () => (end = true));
  socket.on('error', (e) => (error ??= e.message));
  const pump = (): void => {
    if (end || socket.destroyed || socket.writableEnded) return;
    let batch = '';
    for (let i = 0; i < 100; i++) batch += `${line(sent++)}\n`;
    // The next turn, not at once: a write the kernel takes at once calls back on the same tick, and an
    // endless chain of ticks would keep this process from reading its replies.
    socket.write(batch, (e) => (e ? undefined : setImmediate(pump)));
  };
  pump();
  const ended = new Promise<{ end: boolean; partial: string; error: string | undefined }>((resolve) => socket.once('close', () => resolve({ end, partial, error })));
  return { replies, sent: () => sent, ended };
}

/** A WebSocket client that publishes without pause (each batch as soon as the last is written) until the server closes. */
async function endlessWsPublishes(port: number, topic: string): Promise<{ answers: Frame[]; closed: Promise<Closed> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.on('error', () => {});
  const answers: Frame[] = [];
  ws.on('message', (data) => answers.push(JSON.parse((data as Buffer).toString('utf8')) as Frame));
  let i = 0;
  const pump = (): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    for (let n = 0; n < 50; n++, i++) {
      const frame = JSON.stringify({ type: 'publish', id: `w${i}`, data: { topic, payload: String(i) } });
      ws.send(frame, n === 49 ? (e) => (e ? undefined : setImmediate(pump)) : undefined);
    }
  };
  pump();
  const closed = new Promise<Closed>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  return { answers, closed };
}

/** An event stream (GET /api/subscribe); `ended` is true once the broker ended it, false if it was cut. */
async function sseStream(port: number, pattern: string): Promise<{ ended: Promise<boolean> }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: `/api/subscribe?pattern=${encodeURIComponent(pattern)}` }, (res) => {
        res.on('error', () => {});
        const ended = new Promise<boolean>((done) => {
          res.once('end', () => done(true));
          res.once('close', () => done(false));
        });
        res.resume();
        resolve({ ended });
      })
      .once('error', reject);
  });
}

describe('SIGTERM and SIGINT', () => {
  test.each(['SIGTERM', 'SIGINT'] as const)(
    '%s with 1,000 telnet lines pipelined and 200 WebSocket publishes in flight: each is answered, every OK is stored and every stored one was answered, exit 0',
    async (signal) => {
      const d = await dir();
      const bus = await startBrokerProcess({ ...d.env, EVENTBUS_SYNC: 'full' });
      const telnet = await rawLineConnection(bus.ports.transport);
      const ws = await wsConnect(bus.ports.http);
      const lines = Array.from({ length: 1000 }, (_, i) => `drain.telnet:${i}`);
      const frames = Array.from({ length: 200 }, (_, i) => JSON.stringify({ type: 'publish', id: `p${i}`, data: { topic: 'drain.ws', payload: String(i) } }));
      await write(telnet.socket, `${lines.slice(0, 500).join('\n')}\n`);
      for (const frame of frames.slice(0, 100)) ws.send(frame);
      bus.signal(signal);
      // And more on the way as the signal lands: read after it, they are refused, never dropped unanswered.
      await write(telnet.socket, `${lines.slice(500).join('\n')}\n`);
      for (const frame of frames.slice(100)) ws.send(frame);

      const replies = await telnet.replies;
      const closed = await ws.closed();
      const answers = ws.takeAll();
      expect(await bus.exited()).toEqual({ code: 0, signal: null });

      expect(replies).toHaveLength(1000);
      const firstRefused = replies.findIndex((r) => !r.startsWith('OK '));
      const okCount = firstRefused < 0 ? replies.length : firstRefused;
      // Taken in order: answered OK up to the signal, refused from there on.
      for (const r of replies.slice(0, okCount)) expect(r).toMatch(/^OK \d+$/);
      for (const r of replies.slice(okCount)) expect(r).toBe('ERR UNAVAILABLE shutting down');
      const telnetStored = stored(d, 'drain.telnet');
      expect([...telnetStored.values()].map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: okCount }, (_, i) => i));
      replies.slice(0, okCount).forEach((r, i) => expect(telnetStored.get(Number(r.slice(3)))).toBe(String(i)));

      expect(closed.code).toBe(1001);
      // One answer each; by id, not in order: a refusal is answered at once, a publish once its commit is durable.
      expect(answers.map((f) => Number(String(f['id']).slice(1))).sort((a, b) => a - b)).toEqual(frames.map((_, i) => i));
      const published = answers.filter((f) => f.type === 'published');
      for (const f of answers.filter((a) => a.type !== 'published')) expect(f).toMatchObject({ type: 'error', code: 'UNAVAILABLE', message: 'shutting down' });
      const wsStored = stored(d, 'drain.ws');
      expect(wsStored.size).toBe(published.length);
      for (const f of published) expect(wsStored.get(f['seq'] as number)).toBe(String(f['id']).slice(1));
    },
  );

  test(
    'SIGTERM while clients publish without pause: every answer is stored, each connection is closed after its last answer, and the broker exits well within EVENTBUS_SHUTDOWN_TIMEOUT_MS (10 s)',
    async () => {
      const d = await dir();
      const bus = await startBrokerProcess({ ...d.env, EVENTBUS_SHUTDOWN_TIMEOUT_MS: '10000', EVENTBUS_MAX_PIPELINED_LINES: '256' });
      const telnet = await endlessLines(bus.ports.transport, (i) => `load.telnet:${i}`);
      // Commands it does not know: answered at once, without the database.
      const registration = await endlessLines(bus.ports.registration, () => 'HELLO');
      const ws = await endlessWsPublishes(bus.ports.http, 'load.ws');
      const sse = await sseStream(bus.ports.http, 'sse.quiet');
      // An idle keep-alive connection, as a health checker leaves.
      const agent = new http.Agent({ keepAlive: true });
      const health = await new Promise<number | undefined>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: bus.ports.http, path: '/healthz', agent }, (res) => res.resume().once('end', () => resolve(res.statusCode))).once('error', reject);
      });
      expect(health).toBe(200);
      await until(
        () => `the publishers to have a thousand answers (telnet ${telnet.replies.length}, WebSocket ${ws.answers.length}, registration ${registration.replies.length})`,
        () => telnet.replies.length >= 1000 && ws.answers.length >= 1000 && registration.replies.length >= 1000,
        20_000,
      );
      const signalled = performance.now();
      bus.signal('SIGTERM');
      const exit = await bus.exited(20_000);
      const tookMs = performance.now() - signalled;
      agent.destroy();
      expect(exit).toEqual({ code: 0, signal: null });
      // About 1 s on a quiet machine (the 3 s target of docs/operating.md); the bound leaves a loaded test machine
      // room and still fails when any connection is kept for the grace period.
      expect(tookMs).toBeLessThan(6000);

      // The line ports: ended by the broker (not reset) after a whole last reply.
      expect(await telnet.ended).toEqual({ end: true, partial: '', error: undefined });
      expect(await registration.ended).toEqual({ end: true, partial: '', error: undefined });
      expect(registration.replies.filter((r) => !r.startsWith('ERR UNKNOWN_COMMAND '))).toEqual([]);
      expect(telnet.replies.length).toBeLessThanOrEqual(telnet.sent());
      // In line order: OK up to the signal, refused from there on; every OK stored as sent, nothing else stored.
      const okCount = telnet.replies.findIndex((r) => !r.startsWith('OK '));
      expect(okCount).toBeGreaterThanOrEqual(1000);
      expect(telnet.replies.slice(okCount).filter((r) => r !== 'ERR UNAVAILABLE shutting down')).toEqual([]);
      const telnetStored = stored(d, 'load.telnet');
      expect(telnetStored.size).toBe(okCount);
      const wrongLine = telnet.replies.slice(0, okCount).filter((r, i) => !/^OK \d+$/.test(r) || telnetStored.get(Number(r.slice(3))) !== String(i));
      expect(wrongLine).toEqual([]);

      // The WebSocket: closed with 1001 after its answers; every published one stored, nothing else.
      expect((await ws.closed).code).toBe(1001);
      const published = ws.answers.filter((f) => f.type === 'published');
      expect(ws.answers.filter((f) => f.type !== 'published' && !(f.type === 'error' && f['code'] === 'UNAVAILABLE' && f['message'] === 'shutting down'))).toEqual([]);
      expect(new Set(ws.answers.map((f) => f['id'])).size).toBe(ws.answers.length);
      const wsStored = stored(d, 'load.ws');
      expect(wsStored.size).toBe(published.length);
      expect(published.filter((f) => wsStored.get(f['seq'] as number) !== String(f['id']).slice(1))).toEqual([]);

      expect(await sse.ended).toBe(true);
    },
    90_000,
  );

  test('acks sent just before SIGTERM are written: after a restart the durable consumer resumes after them', async () => {
    const d = await dir();
    const bus = await startBrokerProcess(d.env);
    const ws = await wsConnect(bus.ports.http);
    const sub = await ws.subscribe({ pattern: 'acked.*', consumer: 'keeper' });
    const pub = await rawLineConnection(bus.ports.transport);
    await write(pub.socket, `${Array.from({ length: 50 }, (_, i) => `acked.x:${i}`).join('\n')}\n`);
    const got = await ws.messages(sub, 50);
    for (const m of got) ws.send({ type: 'ack', subscription: sub, seq: m.seq });
    bus.signal('SIGTERM');
    expect(await bus.exited()).toEqual({ code: 0, signal: null });

    const again = await startBrokerProcess(d.env);
    const ws2 = await wsConnect(again.ports.http);
    const sub2 = await ws2.subscribe({ pattern: 'acked.*', consumer: 'keeper' });
    const after = await rawLineConnection(again.ports.transport);
    await write(after.socket, 'acked.x:after\n');
    const [next] = await ws2.messages(sub2, 1);
    expect(next!.payload).toBe('after');
    await ws2.close();
    again.signal('SIGTERM');
    expect(await again.exited()).toEqual({ code: 0, signal: null });
  });

  test('a client that never closes its side holds the stop only until EVENTBUS_SHUTDOWN_TIMEOUT_MS, then the broker exits 0', async () => {
    const d = await dir();
    const bus = await startBrokerProcess({ ...d.env, EVENTBUS_SHUTDOWN_TIMEOUT_MS: '1500' });
    const stubborn = await rawLineConnection(bus.ports.transport, { allowHalfOpen: true });
    expect(await new Promise((resolve) => {
      stubborn.socket.once('data', (chunk) => resolve(String(chunk)));
      stubborn.socket.write('held.open:1\n');
    })).toMatch(/^OK \d+\n$/);
    const signalled = Date.now();
    bus.signal('SIGTERM');
    await sleep(300);
    // Stopping: no new connection is taken on any port while the old one is waited for.
    for (const port of [bus.ports.transport, bus.ports.registration, bus.ports.http]) {
      await expect(rawLineConnection(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    }
    expect(await bus.exited()).toEqual({ code: 0, signal: null });
    const tookMs = Date.now() - signalled;
    expect(tookMs).toBeGreaterThanOrEqual(1400);
    expect(tookMs).toBeLessThan(6000);
    stubborn.socket.destroy();
  });

  test('a second signal, half a second or more after the first, exits at once', async () => {
    const d = await dir();
    const bus = await startBrokerProcess({ ...d.env, EVENTBUS_SHUTDOWN_TIMEOUT_MS: '60000' });
    const stubborn = await rawLineConnection(bus.ports.transport, { allowHalfOpen: true });
    bus.signal('SIGTERM');
    // One that follows within milliseconds (npm start passes the terminal's Ctrl-C on) is the same request.
    bus.signal('SIGTERM');
    await sleep(1000);
    expect(bus.child.exitCode).toBe(null);
    const second = Date.now();
    bus.signal('SIGINT');
    expect(await bus.exited()).toEqual({ code: 130, signal: null });
    expect(Date.now() - second).toBeLessThan(2000);
    expect(bus.logs.map((l) => l.msg)).toContain('second signal: exiting now');
    stubborn.socket.destroy();
  });
});
