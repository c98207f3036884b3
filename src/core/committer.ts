// Group commit: every publish that arrives while the event loop is busy joins the next transaction, and each
// caller learns its seq once that transaction is durable. One fsync serves hundreds of publishers.
import { err, errAsync, ok, okAsync, ResultAsync } from 'neverthrow';
import type { AppendRow, Appended, EventStore, StorageError } from '../store/store.js';
import type { StoredMessage } from './types.js';

/** A message ready to append: validated, metadata prepared, waiting for its commit time. */
export interface PendingRow {
  readonly topic: string;
  readonly payload: string;
  readonly messageId: string | null;
  /** The metadata JSON without the broker's timestamp, which is only known at commit. */
  readonly metadataTail: string;
  readonly ttlSeconds: number;
  readonly orderingKey: string | null;
}

interface Waiter {
  readonly rows: readonly PendingRow[];
  resolve(result: Appended[] | StorageError): void;
}

// One transaction holds at most this many rows: a client pipelining 100,000 lines should not freeze every
// other connection behind one huge commit.
const MAX_ROWS_PER_COMMIT = 4096;

export class Committer {
  readonly #store: EventStore;
  readonly #onCommit: (messages: StoredMessage[]) => void;
  #waiters: Waiter[] = [];
  #scheduled = false;
  /** A transaction is being written; arrivals wait for it and share the next one. */
  #writing = false;
  #lastCreatedAt = 0;
  #closed = false;

  constructor(store: EventStore, onCommit: (messages: StoredMessage[]) => void) {
    this.#store = store;
    this.#onCommit = onCommit;
  }

  /** Appends rows atomically (all or none); resolves once they are durable. */
  append(rows: readonly PendingRow[]): ResultAsync<Appended[], StorageError> {
    if (this.#closed) return errAsync({ code: 'UNAVAILABLE', reason: 'broker is shutting down' });
    if (rows.length === 0) return okAsync([]);
    const done = new Promise<Appended[] | StorageError>((resolve) => this.#waiters.push({ rows, resolve }));
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return new ResultAsync(done.then((r) => (Array.isArray(r) ? ok(r) : err(r))));
  }

  /** Refuses new appends; what is queued is still committed. */
  close(): void {
    this.#closed = true;
  }

  /** Resolves once every queued append has been committed (or failed). */
  async drained(): Promise<void> {
    while (this.#writing || this.#waiters.length > 0) await new Promise((resolve) => setImmediate(resolve));
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#writing || this.#waiters.length === 0) return;
    this.#writing = true;
    this.#commit(this.#takeGroup());
  }

  #takeGroup(): Waiter[] {
    let rows = 0;
    let i = 0;
    while (i < this.#waiters.length && (i === 0 || rows + this.#waiters[i]!.rows.length <= MAX_ROWS_PER_COMMIT)) {
      rows += this.#waiters[i]!.rows.length;
      i++;
    }
    return this.#waiters.splice(0, i);
  }

  #commit(group: Waiter[]): void {
    // Commit time never goes backwards along seq, even if the wall clock does: replay-from-time relies on it.
    const createdAt = (this.#lastCreatedAt = Math.max(this.#lastCreatedAt, Date.now()));
    const timestamp = `{"timestamp":${createdAt}`;
    const rows: (AppendRow & { seq: number })[] = [];
    for (const w of group) {
      for (const r of w.rows) {
        rows.push({
          seq: 0,
          topic: r.topic,
          payload: r.payload,
          messageId: r.messageId,
          metadata: r.metadataTail === '{}' ? `${timestamp}}` : `${timestamp},${r.metadataTail.slice(1)}`,
          ttlSeconds: r.ttlSeconds,
          orderingKey: r.orderingKey,
          createdAt,
        });
      }
    }
    // The SQLite store settles synchronously; the result is read through the promise all the same, so a
    // store that is truly asynchronous fits this code unchanged.
    void this.#store.append(rows).match(
      (appended) => {
        const fresh: StoredMessage[] = [];
        for (let i = 0; i < appended.length; i++) {
          const a = appended[i]!;
          if (a.duplicate) continue;
          const row = rows[i]!;
          row.seq = a.seq;
          fresh.push(row);
        }
        let offset = 0;
        for (const w of group) {
          w.resolve(appended.slice(offset, offset + w.rows.length));
          offset += w.rows.length;
        }
        if (fresh.length > 0) this.#onCommit(fresh);
        this.#next();
      },
      (e) => {
        for (const w of group) w.resolve(e);
        this.#next();
      },
    );
  }

  #next(): void {
    this.#writing = false;
    this.#flush();
  }
}
