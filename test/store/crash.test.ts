// Durability under SIGKILL (PROTOCOL.md §1 EVENTBUS_SYNC, §6): a child process publishes concurrently and
// prints every acknowledged seq; the parent kills it mid-stream, reopens the database and checks that every
// acknowledged message is in `messages` with its exact payload, and that seqs go on increasing.
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { SyncMode } from '../../src/config.js';
import { openSqliteBroker } from '../../src/app.js';
import { silentLogger } from '../../src/logger.js';
import { tempDir, testBrokerConfig, type TestDir } from '../helpers/broker.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/crash-publisher.ts', import.meta.url));

interface Acked {
  readonly seq: number;
  readonly payload: string;
}

/** Runs the publisher until `killAfter` acks have been read, SIGKILLs it, and returns every ack it printed. */
async function publishThenKill(dbPath: string, sync: SyncMode, killAfter: number): Promise<{ acked: Acked[]; signal: string | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, dbPath, sync], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acked: Acked[] = [];
  let ready = false;
  let pending = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? ''; // an unfinished last line is not an ack yet
    for (const line of lines) {
      if (line === 'READY') ready = true;
      else acked.push(JSON.parse(line) as Acked);
    }
    if (acked.length >= killAfter && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, s) => resolve([c, s]));
  });
  expect(ready, `publisher never started (exit ${code}): ${stderr}`).toBe(true);
  expect(signal, `publisher ended by itself (exit ${code}): ${stderr}`).toBe('SIGKILL');
  return { acked, signal };
}

let dir: TestDir;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(() => dir.cleanup());

describe.each(['full', 'normal'] as const)('SIGKILL while publishing, EVENTBUS_SYNC=%s', (sync) => {
  test('every acknowledged publish survives with its exact payload, and seqs keep increasing after reopening', async () => {
    // Not a round number, so the kill lands at a different point of a 200-publish batch each run.
    const killAfter = 2000 + Math.floor(Math.random() * 1500);
    const { acked } = await publishThenKill(dir.dbPath, sync, killAfter);
    expect(acked.length).toBeGreaterThanOrEqual(killAfter);
    expect(new Set(acked.map((a) => a.seq)).size, 'an acknowledged seq was handed out twice').toBe(acked.length);

    // The dead process's lock must not be stale: a new broker opens the file straight away.
    const reopened = await openSqliteBroker(testBrokerConfig(dir.dbPath, { sync }), silentLogger);
    expect(reopened.isOk() ? 'opened' : reopened.error.message).toBe('opened');
    const { broker } = reopened._unsafeUnwrap();
    try {
      const reader = new Database(dir.dbPath, { readonly: true });
      try {
        const select = reader.prepare<[number], { payload: string }>('SELECT payload FROM messages WHERE seq = ?');
        const missing: number[] = [];
        const wrong: number[] = [];
        for (const a of acked) {
          const row = select.get(a.seq);
          if (row === undefined) missing.push(a.seq);
          else if (row.payload !== a.payload) wrong.push(a.seq);
        }
        expect({ missing: missing.slice(0, 20), missingCount: missing.length }).toEqual({ missing: [], missingCount: 0 });
        expect({ wrong: wrong.slice(0, 20), wrongCount: wrong.length }).toEqual({ wrong: [], wrongCount: 0 });
      } finally {
        reader.close();
      }

      const maxAcked = Math.max(...acked.map((a) => a.seq));
      expect(broker.headSeq()).toBeGreaterThanOrEqual(maxAcked);
      const after = await Promise.all(
        Array.from({ length: 20 }, (_, i) => broker.publish({ topic: 'crash.after', payload: `after ${i}` })),
      );
      const seqs = after.map((r) => r._unsafeUnwrap().seq);
      for (const seq of seqs) expect(seq).toBeGreaterThan(maxAcked);
      expect(new Set(seqs).size).toBe(seqs.length);
    } finally {
      await broker.close();
    }
  });
});
