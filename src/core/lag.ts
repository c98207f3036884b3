// A durable consumer's lag, one definition everywhere (PROTOCOL.md §8): the messages the log holds that match
// its patterns and filter and that it has neither acked nor dead-lettered. Counted from the store, so that
// every broker on a shared database says the same: the matching messages above its position, less those
// above it already acked or dead-lettered, plus the requeued dead letters waiting below it. docs/database.md
// gives the same count in SQL.
//
// Reading the matching messages above the position costs what the backlog holds, and a backlog grows without
// bound exactly when operators look. So that count is kept per consumer and moved on each read by what changed
// since: less what matched between the old position and the new, plus what matched between the old head and
// the new, two short index walks (none when neither moved). It is counted in full only when it cannot be
// moved: a first read, a rewind, new patterns or filter, a position that went back, or messages removed from
// between the two that could not be taken off (removed(), removedBetween()); and, to correct a drift nobody
// told of, in the background once RECOUNT_MS old.
import { err, ok, ResultAsync, type Result } from 'neverthrow';
import { topicMatches } from '../protocol/topics.js';
import type { MessageFilter } from '../protocol/filter.js';
import type { ConsumerTally, EventStore, MessageRef, StorageError } from './store-port.js';

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
const RECOUNT_MS = 10 * 60_000;
const PAGE_ROWS = 512;

/** A consumer's matching messages in (after, upTo], as counted or moved last. */
interface Kept {
  /** Its patterns, filter and last rewind: others, another count. */
  readonly patterns: readonly string[];
  readonly filterJson: string | null;
  readonly rewoundAt: number;
  readonly matches: (topic: string) => boolean;
  readonly filtered: boolean;
  readonly after: number;
  readonly upTo: number;
  readonly count: number;
  /** When it was last counted in full. */
  readonly countedAt: number;
  /** Messages were removed from (after, upTo] in a way the count could not follow: count in full next time. */
  readonly stale: boolean;
}

/** The topics the log holds that a consumer's patterns match, and how many of the log's it has looked at. */
interface TopicMatches {
  readonly patterns: readonly string[];
  seen: number;
  readonly topics: string[];
}

