// The broker process as users start and stop it (src/main.ts in a child process): refusals at start-up that
// leave nothing behind, and what SIGTERM / SIGINT do to the clients connected at that moment.
import Database from 'better-sqlite3';
import { chmod, chown, mkdir, readdir } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { startApp } from '../src/app.js';
import { silentLogger } from '../src/logger.js';
import { tempDir, testAppConfig, type TestDir } from './helpers/broker.js';
import { runBrokerProcess } from './helpers/broker-process.js';

const dirs: TestDir[] = [];
const servers: net.Server[] = [];
afterEach(async () => {
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

/** One line on stderr, exit 1, no stack trace. */
function expectOneLineRefusal(run: { code: number | null; stderr: string }, ...contains: string[]): void {
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  expect({ code: run.code, lines }).toMatchObject({ code: 1, lines: [expect.any(String)] });
  for (const text of contains) expect(lines[0]).toContain(text);
  expect(run.stderr).not.toContain('    at ');
}

describe('start-up refusals', () => {
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
    const first = (await startApp(testAppConfig(d.dbPath), silentLogger))._unsafeUnwrap();
    const seq = (await first.broker.publish({ topic: 'kept', payload: 'x' }))._unsafeUnwrap().seq;
    await first.stop();
    const run = await runBrokerProcess({ EVENTBUS_DB: d.dbPath, EVENTBUS_HTTP_PORT: String(await takenPort()) });
    expectOneLineRefusal(run, 'EVENTBUS_HTTP_PORT');
    const again = (await startApp(testAppConfig(d.dbPath), silentLogger))._unsafeUnwrap();
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
    const first = (await startApp(testAppConfig(dbPath), silentLogger))._unsafeUnwrap();
    await first.broker.publish({ topic: 'kept', payload: 'x' });
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
});
