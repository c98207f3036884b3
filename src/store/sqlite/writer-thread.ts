// The main thread's side of the writer thread: call(op, ...args) resolves with the transaction's result.
// Requests are answered in the order they were made; those made in one turn of the event loop are posted
// together, but for callNow()'s, which go at once.
import { Worker } from 'node:worker_threads';
import type { SyncMode } from '../../config.js';
import type { WriteReply, WriteRequest } from './writer-worker.js';
import type { Writer, WriteOp } from './write-queries.js';

/** A failed write: `code` is SQLite's (SQLITE_FULL, SQLITE_BUSY, …) when SQLite raised it. */
export class WriteError extends Error {
  readonly code: string | undefined;

  constructor(message: string, code: string | undefined) {
    super(message);
    this.name = 'WriteError';
    this.code = code;
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

// From dist/ the worker is plain JS. Run from src/ (tests, tsx) it is TypeScript, and Node 20 does not apply
// `--import` loaders to a worker's entry module, so a two-line bootstrap registers tsx first.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './writer-worker.ts' : './writer-worker.js', import.meta.url);
const SOURCE_BOOTSTRAP = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;

export class WriterThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  /** Requests made this turn of the event loop, posted at its end. */
  #queue: WriteRequest[] = [];
  /** Buffers of the queued requests' arguments handed over to the thread rather than copied (callHandingOver). */
  #handedOver: ArrayBuffer[] = [];
  #nextId = 1;
  #failure: Error | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (replies: WriteReply[]) => {
      for (const reply of replies) this.#settle(reply);
    });
    worker.on('error', (e) => this.#fail(e));
    worker.on('exit', (code) => {
      if (this.#pending.size > 0) this.#fail(new Error(`writer thread exited with code ${code}`));
    });
  }

  static start(path: string, sync: SyncMode): Promise<WriterThread> {
    const options = { workerData: { path, sync } };
    const worker = FROM_SOURCE ? new Worker(SOURCE_BOOTSTRAP, { ...options, eval: true }) : new Worker(WORKER_URL, options);
    return new Promise((resolve, reject) => {
      worker.once('message', () => resolve(new WriterThread(worker)));
      worker.once('error', reject);
    });
  }

  call<K extends WriteOp>(op: K, ...args: Parameters<Writer[K]>): Promise<ReturnType<Writer[K]>> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#queue.length === 0) process.nextTick(() => this.#post());
      this.#queue.push({ id, op, args });
    });
  }

  /**
   * As call(), but these buffers of the arguments go to the thread as they are, rather than copied: unusable
   * here from then on. An ack batch holds thousands of acks during a replay, tens of thousands when the writer
   * falls behind: copying its columns into the message is work the main thread need not do.
   */
  callHandingOver<K extends WriteOp>(op: K, buffers: readonly ArrayBuffer[], ...args: Parameters<Writer[K]>): Promise<ReturnType<Writer[K]>> {
    const result = this.call(op, ...args);
    if (this.#failure === undefined) this.#handedOver.push(...buffers);
    return result;
  }

  /** As call(), posted at once with what is queued: a commit that should start before the turn ends. */
  callNow<K extends WriteOp>(op: K, ...args: Parameters<Writer[K]>): Promise<ReturnType<Writer[K]>> {
    const result = this.call(op, ...args);
    this.#post();
    return result;
  }

  #post(): void {
    const queue = this.#queue;
    const handedOver = this.#handedOver;
    this.#queue = [];
    this.#handedOver = [];
    if (queue.length > 0 && this.#failure === undefined) this.#worker.postMessage(queue, handedOver);
  }

  /** Finishes every queued write, then closes the thread's connection. */
  async close(): Promise<void> {
    if (this.#failure !== undefined) return;
    const id = this.#nextId++;
    await new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#queue.push({ id, op: 'close', args: [] });
      this.#post();
    });
    await this.#worker.terminate();
  }

  #settle(reply: WriteReply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if ('error' in reply) pending.reject(new WriteError(reply.error.message, reply.error.code));
    else pending.resolve(reply.result);
  }

  #fail(error: Error): void {
    this.#failure = error;
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }
}
