// Removes messages in the background: TTL expiry, then the optional max-age and max-messages rules
// (EVENTBUS_RETENTION), then the acks that no longer matter and the push failures older than
// EVENTBUS_FAILURE_LOG_MAX_AGE. Small batches, one per macrotask, so a publish never waits behind a big
// delete.
import type { RetentionRule } from '../config.js';
import type { Logger } from '../logger.js';
import { ok, okAsync, safeTry, type ResultAsync } from 'neverthrow';
import type { EventStore, MessageHeader, MessageRef, StorageError } from './store-port.js';
import { topicMatches } from '../protocol/topics.js';
import type { TopicStats } from './topic-stats.js';

// At most 500 rows per delete: one large DELETE holds SQLite's write lock for a long time on a big log,
// and every publish would wait behind it.
const RETENTION_BATCH_ROWS = 500;
// Batches per tick: bounds the work of one tick; what is left is picked up by the next.
const MAX_BATCHES_PER_TICK = 20;

export class Retention {
  readonly #store: EventStore;
  readonly #rules: readonly RetentionRule[];
  readonly #topics: TopicStats;
  readonly #now: () => number;
  readonly #failureLogMaxAgeMs: number;
  readonly #log: Logger;
  readonly #removed: (messages: readonly MessageRef[]) => void;
  readonly #timer: NodeJS.Timeout;
  #running = false;
  #stopped = false;
  /** Where the age scan stopped last tick: a big log is covered across ticks, then the scan wraps. */
  #ageScanAfter = 0;
  /**
   * Where a count sweep stopped with messages still to drop. Every matching row before it is already gone,
   * so resuming there still removes the oldest first; it resets when a sweep finishes.
   */
  #countScanAfter = 0;

