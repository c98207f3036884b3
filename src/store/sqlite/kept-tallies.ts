// Consumers' tallies and last failures as last read, kept until a write that could change them. One broker
// holds the file (its lock keeps any other out), so every write that changes them is this process's own and
// passes through here: a read of a thousand consumers' figures asks the file only about those whose acks,
// dead letters, requeues or failures were written since, or whose position or head moved.
import type { ConsumerTally, LastFailure, TallyQuery } from '../../core/store-port.js';

interface Kept<T> {
  readonly key: string;
  /** The generations it was read at: the whole file's, and the consumer's own. */
  readonly all: number;
  readonly own: number;
  readonly value: T;
}

export class KeptTallies {
  /** Moved by a write that may touch any consumer's figures (operator actions, retention, pruning). */
  #all = 0;
  /** Moved by a write of one consumer's acks, dead letters or failures. */
  readonly #own = new Map<string, number>();
  readonly #tallies = new Map<string, Kept<ConsumerTally>>();
  readonly #failures = new Map<string, Kept<LastFailure | null>>();

  /** A write that may have changed any consumer's figures completed. */
  changedAll(): void {
    this.#all++;
    this.#tallies.clear();
    this.#failures.clear();
  }

  /** A write of these consumers' acks, dead letters, requeues or failures completed. */
  changed(consumers: Iterable<string>): void {
    for (const c of consumers) this.#own.set(c, (this.#own.get(c) ?? 0) + 1);
  }

  /** The tallies kept for the queries that can be answered so, and the queries that must be read. */
  tallies(queries: readonly TallyQuery[]): { kept: Map<string, ConsumerTally>; missing: TallyQuery[] } {
    return this.#split(this.#tallies, queries, (q) => q.consumer, tallyKey);
  }

  /** Tallies just read for these queries, read before any write that completes after this call. */
  keepTallies(queries: readonly TallyQuery[], read: ReadonlyMap<string, ConsumerTally>): void {
    for (const q of queries) this.#keep(this.#tallies, q.consumer, tallyKey(q), read.get(q.consumer)!);
  }

  lastFailures(consumers: readonly FailureQuery[]): { kept: Map<string, LastFailure | null>; missing: FailureQuery[] } {
    return this.#split(this.#failures, consumers, (c) => c.id, failureKey);
  }

  keepLastFailures(consumers: readonly FailureQuery[], read: ReadonlyMap<string, LastFailure>): void {
    for (const c of consumers) this.#keep(this.#failures, c.id, failureKey(c), read.get(c.id) ?? null);
  }

  /** A consumer removed: what was kept of it goes. */
  forget(consumer: string): void {
    this.#tallies.delete(consumer);
    this.#failures.delete(consumer);
    this.#own.delete(consumer);
  }

  #split<Q, T>(kept: Map<string, Kept<T>>, queries: readonly Q[], idOf: (q: Q) => string, keyOf: (q: Q) => string): { kept: Map<string, T>; missing: Q[] } {
    const found = new Map<string, T>();
    const missing: Q[] = [];
    for (const q of queries) {
      const id = idOf(q);
      const k = kept.get(id);
      if (k !== undefined && k.all === this.#all && k.own === (this.#own.get(id) ?? 0) && k.key === keyOf(q)) found.set(id, k.value);
      else missing.push(q);
    }
    return { kept: found, missing };
  }

  #keep<T>(kept: Map<string, Kept<T>>, id: string, key: string, value: T): void {
    kept.set(id, { key, all: this.#all, own: this.#own.get(id) ?? 0, value });
  }
}

type FailureQuery = { readonly id: string; readonly sinceMs: number };

function tallyKey(q: TallyQuery): string {
  return `${q.afterSeq} ${q.toSeq} ${q.rewoundAt} ${q.sinceMs}`;
}

function failureKey(c: FailureQuery): string {
  return String(c.sinceMs);
}
