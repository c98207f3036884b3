// Per-topic counters for stats(), the topics report and count-based retention: messages stored now,
// published since start, and a publish rate sampled once per tick.
import type { ResultAsync } from 'neverthrow';
import type { EventStore, StorageError } from './store-port.js';

export interface TopicSnapshot {
  readonly topic: string;
  /** Messages of this topic in the log now. */
  readonly stored: number;
  /** Published since the broker started. */
  readonly published: number;
  /** Messages per second over the last sampling interval. */
  readonly ratePerSec: number;
}

/** A topic the log holds. */
export interface TopicReport {
  readonly topic: string;
  readonly messages: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly publishedPerSec: number;
}

interface Counters {
  stored: number;
  published: number;
  publishedAtSample: number;
  ratePerSec: number;
}

export class TopicStats {
  readonly #topics = new Map<string, Counters>();
  /** The same topics, in the order they first appeared. */
  readonly #known: string[] = [];
  #sampledAt: number;

  constructor(now: number) {
    this.#sampledAt = now;
  }

  load(storedByTopic: ReadonlyMap<string, number>): void {
    for (const [topic, n] of storedByTopic) this.#counters(topic).stored = n;
  }

  published(topic: string): void {
    const c = this.#counters(topic);
    c.stored++;
    c.published++;
  }

  deleted(topic: string): void {
    const c = this.#topics.get(topic);
    if (c !== undefined && c.stored > 0) c.stored--;
  }

  stored(topic: string): number {
    return this.#topics.get(topic)?.stored ?? 0;
  }

  topics(): IterableIterator<string> {
    return this.#topics.keys();
  }

  /** Every topic counted here, in the order they first appeared; a topic stays once seen, so this only grows. */
  known(): readonly string[] {
    return this.#known;
  }

  /** Turns the publishes since the last sample into rates. */
  sample(now: number): void {
    const seconds = (now - this.#sampledAt) / 1000;
    if (seconds <= 0) return;
    for (const c of this.#topics.values()) {
      c.ratePerSec = (c.published - c.publishedAtSample) / seconds;
      c.publishedAtSample = c.published;
    }
    this.#sampledAt = now;
  }

  snapshot(): TopicSnapshot[] {
    return [...this.#topics].map(([topic, c]) => ({
      topic,
      stored: c.stored,
      published: c.published,
      ratePerSec: Math.round(c.ratePerSec * 10) / 10,
    }));
  }

  #counters(topic: string): Counters {
    let c = this.#topics.get(topic);
    if (c === undefined) {
      c = { stored: 0, published: 0, publishedAtSample: 0, ratePerSec: 0 };
      this.#topics.set(topic, c);
      this.#known.push(topic);
    }
    return c;
  }
}

/** Every topic the log holds, with its count and rate as counted here and its first and last seq read from the store. */
export function topicReports(stats: TopicStats, store: EventStore): ResultAsync<TopicReport[], StorageError> {
  const snapshot = stats.snapshot();
  return store.topicBounds(snapshot.map((t) => t.topic)).map((bounds) =>
    snapshot.flatMap((t) => {
      const b = bounds.get(t.topic);
      return b === undefined ? [] : [{ topic: t.topic, messages: t.stored, firstSeq: b.first, lastSeq: b.last, publishedPerSec: t.ratePerSec }];
    }),
  );
}
