// A durable consumer's lag, one definition everywhere (PROTOCOL.md §8): the messages the log holds that match
// its patterns and filter and that it has neither acked nor dead-lettered. Counted from the store, so that
// every broker on a shared database says the same: the matching messages above its position, less those
// above it already acked or dead-lettered, plus the requeued dead letters waiting below it. docs/database.md
// gives the same count in SQL.
import { err, ok, okAsync, ResultAsync, safeTry, type Result } from 'neverthrow';
import { topicMatches } from '../protocol/topics.js';
import type { MessageFilter } from '../protocol/filter.js';
import type { EventStore, StorageError } from './store-port.js';

export interface LagSubject {
  readonly id: string;
  readonly patterns: readonly string[];
  /** The compiled filter and its JSON text (the cache's key), or undefined and null. */
  readonly filter: MessageFilter | undefined;
  readonly filterJson: string | null;
  readonly position: number;
  readonly rewoundAt: number;
}

// Seqs counted per statement, and topics per statement: a count of a big backlog is a series of short
// index walks with the event loop free between them, never one long one.
const COUNT_WINDOW_SEQS = 1 << 18;
const TOPICS_PER_COUNT = 256;
// A filtered consumer's matching messages can only be counted by reading them: the count is kept, and moved
// along with the position and the head rather than read again in full, but for this often, which brings in
// what was deleted in between (by retention here or on another broker).
const FILTERED_RECOUNT_MS = 60_000;
const PAGE_ROWS = 512;

interface FilteredCount {
  readonly key: string;
  readonly after: number;
  readonly upTo: number;
  readonly count: number;
  readonly at: number;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class LagCounter {
  readonly #store: EventStore;
  readonly #topics: () => Iterable<string>;
  readonly #now: () => number;
  readonly #filtered = new Map<string, FilteredCount>();

  constructor(store: EventStore, topics: () => Iterable<string>, now: () => number) {
    this.#store = store;
    this.#topics = topics;
    this.#now = now;
  }

  /**
   * The consumer's lag with the log's head at `head`; without `resolved`, as at the moment of a rewind: none
   * of the messages above the position acked or dead-lettered yet.
   */
  lag(subject: LagSubject, head: number, resolved = true): ResultAsync<number, StorageError> {
    const matches = (topic: string): boolean => subject.patterns.some((p) => topicMatches(p, topic));
    const { id, position, rewoundAt } = subject;
    const matching = (): ResultAsync<number, StorageError> =>
      subject.filter === undefined ? this.#countTopics(matches, position, head) : this.#countFiltered(subject, matches, head);
    const store = this.#store;
    return safeTry(async function* () {
      const above = yield* matching();
      const done = resolved ? (yield* store.resolvedAbove(id, position, head, rewoundAt)).filter((m) => matches(m.topic)).length : 0;
      const waiting = (yield* store.requeued(id)).filter((m) => m.seq <= position && matches(m.topic)).length;
      return ok(Math.max(0, above - done + waiting));
    });
  }

  /** Forgets what is kept for a consumer (it was removed). */
  forget(id: string): void {
    this.#filtered.delete(id);
  }

  /** Matching messages in (after, upTo], along the (topic, seq) index. */
  #countTopics(matches: (topic: string) => boolean, after: number, upTo: number): ResultAsync<number, StorageError> {
    if (upTo <= after) return okAsync(0);
    const topics = [...this.#topics()].filter(matches);
    const store = this.#store;
    return safeTry(async function* () {
      let n = 0;
      for (let from = after; from < upTo; from += COUNT_WINDOW_SEQS) {
        const to = Math.min(upTo, from + COUNT_WINDOW_SEQS);
        for (let i = 0; i < topics.length; i += TOPICS_PER_COUNT) {
          n += yield* store.countMessages(from, to, topics.slice(i, i + TOPICS_PER_COUNT));
          await turn();
        }
      }
      return ok(n);
    });
  }

  #countFiltered(subject: LagSubject, matches: (topic: string) => boolean, head: number): ResultAsync<number, StorageError> {
    const key = `${subject.patterns.join('\u0000')}\u0000${subject.filterJson}\u0000${subject.rewoundAt}`;
    const kept = this.#filtered.get(subject.id);
    const now = this.#now();
    const { position } = subject;
    const count = (after: number, upTo: number): Promise<Result<number, StorageError>> => this.#readCount(subject.filter!, matches, after, upTo);
    const run = async (): Promise<Result<number, StorageError>> => {
      const moved = kept?.key === key && position >= kept.after && head >= kept.upTo && now - kept.at < FILTERED_RECOUNT_MS ? kept : undefined;
      let n: number;
      if (moved === undefined) {
        const all = await count(position, head);
        if (all.isErr()) return all;
        n = all.value;
      } else {
        const passed = await count(moved.after, Math.min(position, moved.upTo));
        if (passed.isErr()) return passed;
        const added = await count(Math.max(moved.upTo, position), head);
        if (added.isErr()) return added;
        n = moved.count - passed.value + added.value;
      }
      this.#filtered.set(subject.id, { key, after: position, upTo: head, count: n, at: moved?.at ?? now });
      return ok(n);
    };
    return new ResultAsync(run());
  }

  /** Matching messages in (after, upTo] that pass the filter, read a page at a time. */
  async #readCount(filter: MessageFilter, matches: (topic: string) => boolean, after: number, upTo: number): Promise<Result<number, StorageError>> {
    let n = 0;
    let from = after + 1;
    while (from <= upTo) {
      const page = await this.#store.read(from, PAGE_ROWS);
      if (page.isErr()) return err(page.error);
      for (const m of page.value) if (m.seq <= upTo && matches(m.topic) && filter(m)) n++;
      if (page.value.length < PAGE_ROWS) break;
      from = page.value[page.value.length - 1]!.seq + 1;
      await turn();
    }
    return ok(n);
  }
}
