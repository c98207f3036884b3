// The broker API: the one surface every front-end (telnet ingress, registration, WebSocket, SDK, embedding)
// calls. Validates input into Results, group-commits publishes, and hands subscriptions to the dispatcher;
// durable consumers are kept by the ConsumerRegistry (consumers.ts), request/reply is in request-reply.ts.
import { err, errAsync, ok, okAsync, ResultAsync, type Result } from 'neverthrow';
import type { Config } from '../config.js';
import { brokerError, SHUTTING_DOWN, type BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EventStore, LastFailure, MessageRecord, StorageError } from './store-port.js';
import { Cluster } from './cluster.js';
import { Committer, type PendingRow } from './committer.js';
import { browse, isHeld, type BrowsePage } from './browse.js';
import { ConsumerRegistry, parseStoredFilter, type ConsumerInfo } from './consumers.js';
import { DeadLetters, type DeadLetterChoice, type DeadLetterError, type DeadLetterPage } from './dead-letters.js';
import { LagCounter } from './lag.js';
import { Dispatcher } from './dispatcher.js';
import { LogFollower } from './log-follower.js';
import { toPendingRow, type PublishError } from './publish-input.js';
import { sendReply, sendRequest } from './request-reply.js';
import { Retention } from './retention.js';
import type { Stream } from './stream.js';
import { checkSubscribe, type ConsumerInput, type SubscribeError, type SubscribeOptions } from './subscribe-options.js';
import { TopicStats, type TopicSnapshot } from './topic-stats.js';
import type { DeliveryFailure, Published, PublishInput, Sink, StartAt, StoredMessage } from './types.js';

// Callers import these from the broker, the API they are part of.
export type { ConsumerInfo } from './consumers.js';
export type { DeadLetterChoice, DeadLetterError, DeadLetterPage } from './dead-letters.js';
export type { BrowsePage } from './browse.js';
export type { DeadLetterRow, LastFailure, MessageRecord } from './store-port.js';

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

/** A topic the log holds. */
export interface TopicReport {
  readonly topic: string;
  readonly messages: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly publishedPerSec: number;
}
export type { ConsumerInput, SubscribeError, SubscribeOptions } from './subscribe-options.js';

export type BrokerConfig = Pick<
  Config,
  | 'defaultTtlSeconds'
  | 'ackTimeoutMs'
  | 'maxDeliveries'
  | 'maxInFlight'
  | 'maxPayloadBytes'
  | 'retention'
  | 'retentionIntervalMs'
> &
  // Absent: every push failure is kept; durable consumers in the default number of partitions.
  Partial<Pick<Config, 'failureLogMaxAgeMs' | 'consumerPartitions' | 'deliveryReservation'>>;

/** Partitions of a shared durable consumer when the settings do not say. */
const DEFAULT_PARTITIONS = 16;
// As EVENTBUS_DELIVERY_RESERVATION's default (config.ts), for embedders that leave it out.
const DEFAULT_RESERVATION = 1000;

export interface Subscribed {
  readonly subscriptionId: string;
  /** The last seq in the log when the subscription was made. */
  readonly headSeq: number;
}

export type UnknownSubscription = BrokerError<'UNKNOWN_SUBSCRIPTION'>;

export interface BrokerStats {
  readonly headSeq: number;
  readonly topics: TopicSnapshot[];
  /** Messages sent to subscribers and push consumers per second over the last sampling interval, redeliveries included. */
  readonly deliveredPerSec: number;
  readonly consumers: ConsumerInfo[];
  readonly subscriptions: number;
}

const STATS_SAMPLE_MS = 1000;
// How often leased consumers (a side replay's) are checked: one whose lease lapsed goes within this.
const LEASE_CHECK_MS = 1000;
// Every ack returns this one: an Ok is immutable, and a new one per ack is garbage at replay speed.
const DONE: Result<void, never> = ok(undefined);