const samePatterns = (a: readonly string[], b: readonly string[]): boolean => a === b || (a.length === b.length && a.every((p, i) => p === b[i]));
/** Still the consumer it was counted for: its patterns, filter and last rewind. */
const sameSubject = (a: Kept, b: Kept): boolean => a.rewoundAt === b.rewoundAt && a.filterJson === b.filterJson && samePatterns(a.patterns, b.patterns);

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class LagCounter {
  readonly #store: EventStore;
  /** The topics the log holds, in the order they first appeared; only ever appended to. */
  readonly #topics: () => readonly string[];
  readonly #now: () => number;
  readonly #kept = new Map<string, Kept>();
  readonly #topicMatches = new Map<string, TopicMatches>();
  readonly #recounting = new Set<string>();
  /** Moves with every removal: a count that was under way meanwhile may have seen the rows or not. */
  #removals = 0;

  constructor(store: EventStore, topics: () => readonly string[], now: () => number) {
    this.#store = store;
    this.#topics = topics;
    this.#now = now;
  }

  /**
   * The consumer's lag with the log's head at `head`, its tally read up to that head; without `resolved`, as at
   * the moment of a rewind: none of the messages above the position acked or dead-lettered yet. A number at
   * once when the kept count needs no moving: a thousand idle consumers cost no promise and no closure each.
   */
  lag(subject: LagSubject, head: number, tally: ConsumerTally, resolved = true): number | ResultAsync<number, StorageError> {
    const kept = this.#kept.get(subject.id);
    const usable =
      kept !== undefined &&
      !kept.stale &&
      kept.rewoundAt === subject.rewoundAt &&
      kept.filterJson === subject.filterJson &&
      samePatterns(kept.patterns, subject.patterns) &&
      subject.position >= kept.after &&
      head >= kept.upTo;
    const matches = usable ? kept.matches : (topic: string): boolean => subject.patterns.some((p) => topicMatches(p, topic));
    const lagOf = (above: number): number => {
      let n = above;
      if (resolved) for (const m of tally.resolved) if (matches(m.topic)) n--;
      for (const m of tally.requeued) if (m.seq <= subject.position && matches(m.topic)) n++;
      return Math.max(0, n);
    };
    if (usable && subject.position === kept.after && head === kept.upTo) {
      if (this.#now() - kept.countedAt >= RECOUNT_MS) this.#recount(kept, subject);
      return lagOf(kept.count);
    }
    return this.#matching(subject, matches, head, usable ? kept : undefined).map(lagOf);
  }

  /** Messages this broker's retention removed: taken off the counts they were in. */
  removed(messages: readonly MessageRef[]): void {
    if (messages.length === 0) return;
    this.#removals++;
    let first = Infinity;
    let last = -Infinity;
    for (const m of messages) {
      first = Math.min(first, m.seq);
      last = Math.max(last, m.seq);
    }
    for (const [id, k] of this.#kept) {
      if (first > k.upTo || last <= k.after) continue;
      let n = 0;
      for (const m of messages) if (m.seq > k.after && m.seq <= k.upTo && k.matches(m.topic)) n++;
      // Whether a removed message passed a filter is not known without it: count again.
      if (n > 0) this.#kept.set(id, k.filtered ? { ...k, stale: true } : { ...k, count: k.count - n });
    }
  }

  /** Messages another broker's retention removed, somewhere from `first` to `last`: the counts there are counted again. */
  removedBetween(first: number, last: number): void {
    this.#removals++;
    for (const [id, k] of this.#kept) if (first <= k.upTo && last > k.after) this.#kept.set(id, { ...k, stale: true });
  }

  /** Forgets what is kept for a consumer (it was removed). */
  forget(id: string): void {
    this.#kept.delete(id);
    this.#topicMatches.delete(id);
  }

  /** The consumer's matching messages in (position, head]: the kept count moved there (`usable`), or counted in full. */
  #matching(subject: LagSubject, matches: (topic: string) => boolean, head: number, usable: Kept | undefined): ResultAsync<number, StorageError> {
    const { id, position, patterns, filterJson, rewoundAt } = subject;
    const count = this.#counter(subject, matches);
    const removals = this.#removals;
    const keep = (n: number, countedAt: number): void => {
      // A removal during the count: it may or may not have seen the rows.
      const stale = removals !== this.#removals;
      this.#kept.set(id, { patterns, filterJson, rewoundAt, matches, filtered: subject.filter !== undefined, after: position, upTo: head, count: n, countedAt, stale });
    };
    const run = async (): Promise<Result<number, StorageError>> => {
      if (usable === undefined) {
        const all = await count(position, head);
        if (all.isOk()) keep(all.value, this.#now());
        return all;
      }
      const passed = await count(usable.after, Math.min(position, usable.upTo));
      if (passed.isErr()) return passed;
      const added = await count(Math.max(usable.upTo, position), head);
      if (added.isErr()) return added;
      const n = usable.count - passed.value + added.value;
      keep(n, usable.countedAt);
      if (this.#now() - usable.countedAt >= RECOUNT_MS) this.#recount(usable, subject);
      return ok(n);
    };
    return new ResultAsync(run());
  }

  /** How the consumer's matching messages in (after, upTo] are counted: along the topics' index, or read through its filter. */
  #counter(subject: LagSubject, matches: (topic: string) => boolean): (after: number, upTo: number) => Promise<Result<number, StorageError>> {
    const { filter } = subject;
    return filter === undefined
      ? (after, upTo) => this.#countTopics(this.#topicsOf(subject.id, subject.patterns, matches), after, upTo)
      : (after, upTo) => this.#readCount(filter, matches, after, upTo);
  }

  /** Counts in full in the background, without holding up the read, a kept count RECOUNT_MS old. */
  #recount(kept: Kept, subject: LagSubject): void {
    const { id } = subject;
    if (this.#recounting.has(id)) return;
    this.#recounting.add(id);
    const { after, upTo } = this.#kept.get(id) ?? kept;
    const removals = this.#removals;
    void this.#counter(subject, kept.matches)(after, upTo).then((n) => {
      this.#recounting.delete(id);
      const now = this.#kept.get(id);
      // Kept only if nothing was removed meanwhile and the consumer is still the one counted.
      if (n.isOk() && removals === this.#removals && now !== undefined && sameSubject(now, kept)) {
        this.#kept.set(id, { ...now, after, upTo, count: n.value, countedAt: this.#now(), stale: false });
      }
    });
  }

  /** The log's topics the consumer's patterns match, looking only at the topics that appeared since the last time. */
  #topicsOf(id: string, patterns: readonly string[], matches: (topic: string) => boolean): readonly string[] {
    let cached = this.#topicMatches.get(id);
    if (cached === undefined || !samePatterns(cached.patterns, patterns)) {
      cached = { patterns, seen: 0, topics: [] };
      this.#topicMatches.set(id, cached);
    }
    const all = this.#topics();
    for (; cached.seen < all.length; cached.seen++) if (matches(all[cached.seen]!)) cached.topics.push(all[cached.seen]!);
    return cached.topics;
  }

  /** Matching messages in (after, upTo], along the (topic, seq) index. */
  async #countTopics(topics: readonly string[], after: number, upTo: number): Promise<Result<number, StorageError>> {
    if (upTo <= after || topics.length === 0) return ok(0);
    let n = 0;
    for (let from = after; from < upTo; from += COUNT_WINDOW_SEQS) {
      const to = Math.min(upTo, from + COUNT_WINDOW_SEQS);
      for (let i = 0; i < topics.length; i += TOPICS_PER_COUNT) {
        const part = await this.#store.countMessages(from, to, topics.slice(i, i + TOPICS_PER_COUNT));
        if (part.isErr()) return part;
        n += part.value;
        if (upTo - after > COUNT_WINDOW_SEQS || topics.length > TOPICS_PER_COUNT) await turn();
      }
    }
    return ok(n);
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
