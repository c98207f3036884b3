// The writer thread: owns the one connection that writes, and runs each request as a synchronous
// transaction in arrival order. Inserts, fsyncs and ack bookkeeping happen here, on the second core, while
// the main thread parses, reads and delivers.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import type { SyncMode } from '../config.js';
import { applyPragmas } from './pragmas.js';
import { makeWriter, type WriteOp } from './write-queries.js';

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

port.on('message', (request: WriteRequest) => {
  if (request.op === 'close') {
    sqlite.close();
    port.postMessage({ id: request.id, result: null } satisfies WriteReply);
    port.close();
    return;
  }
  try {
    port.postMessage({ id: request.id, result: ops[request.op](...request.args) } satisfies WriteReply);
  } catch (e) {
    const error = e as Error & { code?: string };
    port.postMessage({ id: request.id, error: { code: error.code, message: error.message } } satisfies WriteReply);
  }
});
port.postMessage({ id: 0, result: 'ready' } satisfies WriteReply);