export class Broker {
  readonly #config: BrokerConfig;
  readonly #store: EventStore;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #dispatcher: Dispatcher;
  readonly #committer: Committer;
  readonly #follower: LogFollower;
  readonly #retention: Retention;
  readonly #topics: TopicStats;
  readonly #consumers: ConsumerRegistry;
  readonly #lag: LagCounter;
  readonly #deadLetters: DeadLetters;
  /** Present when other brokers share the store. */
  readonly #cluster: Cluster | undefined;
  readonly #statsTimer: NodeJS.Timeout;
  readonly #leaseTimer: NodeJS.Timeout;
  readonly #changeListeners: ((consumer: string) => void)[] = [];
  readonly #deliveryRate = { sampledAt: 0, deliveries: 0, perSec: 0 };
  /** Subscriptions answered but not attached yet (see subscribe). */
  readonly #pendingAttach = new Map<string, Stream>();
  #nextSubscription = 1;
  /** Publishes and subscriptions are refused from now on (drain). */
  #draining = false;
  #closed = false;

  /**
   * The broker over an open store: restores the topic counts and the durable consumers. The broker owns the
   * store from here on, and closes it with itself (at once, when restoring fails).
   */
  static async open(
    store: EventStore,
    config: BrokerConfig,
    logger: Logger,
    options: { now?: () => number } = {},
  ): Promise<Result<Broker, StorageError>> {
    const broker = new Broker(config, store, logger, options.now ?? Date.now);
    const restored = await broker.#restore();
    if (restored.isErr()) {
      await broker.close();
      return err(restored.error);
    }
    return ok(broker);
  }

