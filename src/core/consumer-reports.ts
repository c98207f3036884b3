// What the operator surface says of durable consumers (GET /api/consumers, a replay's answer): each one with
// its lag, dead letters and last failed push, counted in the store once what this broker resolved is written,
// so that every broker of a shared store reports the same figures.
import { errAsync, ResultAsync } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';
import type { ConsumerInfo, ConsumerRegistry } from './consumers.js';
import type { Dispatcher } from './dispatcher.js';
import { LagCounter } from './lag.js';
import type { EventStore, LastFailure, RemovedMessage, StorageError } from './store-port.js';
import { parseStoredFilter } from './subscribe-options.js';

/** A consumer with the figures that are counted from the store. */
export interface ConsumerReport extends ConsumerInfo {
  /** Matching messages neither acked nor dead-lettered (docs/database.md counts the same in SQL). */
  readonly lag: number;
  readonly deadLetters: number;
  /**
   * Its last failed push attempt (delivery_failures, so the same on every broker of a shared store), or null
   * when none is kept; it stays after the consumer recovers, with its time.
   */
  readonly lastFailure: LastFailure | null;
}

export interface ConsumerReportsOptions {
  readonly store: EventStore;
  readonly dispatcher: Dispatcher;
  readonly consumers: ConsumerRegistry;
  /** The topics the log holds, which a consumer's lag is counted over, in the order they first appeared. */
  readonly topics: () => readonly string[];
  readonly now: () => number;
}

export class ConsumerReports {
  readonly #store: EventStore;
  readonly #dispatcher: Dispatcher;
  readonly #consumers: ConsumerRegistry;
  readonly #lag: LagCounter;

  constructor(options: ConsumerReportsOptions) {
    this.#store = options.store;
    this.#dispatcher = options.dispatcher;
    this.#consumers = options.consumers;
    this.#lag = new LagCounter(options.store, options.topics, options.now);
  }

  /** The consumer with its lag and dead letters, counted now. */
  one(id: string): ResultAsync<ConsumerReport, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    const info = this.#consumers.info(id);
    if (info === undefined) return errAsync(brokerError('UNKNOWN_CONSUMER', `no consumer ${id}`));
    return this.#single(info);
  }

  /** Every consumer; one removed while the figures were being counted is left out. */
  all(): ResultAsync<ConsumerReport[], StorageError> {
    const infos = this.#consumers.list();
    return this.#lastFailures(infos).andThen((failures) =>
      ResultAsync.combine(infos.flatMap((info) => this.#report(info, failures) ?? [])),
    );
  }

  /**
   * The consumer as a rewind left it (`info` and `head` taken right after it): its lag every matching message
   * from its position to that head, none delivered again yet, whatever its subscribers have taken since.
   */
  rewound(info: ConsumerInfo, head: number): ResultAsync<ConsumerReport, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    return this.#single(info, { head, resolved: false });
  }

  /** One consumer's report; UNKNOWN_CONSUMER once it is removed (while the writes settled, or a rewind was stored). */
  #single(info: ConsumerInfo, at?: { head: number; resolved: false }): ResultAsync<ConsumerReport, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    return this.#lastFailures([info]).andThen((failures) => this.#report(info, failures, at) ?? errAsync(brokerError('UNKNOWN_CONSUMER', `no consumer ${info.id}`)));
  }

  /** The consumer is gone: its cached counts go with it. */
  forget(id: string): void {
    this.#lag.forget(id);
  }

  /** Retention removed these messages here. */
  removed(messages: readonly RemovedMessage[]): void {
    this.#lag.removed(messages);
  }

  /** Retention removed messages from `first` to `last` on another broker. */
  removedBetween(first: number, last: number): void {
    this.#lag.removedBetween(first, last);
  }

  /**
   * The last failure of each consumer, in one read for them all, once the acks and dead letters resolved so
   * far are written: the positions are this broker's as of now, and the lag and dead letters are counted in
   * the store, where a message dead-lettered a moment ago must count as a dead letter rather than as nothing.
   * Once for every report of a read, not once each. A consumer removed while the writes settle (by hand, or
   * a lapsed lease) is not asked about.
   */
  #lastFailures(infos: readonly ConsumerInfo[]): ResultAsync<Map<string, LastFailure>, StorageError> {
    return ResultAsync.fromSafePromise(this.#dispatcher.progress.settled()).andThen(() =>
      this.#store.lastFailures(
        infos.flatMap((info) => {
          const record = this.#consumers.record(info.id);
          return record === undefined ? [] : [{ id: info.id, sinceMs: record.createdAt }];
        }),
      ),
    );
  }

  /**
   * The consumer with its lag, dead letters and last failure; `at` counts the lag as it was at an earlier head, with nothing
   * resolved above the position since (right after a rewind). Undefined once the consumer is removed.
   */
  #report(info: ConsumerInfo, failures: ReadonlyMap<string, LastFailure>, at?: { head: number; resolved: false }): ResultAsync<ConsumerReport, StorageError> | undefined {
    const record = this.#consumers.record(info.id);
    if (record === undefined) return undefined;
    const filter = parseStoredFilter(record.filter).unwrapOr({ filter: undefined }).filter;
    const subject = { id: info.id, patterns: info.patterns, filter, filterJson: record.filter, position: info.position, rewoundAt: record.rewoundAt };
    const head = at?.head ?? this.#dispatcher.head();
    // Called once what was resolved is written (#lastFailures).
    return this.#lag
      .lag(subject, head, at === undefined)
      .andThen((lag) => this.#store.deadLetterCount(info.id, record.createdAt).map((deadLetters) => ({ ...info, lag, deadLetters, lastFailure: failures.get(info.id) ?? null })));
  }
}
