// One broker per database (PROTOCOL.md §6): a second opener, in this process or another, is refused with a
// clear message naming the file, the lock goes away with its holder, and the file stays readable (WAL).
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { openSqliteBroker } from '../../src/app.js';
import { silentLogger } from '../../src/logger.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { openBroker, tempDir, testBrokerConfig, type TestDir } from '../helpers/broker.js';
import { BIN } from '../helpers/dist.js';
import { until } from '../helpers/until.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `node dist/main.js --db <file>` with no EVENTBUS_* inherited and every port ephemeral. */
function startMain(dbPath: string): ChildProcess {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EVENTBUS_')));
  const args = ['--db', dbPath, '--transport-port', '0', '--registration-port', '0', '--http-port', '0'];
  return spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...env, EVENTBUS_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function collect(child: ChildProcess): { readonly stderr: () => string; readonly exited: Promise<[number | null, string | null]> } {
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout!.resume();
  const exited = new Promise<[number | null, string | null]>((done, fail) => {
    child.on('error', fail);
    child.on('close', (code, signal) => done([code, signal]));
  });
  return { stderr: () => stderr, exited };
}

/** Waits until the broker process has its database open (its "log opened" line), or fails if it exits first. */
async function untilOpened(child: ChildProcess, out: ReturnType<typeof collect>): Promise<void> {
  await until(
    () => `the broker process to open the log: ${out.stderr()}`,
    () => {
      if (out.stderr().includes('log opened')) return true;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`broker process exited: ${out.stderr()}`);
      return false;
    },
    15_000,
  );
}

let dir: TestDir;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(() => dir.cleanup());

describe('in one process', () => {
  test('a second opener of the same file is refused as locked, naming the file', async () => {
    const first = await openBroker(dir);
    try {
      const second = await SqliteStore.open({ path: dir.dbPath, sync: 'normal', logger: silentLogger });
      expect(second.isErr()).toBe(true);
      const e = second._unsafeUnwrapErr();
      expect([e.code, e.kind]).toEqual(['UNAVAILABLE', 'locked']);
      expect(e.message).toContain(resolve(dir.dbPath));
      expect(e.message).toContain('EVENTBUS_DB');
      expect(e.message).not.toContain('\n');

      // The refused opener must not have disturbed the holder: it still publishes, and still holds the lock.
      expect((await first.publish({ topic: 'lock.t', payload: 'still mine' }))._unsafeUnwrap().seq).toBe(1);
      const third = await SqliteStore.open({ path: dir.dbPath, sync: 'normal', logger: silentLogger });
      expect(third.isErr() && third.error.kind).toBe('locked');
    } finally {
      await first.close();
    }
    const again = await openBroker(dir);
    expect(again.headSeq()).toBe(1);
    await again.close();
  });

  test('a running broker\'s database is readable by another SQLite connection (WAL), even mid-read', async () => {
    const broker = await openBroker(dir);
    const reader = new Database(dir.dbPath, { readonly: true });
    try {
      for (let i = 1; i <= 3; i++) (await broker.publish({ topic: 'wal.t', payload: `p${i}` }))._unsafeUnwrap();
      expect(reader.pragma('journal_mode', { simple: true })).toBe('wal');
      const rows = () => reader.prepare('SELECT seq, topic, payload FROM messages ORDER BY seq').all();
      expect(rows()).toEqual([1, 2, 3].map((seq) => ({ seq, topic: 'wal.t', payload: `p${seq}` })));

      // A reader holding a read transaction open does not block publishes, and keeps its snapshot.
      reader.exec('BEGIN');
      expect(rows()).toHaveLength(3);
      const published = await broker.publish({ topic: 'wal.t', payload: 'p4' });
      expect(published._unsafeUnwrap().seq).toBe(4);
      expect(rows()).toHaveLength(3);
      reader.exec('COMMIT');
      expect(rows()).toHaveLength(4);
    } finally {
      reader.close();
      await broker.close();
    }
  });
});

describe('across processes', () => {
  test('a second broker process exits 1 with one line naming EVENTBUS_DB; after the first stops it starts', async () => {
    const first = await openBroker(dir);
    let firstClosed = false;
    try {
      const refused = startMain(dir.dbPath);
      const out = collect(refused);
      const [code] = await out.exited;
      const lines = out.stderr().split('\n').filter((l) => l !== '');
      expect({ code, lines: lines.length }, out.stderr()).toEqual({ code: 1, lines: 1 });
      expect(lines[0]).toContain('EVENTBUS_DB');
      expect(lines[0]).toContain(resolve(dir.dbPath));
      expect(lines[0]).not.toMatch(/^\s+at /m);
      await first.close();
      firstClosed = true;

      // Now a broker process starts; while it runs, this process is the one refused.
      const second = startMain(dir.dbPath);
      const running = collect(second);
      try {
        await untilOpened(second, running);
        const refusedHere = await SqliteStore.open({ path: dir.dbPath, sync: 'normal', logger: silentLogger });
        expect(refusedHere.isErr() && refusedHere.error.kind).toBe('locked');
      } finally {
        second.kill('SIGTERM');
      }
      expect(await running.exited, running.stderr()).toEqual([0, null]);
    } finally {
      if (!firstClosed) await first.close();
    }
    const reopened = await openBroker(dir);
    await reopened.close();
  });

  test('the lock of a SIGKILLed broker process is not stale', async () => {
    const child = startMain(dir.dbPath);
    const out = collect(child);
    try {
      await untilOpened(child, out);
    } finally {
      child.kill('SIGKILL');
    }
    expect((await out.exited)[1]).toBe('SIGKILL');
    const reopened = await openSqliteBroker(testBrokerConfig(dir.dbPath), silentLogger);
    expect(reopened.isOk() ? 'opened' : reopened.error.message).toBe('opened');
    await reopened._unsafeUnwrap().broker.close();
  });
});
