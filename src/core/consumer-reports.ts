// What the operator surface says of durable consumers (GET /api/consumers, a replay's answer): each one with
// its lag, dead letters and last failed push, counted in the store once what this broker resolved is written,
// so that every broker of a shared store reports the same figures.
import { errAsync, okAsync, ResultAsync } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';
import type { ConsumerInfo, ConsumerRegistry } from './consumers.js';
import type { Dispatcher } from './dispatcher.js';
import { LagCounter } from './lag.js';
import type { EventStore, LastFailure, MessageRef, StorageError } from './store-port.js';
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
    return this.#reports(this.#consumers.list());
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
    return this.#reports([info], at).andThen(([report]) => (report === undefined ? errAsync(brokerError('UNKNOWN_CONSUMER', `no consumer ${info.id}`)) : okAsync(report)));
  }

  /** The consumer is gone: its cached counts go with it. */
  forget(id: string): void {
    this.#lag.forget(id);
  }

  /** Retention removed these messages here. */
  removed(messages: readonly MessageRef[]): void {
    this.#lag.removed(messages);
  }

  /** Retention removed messages from `first` to `last` on another broker. */
  removedBetween(first: number, last: number): void {
    this.#lag.removedBetween(first, last);
  }

  /**
   * The consumers' reports, once the acks and dead letters resolved so far are written: the positions are this
   * broker's as of now, and the lag and dead letters are counted in the store, where a message dead-lettered a
   * moment ago must count as a dead letter rather than as nothing. What the store is asked (last failures,
   * tallies) is asked once for them all, not once each. A consumer removed while the writes settle (by hand, or
   * a lapsed lease) is left out. `at` counts the lag as it was at an earlier head, with nothing resolved above
   * the position since (right after a rewind).
   */
  #reports(infos: readonly ConsumerInfo[], at?: { head: number; resolved: false }): ResultAsync<ConsumerReport[], StorageError> {
    return ResultAsync.fromSafePromise(this.#dispatcher.progress.settled()).andThen(() => {
      const head = at?.head ?? this.#dispatcher.head();
      const asked = infos.flatMap((info) => {
        const record = this.#consumers.record(info.id);
        return record === undefined ? [] : [{ info, record }];
      });
      const failures = this.#store.lastFailures(asked.map(({ info, record }) => ({ id: info.id, sinceMs: record.createdAt })));
      const tallies = this.#store.consumerTallies(
        asked.map(({ info, record }) => ({ consumer: info.id, afterSeq: info.position, toSeq: head, rewoundAt: record.rewoundAt, sinceMs: record.createdAt })),
      );
      return ResultAsync.combine([failures, tallies] as const).andThen(([lastFailures, tallied]) => {
        // Most lags are known at once; only those the store must count wait.
        const reports: ConsumerReport[] = [];
        const counting: ResultAsync<void, StorageError>[] = [];
        asked.forEach(({ info, record }, i) => {
          const tally = tallied.get(info.id)!;
          const filter = record.filter === null ? undefined : parseStoredFilter(record.filter).unwrapOr({ filter: undefined }).filter;
          const subject = { id: info.id, patterns: info.patterns, filter, filterJson: record.filter, position: info.position, rewoundAt: record.rewoundAt };
          const report = (lag: number): void => {
            // The spread last: V8 copies the info's own fields after the literal's quickly, while properties
            // added after a spread cost a slow path per object (µs each, a thousand consumers per read).
            reports[i] = { lag, deadLetters: tally.deadLetters, lastFailure: lastFailures.get(info.id) ?? null, ...info };
          };
          const lag = this.#lag.lag(subject, head, tally, at === undefined);
          if (typeof lag === 'number') report(lag);
          else counting.push(lag.map(report));
        });
        return ResultAsync.combine(counting).map(() => reports);
      });
    });
  }
}