  private constructor(config: BrokerConfig, store: EventStore, logger: Logger, now: () => number) {
    this.#config = config;
    this.#store = store;
    this.#log = logger;
    this.#now = now;
    this.#topics = new TopicStats(now());
    const shared = store.cluster;
    const partitions = config.consumerPartitions ?? DEFAULT_PARTITIONS;
    this.#dispatcher = new Dispatcher(
      store,
      {
        ackTimeoutMs: config.ackTimeoutMs,
        maxDeliveries: config.maxDeliveries,
        reservation: config.deliveryReservation ?? DEFAULT_RESERVATION,
        now,
        partitions: shared === undefined ? undefined : partitions,
      },
      logger,
    );
    const dispatcher = this.#dispatcher;
    this.#follower = new LogFollower(
      store,
      {
        head: () => dispatcher.head(),
        deliver: (messages) => {
          for (const m of messages) this.#topics.published(m.topic);
          dispatcher.onCommit(messages);
        },
        skim: (headers) => {
          for (const h of headers) this.#topics.published(h.topic);
          dispatcher.advance(headers[headers.length - 1]!.seq);
        },
        advance: (seq) => {
          dispatcher.advance(seq);
        },
        eager: () => dispatcher.hasMembers(),
      },
      logger,
    );
    this.#committer = new Committer(store, (messages) => {
      this.#follower.local(messages);
    });
    this.#retention = new Retention({
      store,
      rules: config.retention,
      topics: this.#topics,
      now,
      intervalMs: config.retentionIntervalMs,
      failureLogMaxAgeMs: config.failureLogMaxAgeMs ?? 0,
      logger,
      // Shared: one broker at a time.
      active: () => this.#cluster?.runs('retention') ?? true,
    });
    this.#consumers = new ConsumerRegistry({
      store,
      dispatcher: this.#dispatcher,
      logger,
      now,
      startSeq: (start) => this.#startSeq(start),
      elsewhere: shared === undefined ? undefined : (id) => this.#cluster!.elsewhere(id),
    });
    this.#lag = new LagCounter(store, () => this.#topics.topics(), now);
    this.#deadLetters = new DeadLetters(store, this.#consumers, now);
    store.onConsumerSignal((signal) => {
      this.#consumers.applySignal(signal);
    });
    if (shared !== undefined) {
      const cluster = new Cluster({
        port: shared,
        store,
        dispatcher: this.#dispatcher,
        consumers: this.#consumers,
        partitions,
        ackTimeoutMs: config.ackTimeoutMs,
        logger,
      });
      this.#cluster = cluster;
      this.#dispatcher.onMembersChanged(() => {
        cluster.nudge();
      });
      // Given up at once, for the broker it goes to.
      this.#dispatcher.onPartitionDrained(() => {
        cluster.nudge();
      });
    }
    this.#deliveryRate.sampledAt = this.#now();
    this.#statsTimer = setInterval(() => this.#sampleRates(this.#now()), STATS_SAMPLE_MS).unref();
    this.#leaseTimer = setInterval(() => this.#removeLapsed(), LEASE_CHECK_MS).unref();
  }

  /** Removes the leased consumers whose lease lapsed: their push delivery stops as after UNREGISTER. */
  #removeLapsed(): void {
    void this.#consumers.removeLapsed(this.#now()).match(
      (ids) => {
        for (const id of ids) {
          this.#lag.forget(id);
          this.#log.info('consumer removed: its lease lapsed', { consumer: id });
          for (const listener of this.#changeListeners) listener(id);
        }
        if (ids.length > 0) this.#beatSoon(undefined);
      },
      (e) => {
        this.#log.warn('could not remove the consumers whose lease lapsed; tried again shortly', { reason: e.message });
      },
    );
  }

  #sampleRates(now: number): void {
    this.#topics.sample(now);
    const rate = this.#deliveryRate;
    const seconds = (now - rate.sampledAt) / 1000;
    if (seconds <= 0) return;
    const deliveries = this.#dispatcher.deliveries();
    rate.perSec = Math.round(((deliveries - rate.deliveries) / seconds) * 10) / 10;
    rate.deliveries = deliveries;
    rate.sampledAt = now;
  }

  /** Why the database cannot be written right now (disk full, read-only, locked), or undefined when it can. */
  writeFailure(): BrokerError<'UNAVAILABLE'> | undefined {
    return this.#store.writeFailure();
  }

  /** The last seq announced to subscribers. */
  headSeq(): number {
    return this.#dispatcher.head();
  }

  publish(input: PublishInput): ResultAsync<Published, PublishError> {
    const row = toPendingRow(input, this.#config);
    if (row.isErr()) return errAsync(row.error);
    const { messageId } = row.value;
    return new ResultAsync(
      this.#committer.append([row.value]).then((r) => r.map(([a]) => ({ seq: a!.seq, messageId, duplicate: a!.duplicate }))),
    );
  }

  /** Stores all of the messages or none, in one transaction; seqs in input order. */
  publishBatch(inputs: readonly PublishInput[]): ResultAsync<Published[], PublishError> {
    const rows: PendingRow[] = [];
    for (const input of inputs) {
      const row = toPendingRow(input, this.#config);
      if (row.isErr()) return errAsync(row.error);
      rows.push(row.value);
    }
    return new ResultAsync(
      this.#committer
        .append(rows)
        .then((r) => r.map((appended) => appended.map((a, i) => ({ seq: a.seq, messageId: rows[i]!.messageId, duplicate: a.duplicate })))),
    );
  }

  subscribe(options: SubscribeOptions, sink: Sink): ResultAsync<Subscribed, SubscribeError> {
    if (this.#draining) return errAsync(brokerError('UNAVAILABLE', SHUTTING_DOWN));
    const checked = checkSubscribe(options, this.#config.maxInFlight);
    if (checked.isErr()) return errAsync(checked.error);
    const { patterns, filter, maxInFlight } = checked.value;
    const id = `sub-${this.#nextSubscription++}`;
    // "From now" and the head answered mean what other brokers have committed too.
    const streamReady = ResultAsync.fromSafePromise(this.#follower.caughtUp()).andThen(() =>
      options.consumer === undefined
        ? this.#startSeq(options.start).map((seq) => this.#dispatcher.addEphemeral(id, patterns, filter.filter, seq))
        : this.#consumers.durableStream(options.consumer, patterns, filter, options.start),
    );
    return streamReady.map((stream) => {
      // Attach on the next macrotask, so the caller has answered "subscribed" before a delivery reaches it.
      this.#pendingAttach.set(id, stream);
      setImmediate(() => {
        if (!this.#pendingAttach.delete(id) || this.#closed) return;
        // The consumer was removed since the subscribe was answered: end this subscription as removal ends the others.
        if (stream.isClosed) {
          sink.closed?.(`consumer ${options.consumer} was removed`);
          return;
        }
        this.#dispatcher.attach(stream, id, sink, maxInFlight, options.group);
        this.#follower.wake();
      });
      return { subscriptionId: id, headSeq: this.#dispatcher.head() };
    });
  }

  /** Keeps one failed push attempt in delivery_failures. */
  recordDeliveryFailure(failure: DeliveryFailure): void {
    void this.#store.recordFailures([failure]).mapErr((e) => {
      this.#log.warn('could not record a delivery failure', { consumer: failure.consumer, reason: e.message });
    });
  }

  /**
   * Attaches a sink to an existing durable consumer as one more member, at once (push delivery uses this).
   * `inOrder`: nothing new is sent while a redelivery waits, so the sink sees every message in seq order.
   */
  attachConsumer(
    consumer: string,
    sink: Sink,
    options: { maxInFlight: number; inOrder: boolean },
  ): Result<string, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    if (this.#draining) return err(brokerError('UNAVAILABLE', SHUTTING_DOWN));
    const stream = this.#dispatcher.durable(consumer);
    if (stream === undefined) return err(brokerError('UNKNOWN_CONSUMER', `no consumer ${consumer}`));
    const id = `sub-${this.#nextSubscription++}`;
    this.#dispatcher.attach(stream, id, sink, options.maxInFlight, undefined, options.inOrder);
    this.#follower.wake();
    return ok(id);
  }

  // Spelled out in both rather than shared through a callback: that was a closure per ack at replay speed.
  ack(subscriptionId: string, seq: number): Result<void, UnknownSubscription> {
    const entry = this.#dispatcher.subscription(subscriptionId);
    entry?.stream.ack(seq);
    return entry === undefined ? this.#notAttached(subscriptionId) : DONE;
  }

  /** `cause`: why the delivery failed, for the dead letter's reason should this have been its last try. */
  nack(subscriptionId: string, seq: number, delayMs = 0, cause?: string): Result<void, UnknownSubscription> {
    const entry = this.#dispatcher.subscription(subscriptionId);
    entry?.stream.nack(seq, Math.max(0, delayMs), cause);
    return entry === undefined ? this.#notAttached(subscriptionId) : DONE;
  }

  /** A sink that returned false from deliver() is ready again. */
  resume(subscriptionId: string): void {
    this.#dispatcher.resume(subscriptionId);
  }

  unsubscribe(subscriptionId: string): Result<void, UnknownSubscription> {
    const pending = this.#pendingAttach.get(subscriptionId);
    if (pending !== undefined) {
      this.#pendingAttach.delete(subscriptionId);
      if (!pending.isDurable) this.#dispatcher.discard(pending);
      return ok(undefined);
    }
    return this.#dispatcher.detach(subscriptionId)
      ? ok(undefined)
      : err(brokerError('UNKNOWN_SUBSCRIPTION', `no subscription ${subscriptionId}`));
  }

  /** Publishes a request and resolves with the first reply. */
  request(
    topic: string,
    payload: string,
    options: { timeoutMs: number; metadata?: Record<string, unknown> },
  ): ResultAsync<StoredMessage, PublishError | SubscribeError> {
    return sendRequest(this, topic, payload, options);
  }

  /** Answers a request received by a subscriber. */
  reply(request: StoredMessage, payload: string, metadata?: Record<string, unknown>): ResultAsync<Published, PublishError> {
    return sendReply(this, request, payload, metadata);
  }

  /** Creates or updates a durable consumer (a push endpoint, or a named API consumer). */
  saveConsumer(input: ConsumerInput): ResultAsync<ConsumerInfo, SubscribeError> {
    return this.#consumers.save(input).map((info) => this.#beatSoon(info));
  }

  removeConsumer(id: string): ResultAsync<void, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    this.#lag.forget(id);
    return this.#consumers.remove(id).map(() => this.#beatSoon(undefined));
  }

  /** No deliveries to the consumer (any member, its push address, on any broker) until resumed; its position is kept. */
  pauseConsumer(id: string): ResultAsync<ConsumerInfo, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    return this.#consumers.setPaused(id, true);
  }

  resumeConsumer(id: string): ResultAsync<ConsumerInfo, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    return this.#consumers.setPaused(id, false);
  }

  /** A page of the consumer's dead letters, in seq order. */
  deadLetters(id: string, fromSeq: number, limit: number): ResultAsync<DeadLetterPage, DeadLetterError> {
    return this.#deadLetters.list(id, fromSeq, limit);
  }

  /** Delivers the chosen dead letters to the consumer again, from a first attempt; returns how many. */
  requeueDeadLetters(id: string, choice: DeadLetterChoice): ResultAsync<number, DeadLetterError> {
    return this.#deadLetters.requeue(id, choice);
  }

  /** Deletes the chosen dead letters; returns how many. */
  deleteDeadLetters(id: string, choice: DeadLetterChoice): ResultAsync<number, DeadLetterError> {
    return this.#deadLetters.delete(id, choice);
  }

  /** The consumer with its lag and dead letters, counted now. */
  consumerReport(id: string): ResultAsync<ConsumerReport, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    const info = this.#consumers.info(id);
    if (info === undefined) return errAsync(brokerError('UNKNOWN_CONSUMER', `no consumer ${id}`));
    return this.#lastFailures([info]).andThen((failures) => this.#report(info, failures));
  }

  consumerReports(): ResultAsync<ConsumerReport[], StorageError> {
    const infos = this.consumers();
    return this.#lastFailures(infos).andThen((failures) => ResultAsync.combine(infos.map((info) => this.#report(info, failures))));
  }

  /**
   * The last failure of each consumer, in one read for them all, once the acks and dead letters resolved so
   * far are written: the positions are this broker's as of now, and the lag and dead letters are counted in
   * the store, where a message dead-lettered a moment ago must count as a dead letter rather than as nothing.
   * Once for every report of a read, not once each.
   */
  #lastFailures(infos: readonly ConsumerInfo[]): ResultAsync<Map<string, LastFailure>, StorageError> {
    return ResultAsync.fromSafePromise(this.#dispatcher.settled()).andThen(() =>
      this.#store.lastFailures(infos.map((info) => ({ id: info.id, sinceMs: this.#consumers.record(info.id)!.createdAt }))),
    );
  }

  /** A page of the log, for people and tools. */
  messages(request: { fromSeq: number; pattern: string | undefined; limit: number; scanRows: number }): ResultAsync<BrowsePage, StorageError> {
    return browse(this.#store, { ...request, head: this.#dispatcher.head(), now: this.#now() });
  }

  /** One message the log holds, with its status. */
  message(seq: number): ResultAsync<MessageRecord, BrokerError<'UNKNOWN_MESSAGE' | 'UNAVAILABLE'>> {
    return this.#store
      .message(seq)
      .andThen((m) =>
        m !== undefined && isHeld(m, this.#now()) ? okAsync(m) : errAsync(brokerError('UNKNOWN_MESSAGE', `the log holds no message ${seq}`)),
      );
  }

  /** The first seq at or after `timeMs` (the head + 1 when none is). */
  seqAtTime(timeMs: number): ResultAsync<number, StorageError> {
    return this.#startSeq({ kind: 'time', timeMs });
  }

  /** Every topic the log holds, with its count, seqs and publish rate. */
  topics(): ResultAsync<TopicReport[], StorageError> {
    const snapshot = this.#topics.snapshot();
    return this.#store.topicBounds(snapshot.map((t) => t.topic)).map((bounds) =>
      snapshot.flatMap((t) => {
        const b = bounds.get(t.topic);
        return b === undefined ? [] : [{ topic: t.topic, messages: t.stored, firstSeq: b.first, lastSeq: b.last, publishedPerSec: t.ratePerSec }];
      }),
    );
  }

  /** Rewinds a durable consumer: messages from `seq` on are delivered again. */
  replay(id: string, seq: number): ResultAsync<void, BrokerError<'UNKNOWN_CONSUMER' | 'BAD_ARGS' | 'UNAVAILABLE'>> {
    return this.#consumers.replay(id, seq).map(() => this.#beatSoon(undefined));
  }

  /**
   * Rewinds as replay() does, and answers the consumer as the rewind left it: its position just below `seq`
   * and its lag every matching message from there to the head, none delivered again yet, whatever its
   * subscribers have taken since.
   */
  replayReport(id: string, seq: number): ResultAsync<ConsumerReport, BrokerError<'UNKNOWN_CONSUMER' | 'BAD_ARGS' | 'UNAVAILABLE'>> {
    return this.#consumers
      .replay(id, seq)
      .map((rewound) => this.#beatSoon(rewound))
      .andThen(({ info, head }) =>
        // Removed while the rewind was being stored.
        this.#consumers.record(id) === undefined
          ? errAsync(brokerError('UNKNOWN_CONSUMER', `no consumer ${id}`))
          : this.#lastFailures([info]).andThen((failures) => this.#report(info, failures, { head, resolved: false })),
      );
  }

  consumer(id: string): ConsumerInfo | undefined {
    return this.#consumers.info(id);
  }

  consumers(): ConsumerInfo[] {
    return this.#consumers.list();
  }

  stats(): BrokerStats {
    return {
      headSeq: this.#dispatcher.head(),
      topics: this.#topics.snapshot(),
      deliveredPerSec: this.#deliveryRate.perSec,
      consumers: this.consumers(),
      subscriptions: [...this.#dispatcher.subscriptionIds()].length,
    };
  }

  /**
   * Whether this broker delivers push consumer `id`: always, alone on its store; shared, one broker at a time
   * does, and onConsumerChange says when that moves.
   */
  pushes(id: string): boolean {
    return this.#cluster?.pushes(id) ?? true;
  }

  /**
   * Calls `listener` with a consumer's id when it changed through another broker (registered, removed, moved)
   * or was removed here because its lease lapsed.
   */
  onConsumerChange(listener: (consumer: string) => void): void {
    this.#changeListeners.push(listener);
    this.#cluster?.onChange(listener);
  }

  /** The brokers serving this store, with when each was last heard of (this one alone on SQLite). */
  nodes(): readonly { readonly node: string; readonly lastSeen: number }[] {
    return this.#cluster?.nodes() ?? [];
  }

  /** Runs one retention pass now (tests and tools; the broker also runs them on a timer). */
  runRetention(): Promise<number> {
    return this.#retention.runOnce();
  }

  /**
   * The first step of stopping: refuses publishes and subscriptions from now on (UNAVAILABLE "shutting down")
   * and resolves once every publish taken before is committed, its caller has heard (their replies are
   * written by then) and the subscriptions have been handed it. Subscriptions and acks go on until close().
   */
  async drain(): Promise<void> {
    this.#draining = true;
    this.#committer.close();
    await this.#committer.drained();
    // A commit can reach the subscriptions later than its publisher's answer, when a catch-up read was
    // under way (on PostgreSQL, one woken by another broker's commit or the poll).
    await this.#follower.caughtUp();
    // The callers' promise callbacks, then the writes they queue for the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Stops in the reverse order of start-up: publishes, subscriptions, retention, the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.drain();
    clearInterval(this.#statsTimer);
    clearInterval(this.#leaseTimer);
    this.#follower.stop();
    this.#retention.stop();
    await this.#dispatcher.close();
    await this.#cluster?.leave();
    await this.#store.close();
  }

  #restore(): ResultAsync<void, StorageError> {
    return this.#store
      .topicCounts()
      .map((counts) => this.#topics.load(counts))
      .andThen(() => this.#consumers.restore())
      .andThen(() => ResultAsync.fromSafePromise(this.#cluster?.start() ?? Promise.resolve()));
  }

  /**
   * Shared with other brokers, a consumer registered, removed or rewound is taken up (its push address
   * leased, its partitions given back) at a heartbeat: beat now rather than at the next tick.
   */
  #beatSoon<T>(value: T): T {
    this.#cluster?.nudge();
    return value;
  }

  /**
   * The consumer with its lag, dead letters and last failure; `at` counts the lag as it was at an earlier head, with nothing
   * resolved above the position since (right after a rewind).
   */
  #report(info: ConsumerInfo, failures: ReadonlyMap<string, LastFailure>, at?: { head: number; resolved: false }): ResultAsync<ConsumerReport, StorageError> {
    const record = this.#consumers.record(info.id)!;
    const filter = parseStoredFilter(record.filter).unwrapOr({ filter: undefined }).filter;
    const subject = { id: info.id, patterns: info.patterns, filter, filterJson: record.filter, position: info.position, rewoundAt: record.rewoundAt };
    const head = at?.head ?? this.#dispatcher.head();
    // Called once what was resolved is written (#lastFailures).
    return this.#lag
      .lag(subject, head, at === undefined)
      .andThen((lag) => this.#store.deadLetterCount(info.id, record.createdAt).map((deadLetters) => ({ ...info, lag, deadLetters, lastFailure: failures.get(info.id) ?? null })));
  }

  #startSeq(start: StartAt | undefined): ResultAsync<number, StorageError> {
    if (start === undefined || start.kind === 'head') return okAsync(this.#dispatcher.head() + 1);
    if (start.kind === 'seq') return okAsync(Math.max(1, start.seq)); // seq 0: from the very start
    return this.#store.seqAtTime(start.timeMs).map((seq) => Math.min(seq, this.#dispatcher.head() + 1));
  }

  /** An ack or nack for a subscription that is not attached: nothing to do while it attaches, else unknown. */
  #notAttached(id: string): Result<void, UnknownSubscription> {
    return this.#pendingAttach.has(id) ? DONE : err(brokerError('UNKNOWN_SUBSCRIPTION', `no subscription ${id}`));
  }
}
