// Group commit: every publish that arrives while the event loop is busy joins the next transaction, and each
// caller learns its seq once that transaction is durable. One fsync serves hundreds of publishers.
import { err, ok, type Result } from 'neverthrow';
import { SHUTTING_DOWN } from '../errors.js';
import { LogMessage, type Appended, type EventStore, type ScheduleClaim, type StorageError } from './store-port.js';
import { NO_TRACING, type PublishTrace, type Tracing } from './tracing.js';
import type { StoredMessage } from './types.js';

/**
 * A message ready to append: validated, metadata prepared, waiting for its commit time. Not yet a
 * StoredMessage: the commit time (created_at, and the metadata's timestamp) is known only when its group
 * commits, and its seq after that.
 */
export interface PendingRow {
  readonly topic: string;
  readonly payload: string;
  readonly messageId: string | null;
  /** The metadata JSON without the broker's timestamp, which is only known at commit. */
  readonly metadataTail: string;
  readonly ttlSeconds: number;
  readonly orderingKey: string | null;
  /** A schedule's fire: appended only if this claim holds (EventStore.append). */
  readonly claim?: ScheduleClaim;
}

interface Waiter {
  readonly rows: readonly PendingRow[];
  resolve(result: Result<Appended[], StorageError>): void;
  readonly trace: PublishTrace | undefined;
}

// One transaction holds at most this many rows: a client pipelining 100,000 lines should not freeze every
// other connection behind one huge commit.
const MAX_ROWS_PER_COMMIT = 4096;

export class Committer {
  readonly #store: EventStore;
  readonly #onCommit: (messages: StoredMessage[]) => void;
  readonly #tracing: Tracing;
  #waiters: Waiter[] = [];
  /** Rows in #waiters. */
  #waitingRows = 0;
  #scheduled = false;
  /** Transactions with the writer; arrivals wait and share the next one. */
  #inFlight = 0;
  #lastCreatedAt = 0;
  #closed = false;

  constructor(store: EventStore, onCommit: (messages: StoredMessage[]) => void, tracing: Tracing = NO_TRACING) {
    this.#store = store;
    this.#onCommit = onCommit;
    this.#tracing = tracing;
  }

  /**
   * Appends rows atomically (all or none); resolves once they are durable. A plain promise of a Result, not
   * a ResultAsync: this runs once per publish, and each ResultAsync step costs several promises.
   */
  append(given: readonly PendingRow[]): Promise<Result<Appended[], StorageError>> {
    if (this.#closed) return Promise.resolve(err({ code: 'UNAVAILABLE', message: SHUTTING_DOWN }));
    if (given.length === 0) return Promise.resolve(ok([]));
    let rows = given;
    let trace: PublishTrace | undefined;
    if (this.#tracing.on) {
      const t = (trace = this.#tracing.publish(given));
      rows = given.map((r, i) => (t.metadataTails[i] === r.metadataTail ? r : { ...r, metadataTail: t.metadataTails[i]! }));
    }
    const done = new Promise<Result<Appended[], StorageError>>((resolve) => this.#waiters.push({ rows, resolve, trace }));
    this.#waitingRows += rows.length;
    if (this.#inFlight === 0 && this.#waitingRows >= this.#store.grouping.eagerRows) {
      this.#inFlight++;
      this.#commit(this.#takeGroup());
      if (this.#waiters.length === 0) return done;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return done;
  }

  /** Refuses new appends; what is queued is still committed. */
  close(): void {
    this.#closed = true;
  }

  /** Resolves once every queued append has been committed (or failed). */
  async drained(): Promise<void> {
    while (this.#inFlight > 0 || this.#waiters.length > 0) await new Promise((resolve) => setImmediate(resolve));
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#inFlight < this.#store.grouping.inFlight && this.#waiters.length > 0) {
      this.#inFlight++;
      this.#commit(this.#takeGroup());
    }
  }

  #takeGroup(): Waiter[] {
    let rows = 0;
    let i = 0;
    while (i < this.#waiters.length && (i === 0 || rows + this.#waiters[i]!.rows.length <= MAX_ROWS_PER_COMMIT)) {
      rows += this.#waiters[i]!.rows.length;
      i++;
    }
    this.#waitingRows -= rows;
    return this.#waiters.splice(0, i);
  }

  #commit(group: Waiter[]): void {
    // Commit time never goes backwards along seq, even if the wall clock does: replay-from-time relies on it.
    const createdAt = (this.#lastCreatedAt = Math.max(this.#lastCreatedAt, Date.now()));
    const timestamp = `{"timestamp":${createdAt}`;
    const rows: LogMessage[] = [];
    let claims: (ScheduleClaim | undefined)[] | undefined;
    for (const w of group) {
      for (const r of w.rows) {
        const metadata = r.metadataTail === '{}' ? `${timestamp}}` : `${timestamp},${r.metadataTail.slice(1)}`;
        if (r.claim !== undefined) (claims ??= [])[rows.length] = r.claim;
        rows.push(new LogMessage(0, r.messageId, r.topic, r.payload, metadata, r.ttlSeconds, r.orderingKey, createdAt));
      }
    }
    // The SQLite store settles synchronously; the result is read through the promise all the same, so a
    // store that is truly asynchronous fits this code unchanged.
    void this.#store.append(rows, claims).match(
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
          const own = group.length === 1 ? appended : appended.slice(offset, offset + w.rows.length);
          w.trace?.durable(own, createdAt);
          w.resolve(ok(own));
          offset += w.rows.length;
        }
        if (fresh.length > 0) this.#onCommit(fresh);
        this.#next();
      },
      (e) => {
        for (const w of group) {
          w.trace?.failed(e.code, e.message);
          w.resolve(err(e));
        }
        this.#next();
      },
    );
  }

  #next(): void {
    this.#inFlight--;
    this.#flush();
  }
}
