// The writer thread: owns the one connection that writes. Inserts, fsyncs and ack bookkeeping happen here,
// on the second core, while the main thread parses, reads and delivers. Every request that is waiting when
// the thread gets to work is run in one transaction, each in its own savepoint: appends, acks and status
// updates that arrive together share one fsync instead of queueing behind each other's.
import Database from 'better-sqlite3';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { SyncMode } from '../../config.js';
import { applyPragmas } from './pragmas.js';
import { makeWriter, needsFsync, type WriteOp } from './write-queries.js';

export interface WriteRequest {
  readonly id: number;
  readonly op: WriteOp | 'close';
  readonly args: readonly unknown[];
}

export type WriteReply =
  | { readonly id: number; readonly result: unknown }
  | { readonly id: number; readonly error: { readonly code: string | undefined; readonly message: string } };

const { path, sync } = workerData as { path: string; sync: SyncMode };
const port = parentPort!;
const sqlite = new Database(path);
applyPragmas(sqlite, sync);
const writer = makeWriter(sqlite);
const ops = writer as unknown as Record<WriteOp, (...args: unknown[]) => unknown>;

const begin = sqlite.prepare('BEGIN IMMEDIATE');
const commit = sqlite.prepare('COMMIT');
let synchronous: 'FULL' | 'NORMAL' = sync === 'full' ? 'FULL' : 'NORMAL';

// A batch of requests per message, and one message with every reply per transaction: each message wakes the
// other thread, which costs tens of microseconds on a virtual machine.
port.on('message', (first: WriteRequest[]) => {
  const batch = first;
  for (let next = receiveMessageOnPort(port); next !== undefined; next = receiveMessageOnPort(port)) {
    for (const request of next.message as WriteRequest[]) batch.push(request);
  }
  const close = batch.findIndex((r) => r.op === 'close');
  port.postMessage(runAll(close < 0 ? batch : batch.slice(0, close)));
  if (close < 0) return;
  sqlite.close();
  port.postMessage([{ id: batch[close]!.id, result: null }] satisfies WriteReply[]);
  port.close();
});

/** One transaction; an op that throws is rolled back to its savepoint (ops nest theirs) and the rest go on. */
function runAll(batch: readonly WriteRequest[]): WriteReply[] {
  setSynchronous(sync === 'full' && batch.some((r) => needsFsync(r.op)) ? 'FULL' : 'NORMAL');
  if (batch.length <= 1) return batch.map(run);
  try {
    begin.run();
  } catch (e) {
    return batch.map((r) => failed(r, e));
  }
  const replies = batch.map(run);
  // A failure SQLite answers by rolling back the whole transaction (SQLITE_FULL, IOERR, …) undoes the ops
  // before it too: every op of the batch failed then.
  const abort = sqlite.inTransaction ? undefined : replies.find((r) => 'error' in r);
  if (abort !== undefined) return batch.map(({ id }) => ({ ...abort, id }));
  try {
    commit.run();
    return replies;
  } catch (e) {
    if (sqlite.inTransaction) sqlite.exec('ROLLBACK');
    return batch.map((r) => failed(r, e));
  }
}

// A change of the setting takes effect with the next transaction; SQLite allows it at any time, and in WAL
// mode NORMAL never risks corruption, only the durability of the newest commits.
function setSynchronous(level: 'FULL' | 'NORMAL'): void {
  if (level === synchronous) return;
  sqlite.pragma(`synchronous = ${level}`);
  synchronous = level;
}

function run(request: WriteRequest): WriteReply {
  try {
    return { id: request.id, result: ops[request.op as WriteOp](...request.args) };
  } catch (e) {
    return failed(request, e);
  }
}

function failed(request: WriteRequest, e: unknown): WriteReply {
  const error = e as Error & { code?: string };
  return { id: request.id, error: { code: error.code, message: error.message } };
}
port.postMessage([{ id: 0, result: 'ready' }] satisfies WriteReply[]);
