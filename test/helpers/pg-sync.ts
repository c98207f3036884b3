// A synchronous SQL look at a PostgreSQL schema, so that the broker-level tests check what was stored the same
// way on both stores (a SQLite file is read synchronously with better-sqlite3). A worker thread keeps one
// connection and runs the query while this thread waits on an Atomics flag: that adds about 0.4 ms to the
// query itself, where spawning psql for it took 24 ms (49 ms through Debian's psql wrapper) on this 2-core
// machine, mostly connecting, and an in-process broker under test cannot run while this thread waits.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { PG_URL } from './postgres.js';

// Far longer than any check takes; a query that never answers fails the test rather than hanging it.
const QUERY_TIMEOUT_MS = 20_000;

interface Link {
  readonly port: MessagePort;
  readonly done: Int32Array;
}

let link: Link | undefined;

function open(): Link {
  const { port1, port2 } = new MessageChannel();
  const flag = new SharedArrayBuffer(4);
  const worker = new Worker(new URL('./pg-sync-worker.mjs', import.meta.url), {
    workerData: { url: PG_URL, port: port2, flag },
    transferList: [port2],
  });
  // The test file's process ends when its tests do, connection or not.
  worker.unref();
  port1.unref();
  return { port: port1, done: new Int32Array(flag) };
}

/** `sql` with its `?` parameters numbered as PostgreSQL's ($1, $2, …); the tests' SQL has no `?` in its literals. */
export function pgPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Runs `text` with `values` ($1, $2, …) in `schema` and returns its rows; bigint columns come back as numbers. */
export function pgQuerySync<T>(schema: string, text: string, values: readonly unknown[] = []): T[] {
  link ??= open();
  Atomics.store(link.done, 0, 0);
  link.port.postMessage({ schema, text, values });
  if (Atomics.wait(link.done, 0, 0, QUERY_TIMEOUT_MS) === 'timed-out') throw new Error(`no answer from PostgreSQL within ${QUERY_TIMEOUT_MS} ms to: ${text}`);
  const answer = receiveMessageOnPort(link.port)?.message as { rows?: T[]; error?: string } | undefined;
  if (answer?.rows === undefined) throw new Error(answer?.error ?? `no answer from the query worker to: ${text}`);
  return answer.rows;
}
