// A durable consumer's dead letters, for operators: listed a page at a time, requeued (delivered to it again
// from a first attempt, in seq order) or deleted, all of them or those chosen by seq or by a filter.
import { errAsync, ok, okAsync, safeTry, type ResultAsync } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';
import { compileFilter, type MessageFilter } from '../protocol/filter.js';
import type { ConsumerRegistry } from './consumers.js';
import { LogMessage, type DeadLetterRow, type DeadLetterSelection, type EventStore } from './store-port.js';

export interface DeadLetterPage {
  readonly deadLetters: DeadLetterRow[];
  /** Where the next page starts. */
  readonly nextSeq: number;
}

/** Which dead letters to requeue or delete: all when neither is given, else those chosen by both. */
export interface DeadLetterChoice {
  readonly seqs?: readonly number[] | undefined;
  /** A filter as subscribe takes it, on the dead letter's topic, payload and metadata. */
  readonly filter?: unknown;
}

export type DeadLetterError = BrokerError<'UNKNOWN_CONSUMER' | 'BAD_ARGS' | 'UNAVAILABLE'>;

// Dead letters read per page while a filter chooses which to take.
const FILTER_PAGE_ROWS = 1000;

export class DeadLetters {
  readonly #store: EventStore;
  readonly #consumers: ConsumerRegistry;
  readonly #now: () => number;

  constructor(store: EventStore, consumers: ConsumerRegistry, now: () => number) {
    this.#store = store;
    this.#consumers = consumers;
    this.#now = now;
  }

  list(id: string, fromSeq: number, limit: number): ResultAsync<DeadLetterPage, DeadLetterError> {
    const record = this.#consumers.record(id);
    if (record === undefined) return errAsync(unknown(id));
    return this.#store.listDeadLetters(id, record.createdAt, fromSeq, limit).map((deadLetters) => ({
      deadLetters,
      nextSeq: deadLetters.length === 0 ? fromSeq : deadLetters[deadLetters.length - 1]!.seq + 1,
    }));
  }

  /** Requeues the chosen dead letters; returns how many left the dead letters. */
  requeue(id: string, choice: DeadLetterChoice): ResultAsync<number, DeadLetterError> {
    return this.#select(id, choice).andThen((selection) =>
      selection === undefined
        ? okAsync(0)
        : this.#store
            .requeueDeadLetters(selection, this.#now())
            .andThen((n) => (n === 0 ? okAsync(n) : this.#consumers.takeRequeued(id).map(() => n))),
    );
  }

  /** Deletes the chosen dead letters; returns how many. */
  delete(id: string, choice: DeadLetterChoice): ResultAsync<number, DeadLetterError> {
    return this.#select(id, choice).andThen((selection) => (selection === undefined ? okAsync(0) : this.#store.deleteDeadLetters(selection, this.#now())));
  }

  /** The store's selection for a choice, or undefined when it takes nothing. */
  #select(id: string, choice: DeadLetterChoice): ResultAsync<DeadLetterSelection | undefined, DeadLetterError> {
    const record = this.#consumers.record(id);
    if (record === undefined) return errAsync(unknown(id));
    const { seqs } = choice;
    if (seqs !== undefined && !seqs.every((s) => Number.isSafeInteger(s) && s >= 1)) {
      return errAsync(brokerError('BAD_ARGS', 'seqs must be whole numbers from 1'));
    }
    const base = { consumer: id, sinceMs: record.createdAt };
    if (choice.filter === undefined || choice.filter === null) return okAsync(seqs === undefined ? base : { ...base, seqs });
    const filter = compileFilter(choice.filter);
    if (filter.isErr()) return errAsync(filter.error);
    const wanted = seqs === undefined ? undefined : new Set(seqs);
    return this.#chosenByFilter(base, filter.value, wanted).map((chosen) => (chosen.length === 0 ? undefined : { ...base, seqs: chosen }));
  }

  /** The seqs of the dead letters the filter takes (and `wanted` has, when given), read a page at a time. */
  #chosenByFilter(base: { consumer: string; sinceMs: number }, filter: MessageFilter, wanted: Set<number> | undefined): ResultAsync<number[], DeadLetterError> {
    const store = this.#store;
    return safeTry(async function* () {
      const chosen: number[] = [];
      let from = 1;
      for (;;) {
        const page = yield* store.listDeadLetters(base.consumer, base.sinceMs, from, FILTER_PAGE_ROWS);
        for (const d of page) {
          const asMessage = new LogMessage(d.seq, null, d.topic, d.payload, d.metadata, 0, null, d.deadAt);
          if ((wanted === undefined || wanted.has(d.seq)) && filter(asMessage)) chosen.push(d.seq);
        }
        if (page.length < FILTER_PAGE_ROWS) return ok(chosen);
        from = page[page.length - 1]!.seq + 1;
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
  }
}

function unknown(id: string): BrokerError<'UNKNOWN_CONSUMER'> {
  return brokerError('UNKNOWN_CONSUMER', `no consumer ${id}`);
}