  constructor(deps: {
    store: EventStore;
    rules: readonly RetentionRule[];
    topics: TopicStats;
    now: () => number;
    intervalMs: number;
    /** 0 keeps every push failure. */
    failureLogMaxAgeMs: number;
    logger: Logger;
    /** Whether passes run here now (with several brokers on one store, one of them runs them). */
    active?: () => boolean;
    /** Told of the messages each batch removed. */
    removed?: (messages: readonly MessageRef[]) => void;
  }) {
    this.#store = deps.store;
    this.#rules = deps.rules;
    this.#topics = deps.topics;
    this.#now = deps.now;
    this.#failureLogMaxAgeMs = deps.failureLogMaxAgeMs;
    this.#log = deps.logger;
    this.#removed = deps.removed ?? (() => undefined);
    const active = deps.active ?? (() => true);
    this.#timer = setInterval(() => {
      if (active()) void this.runOnce();
    }, deps.intervalMs).unref();
  }

  /**
   * One pass: expired rows, then age rules, then count rules, then the acks of removed messages and old push
   * failures. Returns how many messages it removed. A storage failure ends the pass (logged); the next tick
   * tries again.
   */
  async runOnce(): Promise<number> {
    if (this.#running || this.#stopped) return 0;
    this.#running = true;
    let removed = 0;
    const count = (n: number): number => (removed += n);
    try {
      const pass = await this.#expire()
        .map(count)
        .andThen(() => this.#applyRules())
        .map(count)
        .andThen(() => this.#inBatches(() => this.#store.pruneProcessed(RETENTION_BATCH_ROWS)))
        .andThen(() => this.#pruneFailures());
      // Once the store has said it cannot be written, a pass a second saying so again is noise.
      const level = this.#store.writeFailure() === undefined ? 'warn' : 'debug';
      if (pass.isErr()) this.#log[level]('retention pass stopped; the next tick tries again', { reason: pass.error.message });
      return removed;
    } finally {
      this.#running = false;
    }
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  #expire(): ResultAsync<number, StorageError> {
    return this.#inBatches(() =>
      this.#store.deleteExpired(this.#now(), RETENTION_BATCH_ROWS).map((removed) => {
        for (const m of removed) this.#topics.deleted(m.topic);
        this.#removed(removed);
        return removed.length;
      }),
    );
  }

  /** delivery_failures rows past their age: a push endpoint that stays down must not fill the disk. */
  #pruneFailures(): ResultAsync<number, StorageError> {
    if (this.#failureLogMaxAgeMs === 0) return okAsync(0);
    const cutoff = this.#now() - this.#failureLogMaxAgeMs;
    return this.#inBatches(() => this.#store.pruneFailures(cutoff, RETENTION_BATCH_ROWS));
  }

  /**
   * Runs `batch` (it removes at most RETENTION_BATCH_ROWS rows and says how many) until one comes back short
   * or the tick's quota is used, yielding between batches; returns how many rows were removed.
   */
  #inBatches(batch: () => ResultAsync<number, StorageError>): ResultAsync<number, StorageError> {
    const isStopped = (): boolean => this.#stopped;
    return safeTry(async function* () {
      let removed = 0;
      for (let i = 0; i < MAX_BATCHES_PER_TICK && !isStopped(); i++) {
        const n = yield* batch();
        removed += n;
        if (n < RETENTION_BATCH_ROWS) break;
        await yieldToEventLoop();
      }
      return ok(removed);
    });
  }

  #applyRules(): ResultAsync<number, StorageError> {
    if (this.#rules.length === 0) return okAsync(0);
    const now = this.#now();
    const rules = this.#rules;
    // How many matching messages each count rule must still drop, oldest first.
    const excess = rules.map((rule) => {
      if (rule.maxMessages === undefined) return 0;
      let stored = 0;
      for (const topic of this.#topics.topics()) if (topicMatches(rule.pattern, topic)) stored += this.#topics.stored(topic);
      return Math.max(0, stored - rule.maxMessages);
    });
    const newestAgeCutoff = Math.max(...rules.map((r) => (r.maxAgeMs === undefined ? -Infinity : now - r.maxAgeMs)));
    if (excess.every((n) => n === 0) && newestAgeCutoff === -Infinity) return okAsync(0);
    const counting = excess.some((n) => n > 0);
    const store = this.#store;
    const topics = this.#topics;
    const removedHere = this.#removed;
    const isStopped = (): boolean => this.#stopped;
    /** Where the next pass starts: see #ageScanAfter and #countScanAfter. */
    const resumeAt = (after: number): void => {
      if (counting) this.#countScanAfter = excess.some((n) => n > 0) ? after : 0;
      else this.#ageScanAfter = after;
    };
    let after = counting ? this.#countScanAfter : this.#ageScanAfter;
    return safeTry(async function* () {
      let removed = 0;
      for (let i = 0; i < MAX_BATCHES_PER_TICK && !isStopped(); i++) {
        const headers = yield* store.readHeaders(after, RETENTION_BATCH_ROWS);
        if (headers.length === 0) {
          after = 0;
          break;
        }
        const doomed: MessageHeader[] = [];
        let pastEveryCutoff = true;
        for (const h of headers) {
          if (h.createdAt < newestAgeCutoff) pastEveryCutoff = false;
          for (let r = 0; r < rules.length; r++) {
            const rule = rules[r]!;
            if (!topicMatches(rule.pattern, h.topic)) continue;
            const tooOld = rule.maxAgeMs !== undefined && h.createdAt < now - rule.maxAgeMs;
            if (tooOld || excess[r]! > 0) {
              doomed.push(h);
              for (let k = 0; k < rules.length; k++) {
                if (excess[k]! > 0 && topicMatches(rules[k]!.pattern, h.topic)) excess[k]!--;
              }
              break;
            }
          }
        }
        if (doomed.length > 0) {
          yield* store.deleteSeqs(doomed.map((h) => h.seq));
          for (const h of doomed) topics.deleted(h.topic);
          removedHere(doomed);
        }
        removed += doomed.length;
        after = headers[headers.length - 1]!.seq;
        // The log is in created_at order: once past every age cutoff only count rules can still match.
        if (pastEveryCutoff && excess.every((n) => n === 0)) {
          after = 0;
          break;
        }
        await yieldToEventLoop();
      }
      resumeAt(after);
      return ok(removed);
    });
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
