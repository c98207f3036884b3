// The audit log (PROTOCOL.md §12): every administrative action and every refusal, written a batch at a time so
// that a flood of refusals (a client retrying a bad token) costs one write per batch, not one per refusal, and
// pruned by age as the failure log is. Bounded in memory: past MAX_WAITING entries not yet written, the oldest
// waiting are counted and dropped, and the next batch says how many.
import type { Logger } from '../logger.js';
import type { AuditEntry, CredentialStore } from './store-port.js';

const FLUSH_MS = 250;
const MAX_WAITING = 10_000;
const PRUNE_MS = 60_000;
const PRUNE_BATCH = 5_000;
// What a client sent (a path, a topic, a reason quoting it) is kept to this much of each field: a refusal of a
// huge request must not make a huge row.
const MAX_FIELD = 500;

export interface AuditOptions {
  readonly store: CredentialStore;
  /** Entries older than this go (ms); undefined keeps them all. */
  readonly maxAgeMs: number | undefined;
  readonly now: () => number;
  readonly logger: Logger;
}

export class Audit {
  readonly #o: AuditOptions;
  #waiting: AuditEntry[] = [];
  #dropped = 0;
  #writes: Promise<void> = Promise.resolve();
  #flushTimer: NodeJS.Timeout | undefined;
  readonly #pruneTimer: NodeJS.Timeout | undefined;

  constructor(options: AuditOptions) {
    this.#o = options;
    if (options.maxAgeMs !== undefined) this.#pruneTimer = setInterval(() => void this.prune(), PRUNE_MS).unref();
  }

  /** Written within FLUSH_MS, with whatever else comes meanwhile. */
  record(entry: Omit<AuditEntry, 'at'>): void {
    if (this.#waiting.length >= MAX_WAITING) {
      this.#waiting.shift();
      this.#dropped++;
    }
    this.#waiting.push({
      at: this.#o.now(),
      credential: entry.credential,
      peer: field(entry.peer),
      action: field(entry.action),
      target: entry.target === null ? null : field(entry.target),
      outcome: field(entry.outcome),
    });
    this.#flushTimer ??= setTimeout(() => void this.flush(), FLUSH_MS).unref();
  }

  /** Writes what waits; resolves once it is written (or the write failed, which the log says). */
  flush(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    // One write at a time, each taking what waits when it starts.
    // A write that throws is a bug; it costs these entries, never the process (a flush runs from a timer).
    this.#writes = this.#writes
      .then(() => this.#write())
      .catch((e: unknown) => {
        this.#o.logger.error('writing the audit log failed; these entries are lost', { error: e instanceof Error ? e.stack : String(e) });
      });
    return this.#writes;
  }

  async #write(): Promise<void> {
    if (this.#waiting.length === 0) return;
    const batch = this.#waiting;
    this.#waiting = [];
    if (this.#dropped > 0) {
      batch.push({ at: this.#o.now(), credential: null, peer: '-', action: 'audit', target: null, outcome: `${this.#dropped} entries dropped: more came than could be written` });
      this.#dropped = 0;
    }
    const written = await this.#o.store.audit(batch);
    if (written.isErr()) this.#o.logger.warn('could not write the audit log; these entries are lost', { entries: batch.length, reason: written.error.message });
  }

  /** Removes entries past the maximum age, a batch at a time. */
  async prune(): Promise<void> {
    const { maxAgeMs, store, now, logger } = this.#o;
    if (maxAgeMs === undefined) return;
    const before = now() - maxAgeMs;
    for (;;) {
      const removed = await store.pruneAudit(before, PRUNE_BATCH);
      if (removed.isErr()) {
        logger.warn('could not prune the audit log; tried again later', { reason: removed.error.message });
        return;
      }
      if (removed.value < PRUNE_BATCH) return;
    }
  }

  /** Writes what waits and stops the timers. */
  async close(): Promise<void> {
    clearInterval(this.#pruneTimer);
    await this.flush();
  }
}

/**
 * A field as both stores can keep it: PostgreSQL's text holds no U+0000 (a malformed request's path may), so it
 * is written as U+FFFD; past MAX_FIELD, cut.
 */
function field(text: string): string {
  const kept = text.length > MAX_FIELD ? `${text.slice(0, MAX_FIELD)}…` : text;
  return kept.includes('\0') ? kept.replaceAll('\0', '\uFFFD') : kept;
}
