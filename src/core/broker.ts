// The broker API: the one surface every front-end (telnet ingress, registration, WebSocket, HTTP, SDK, embedding)
// calls. Validates input into Results, group-commits publishes and hands subscriptions to the dispatcher; the rest
// goes to the parts that hold it (broker-parts.ts): durable consumers to consumers.ts, the operator surface to
// consumer-reports.ts, dead-letters.ts, browse.ts and topic-stats.ts, request/reply to request-reply.ts.
import { err, errAsync, ok, okAsync, ResultAsync, type Result } from 'neverthrow';
import { brokerError, SHUTTING_DOWN, type BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { browse, findMessage, type BrowsePage } from './browse.js';
import { buildParts, type BrokerConfig, type BrokerParts } from './broker-parts.js';
import type { PendingRow } from './committer.js';
import type { ConsumerReport } from './consumer-reports.js';
import type { ConsumerInfo } from './consumers.js';
import type { DeadLetterChoice, DeadLetterError, DeadLetterPage } from './dead-letters.js';
import { toPendingRow, type PublishError } from './publish-input.js';
import { sendReply, sendRequest } from './request-reply.js';
import type { PullMembers } from './pull.js';
import type { Schedules } from './schedules.js';
import type { BrokerStats } from './stats.js';
import type { Access } from './access.js';
import type { Gate } from './gate.js';
import type { AuditRow, EventStore, MessageRecord, StorageError } from './store-port.js';
import type { Stream } from './stream.js';
import { checkSubscribe, type ConsumerInput, type SubscribeError, type SubscribeOptions } from './subscribe-options.js';
import { topicReports, type TopicReport } from './topic-stats.js';
import type { Tracing } from './tracing.js';
import type { DeliveryFailure, Published, PublishInput, PublishTime, Scheduled, Sink, StoredMessage } from './types.js';
export type { PublishTime, Scheduled } from './types.js';

// Callers import these from the broker, the API they are part of.
export type { ConsumerInfo } from './consumers.js';
export type { ConsumerReport } from './consumer-reports.js';
export type { DeadLetterChoice, DeadLetterError, DeadLetterPage } from './dead-letters.js';
export type { BrowsePage } from './browse.js';
export type { DeadLetterRow, LastFailure, MessageRecord } from './store-port.js';
export type { TopicReport } from './topic-stats.js';
export type { FetchError, Pulled, PullMembers, SettleError } from './pull.js';
export type { ConsumerInput, SubscribeError, SubscribeOptions } from './subscribe-options.js';
export type { BrokerConfig } from './broker-parts.js';
export type { BrokerStats } from './stats.js';
export type { Tracing } from './tracing.js';
export type { AuditRow, CredentialRecord } from './store-port.js';
export type { Permissions, PermissionsInput } from './credentials.js';
export type { Caller, CredentialChange, Forbidden, Gate, Principal, PublishRefused } from './gate.js';
export type { RecurringInput, ScheduleError, Schedules } from './schedules.js';
export type { ScheduleKind, ScheduleRecord } from './schedule-records.js';

export interface Subscribed {
  readonly subscriptionId: string;
  /** The last seq in the log when the subscription was made. */
  readonly headSeq: number;
}

export type UnknownSubscription = BrokerError<'UNKNOWN_SUBSCRIPTION'>;

export interface BrokerOptions {
  /** The clock (tests move it). */
  readonly now?: (() => number) | undefined;
  /** Spans of publishes and delivery attempts (PROTOCOL.md §13); none when absent. Its owner closes it. */
  readonly tracing?: Tracing | undefined;
}

// How often leased consumers (a side replay's) are checked: one whose lease lapsed goes within this.
const LEASE_CHECK_MS = 1000;
const ACCESS_RELOAD_MS = 10_000;
// Every ack returns this one: an Ok is immutable, and a new one per ack is garbage at replay speed.
const DONE: Result<void, never> = ok(undefined);

export class Broker {
  readonly #config: BrokerConfig;
  readonly #store: EventStore;
  readonly #log: Logger;
  readonly #now: () => number;
  /** The dispatcher, the committer, the consumers and the rest, wired together (broker-parts.ts). */
  readonly #parts: BrokerParts;
  readonly #leaseTimer: NodeJS.Timeout;
  #accessTimer: NodeJS.Timeout | undefined;
  readonly #changeListeners: ((consumer: string) => void)[] = [];
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
    options: BrokerOptions = {},
  ): Promise<Result<Broker, StorageError>> {
    const broker = new Broker(config, store, logger, options.now ?? Date.now, options.tracing);
    const restored = await broker.#restore();
    if (restored.isErr()) {
      await broker.close();
      return err(restored.error);
    }
    return ok(broker);
  }

  private constructor(config: BrokerConfig, store: EventStore, logger: Logger, now: () => number, tracing: Tracing | undefined) {
    this.#config = config;
    this.#store = store;
    this.#log = logger;
    this.#now = now;
    this.#parts = buildParts(store, config, logger, now, tracing);
    this.#leaseTimer = setInterval(() => this.#removeLapsed(), LEASE_CHECK_MS).unref();
    // Shared, a change is heard of at once (a notification); reading the credentials again now and then covers
    // one missed while the connection that listens was being replaced.
    if (store.cluster !== undefined) this.#accessTimer = setInterval(() => void this.#parts.access.load().mapErr(() => undefined), ACCESS_RELOAD_MS).unref();
  }

  /** Who may do what (PROTOCOL.md §12): what every front-end asks before it calls the broker. */
  get gate(): Gate {
    return this.#parts.gate;
  }

  /** The stored credentials, made, changed, rotated and removed by admins. */
  get access(): Access {
    return this.#parts.access;
  }

  /** The audit log, oldest first: up to `limit` entries at or after `fromMs` with an id above `afterId`. */
  auditPage(fromMs: number, afterId: number, limit: number): ResultAsync<AuditRow[], StorageError> {
    return this.#store.credentials.auditPage(fromMs, afterId, limit);
  }

  /** Removes the leased consumers whose lease lapsed: their push delivery stops as after UNREGISTER. */
  #removeLapsed(): void {
    void this.#parts.consumers.removeLapsed(this.#now()).match(
      (ids) => {
        for (const id of ids) {
          this.#parts.reports.forget(id);
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

  /** Why the database cannot be written right now (disk full, read-only, locked), or undefined when it can. */
  writeFailure(): BrokerError<'UNAVAILABLE'> | undefined {
    return this.#store.writeFailure();
  }

  /** The last seq announced to subscribers. */
  headSeq(): number {
    return this.#parts.dispatcher.head();
  }

  publish(input: PublishInput): ResultAsync<Published, PublishError> {
    const row = toPendingRow(input, this.#config);
    if (row.isErr()) return errAsync(row.error);
    const { messageId } = row.value;
    return new ResultAsync(
      this.#parts.committer.append([row.value]).then((r) => r.map(([a]) => ({ seq: a!.seq, messageId, duplicate: a!.duplicate }))),
    );
  }

  /**
   * Publishes at a time (PROTOCOL.md §11): stored as a schedule, and appended to the log once due, with a new
   * seq; at once, as publish, when no time is given or it is not in the future.
   */
  publishLater(input: PublishInput, time: PublishTime): ResultAsync<Published | Scheduled, PublishError> {
    return this.publishBatchLater([{ input, time }]).map(([r]) => r!);
  }

  /**
   * publishBatch with a time for each message; answers in input order. The delayed ones are stored first, then
   * the others appended; if that fails, the delayed ones are removed again, so that none is kept.
   */
  publishBatchLater(items: readonly { input: PublishInput; time: PublishTime }[]): ResultAsync<(Published | Scheduled)[], PublishError> {
    if (this.#draining) return errAsync(brokerError('UNAVAILABLE', SHUTTING_DOWN));
    const now: PendingRow[] = [];
    const later: { row: PendingRow; at: number }[] = [];
    const isLater: boolean[] = [];
    for (const { input, time } of items) {
      const row = toPendingRow(input, this.#config);
      if (row.isErr()) return errAsync(row.error);
      const at = this.#parts.schedules.dueAt(time);
      if (at.isErr()) return errAsync(at.error);
      isLater.push(at.value !== undefined);
      if (at.value === undefined) now.push(row.value);
      else later.push({ row: row.value, at: at.value });
    }
    const stored = later.length === 0 ? okAsync<Scheduled[], StorageError>([]) : this.#parts.schedules.later(later);
    return stored.andThen((scheduled) => {
      const appended = new ResultAsync(this.#parts.committer.append(now)).orElse((e) =>
        this.#store.schedules
          .remove(scheduled.filter((s) => !s.duplicate).map((s) => s.scheduleId))
          .andThen(() => errAsync(e)),
      );
      return appended.map((a) => {
        let [n, l] = [0, 0];
        return isLater.map((delayed): Published | Scheduled => {
          if (delayed) return scheduled[l++]!;
          const i = n++;
          return { seq: a[i]!.seq, messageId: now[i]!.messageId, duplicate: a[i]!.duplicate };
        });
      });
    });
  }

  /** Recurring schedules and delayed messages not yet due (PROTOCOL.md §11). */
  get schedules(): Schedules {
    return this.#parts.schedules;
  }

  /** Durable consumers read by request (PROTOCOL.md §8): fetch, ack, nack and extend, as one of a consumer's members. */
  get pull(): PullMembers {
    return this.#parts.pull;
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
      this.#parts.committer
        .append(rows)
        .then((r) => r.map((appended) => appended.map((a, i) => ({ seq: a.seq, messageId: rows[i]!.messageId, duplicate: a.duplicate })))),
    );
  }

  subscribe(options: SubscribeOptions, sink: Sink): ResultAsync<Subscribed, SubscribeError> {
    if (this.#draining) return errAsync(brokerError('UNAVAILABLE', SHUTTING_DOWN));
    const checked = checkSubscribe(options);
    if (checked.isErr()) return errAsync(checked.error);
    const { patterns, filter, maxInFlight, backoffMs } = checked.value;
    const id = `sub-${this.#nextSubscription++}`;
    // "From now" and the head answered mean what other brokers have committed too.
    const streamReady = ResultAsync.fromSafePromise(this.#parts.follower.caughtUp()).andThen(() =>
      options.consumer === undefined
        ? this.#parts.startSeq(options.start).map((seq) => this.#parts.dispatcher.addEphemeral(id, patterns, filter.filter, seq))
        : this.#parts.consumers.durableStream(options.consumer, patterns, filter, options.start, backoffMs),
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
        this.#parts.dispatcher.attach(stream, id, sink, maxInFlight, options.group);
        this.#parts.follower.wake();
      });
      return { subscriptionId: id, headSeq: this.#parts.dispatcher.head() };
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
    options: { maxInFlight: number | undefined; inOrder: boolean },
  ): Result<string, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    if (this.#draining) return err(brokerError('UNAVAILABLE', SHUTTING_DOWN));
    const stream = this.#parts.dispatcher.durable(consumer);
    if (stream === undefined) return err(brokerError('UNKNOWN_CONSUMER', `no consumer ${consumer}`));
    const id = `sub-${this.#nextSubscription++}`;
    this.#parts.dispatcher.attach(stream, id, sink, options.maxInFlight, undefined, options.inOrder);
    this.#parts.follower.wake();
    return ok(id);
  }

  // Spelled out in both rather than shared through a callback: that was a closure per ack at replay speed.
  ack(subscriptionId: string, seq: number): Result<void, UnknownSubscription> {
    const entry = this.#parts.dispatcher.subscription(subscriptionId);
    entry?.stream.ack(seq);
    return entry === undefined ? this.#notAttached(subscriptionId) : DONE;
  }

  /**
   * Sends the delivery again after `delayMs`; without it, after the consumer's redelivery backoff (at once when it
   * has none). `cause`: why the delivery failed, for the dead letter's reason should this have been its last try.
   */
  nack(subscriptionId: string, seq: number, delayMs?: number, cause?: string): Result<void, UnknownSubscription> {
    const entry = this.#parts.dispatcher.subscription(subscriptionId);
    entry?.stream.nack(seq, delayMs === undefined ? undefined : Math.max(0, delayMs), cause);
    return entry === undefined ? this.#notAttached(subscriptionId) : DONE;
  }

  /** A sink that returned false from deliver() is ready again. */
  resume(subscriptionId: string): void {
    this.#parts.dispatcher.resume(subscriptionId);
  }

  unsubscribe(subscriptionId: string): Result<void, UnknownSubscription> {
    const pending = this.#pendingAttach.get(subscriptionId);
    if (pending !== undefined) {
      this.#pendingAttach.delete(subscriptionId);
      if (!pending.isDurable) this.#parts.dispatcher.discard(pending);
      return ok(undefined);
    }
    return this.#parts.dispatcher.detach(subscriptionId)
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
  // The operator's actions below are logged, one line each, once done (who did them is in the audit log).
  saveConsumer(input: ConsumerInput): ResultAsync<ConsumerInfo, SubscribeError> {
    return this.#parts.consumers
      .save(input)
      .map((info) => this.#beatSoon(info))
      .andTee((info) => this.#log.info('consumer saved', { consumer: info.id, address: info.address, patterns: info.patterns.join(' ') }));
  }

  removeConsumer(id: string): ResultAsync<void, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    this.#parts.reports.forget(id);
    return this.#parts.consumers
      .remove(id)
      .map(() => this.#beatSoon(undefined))
      .andTee(() => this.#log.info('consumer removed', { consumer: id }));
  }

  /** No deliveries to the consumer (any member, its push address, on any broker) until resumed; its position is kept. */
  pauseConsumer(id: string): ResultAsync<ConsumerInfo, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    return this.#parts.consumers.setPaused(id, true).andTee(() => this.#log.info('consumer paused', { consumer: id }));
  }

  resumeConsumer(id: string): ResultAsync<ConsumerInfo, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    return this.#parts.consumers.setPaused(id, false).andTee(() => this.#log.info('consumer resumed', { consumer: id }));
  }

  /** A page of the consumer's dead letters, in seq order. */
  deadLetters(id: string, fromSeq: number, limit: number): ResultAsync<DeadLetterPage, DeadLetterError> {
    return this.#parts.deadLetters.list(id, fromSeq, limit);
  }

  /** Delivers the chosen dead letters to the consumer again, from a first attempt; returns how many. */
  requeueDeadLetters(id: string, choice: DeadLetterChoice): ResultAsync<number, DeadLetterError> {
    return this.#parts.deadLetters.requeue(id, choice).andTee((requeued) => this.#log.info('dead letters requeued', { consumer: id, requeued }));
  }

  /** Deletes the chosen dead letters; returns how many. */
  deleteDeadLetters(id: string, choice: DeadLetterChoice): ResultAsync<number, DeadLetterError> {
    return this.#parts.deadLetters.delete(id, choice).andTee((deleted) => this.#log.info('dead letters purged', { consumer: id, deleted }));
  }

  /** The consumer with its lag and dead letters, counted now. */
  consumerReport(id: string): ResultAsync<ConsumerReport, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    return this.#parts.reports.one(id);
  }

  consumerReports(): ResultAsync<ConsumerReport[], StorageError> {
    return this.#parts.reports.all();
  }

  /** A page of the log, for people and tools. */
  messages(request: { fromSeq: number; pattern: string | undefined; limit: number; scanRows: number }): ResultAsync<BrowsePage, StorageError> {
    return browse(this.#store, { ...request, head: this.#parts.dispatcher.head(), now: this.#now() });
  }

  /** One message the log holds, with its status. */
  message(seq: number): ResultAsync<MessageRecord, BrokerError<'UNKNOWN_MESSAGE' | 'UNAVAILABLE'>> {
    return findMessage(this.#store, seq, this.#now);
  }

  /** The first seq at or after `timeMs` (the head + 1 when none is). */
  seqAtTime(timeMs: number): ResultAsync<number, StorageError> {
    return this.#parts.startSeq({ kind: 'time', timeMs });
  }

  /** Every topic the log holds, with its count, seqs and publish rate. */
  topics(): ResultAsync<TopicReport[], StorageError> {
    return topicReports(this.#parts.topics, this.#store);
  }

  /** Rewinds a durable consumer at an operator's word: messages from `seq` on are delivered again. */
  replay(id: string, seq: number): ResultAsync<void, BrokerError<'UNKNOWN_CONSUMER' | 'BAD_ARGS' | 'UNAVAILABLE'>> {
    return this.resend(id, seq).andTee(() => this.#log.info('consumer replayed', { consumer: id, from_seq: seq }));
  }

  /** Rewinds a push consumer to resend what its connection lost: push delivery's own, not logged. */
  resend(id: string, seq: number): ResultAsync<void, BrokerError<'UNKNOWN_CONSUMER' | 'BAD_ARGS' | 'UNAVAILABLE'>> {
    return this.#parts.consumers.replay(id, seq).map(() => this.#beatSoon(undefined));
  }

  /**
   * Rewinds as replay() does, and answers the consumer as the rewind left it: its position just below `seq`
   * and its lag every matching message from there to the head, none delivered again yet, whatever its
   * subscribers have taken since.
   */
  replayReport(id: string, seq: number): ResultAsync<ConsumerReport, BrokerError<'UNKNOWN_CONSUMER' | 'BAD_ARGS' | 'UNAVAILABLE'>> {
    return this.#parts.consumers
      .replay(id, seq)
      .map((rewound) => this.#beatSoon(rewound))
      .andTee(() => this.#log.info('consumer replayed', { consumer: id, from_seq: seq }))
      .andThen(({ info, head }) => this.#parts.reports.rewound(info, head));
  }

  consumer(id: string): ConsumerInfo | undefined {
    return this.#parts.consumers.info(id);
  }

  consumers(): ConsumerInfo[] {
    return this.#parts.consumers.list();
  }

  stats(): BrokerStats {
    return this.#parts.stats.stats();
  }

  /**
   * Whether this broker delivers push consumer `id`: always, alone on its store; shared, one broker at a time
   * does, and onConsumerChange says when that moves.
   */
  pushes(id: string): boolean {
    return this.#parts.cluster?.pushes(id) ?? true;
  }

  /**
   * Calls `listener` with a consumer's id when it changed through another broker (registered, removed, moved)
   * or was removed here because its lease lapsed.
   */
  onConsumerChange(listener: (consumer: string) => void): void {
    this.#changeListeners.push(listener);
    this.#parts.cluster?.onChange(listener);
  }

  /** The brokers serving this store, with when each was last heard of (this one alone on SQLite). */
  nodes(): readonly { readonly node: string; readonly lastSeen: number }[] {
    return this.#parts.cluster?.nodes() ?? [];
  }

  /** Runs one retention pass now (tests and tools; the broker also runs them on a timer). */
  runRetention(): Promise<number> {
    return this.#parts.retention.runOnce();
  }

  /**
   * The first step of stopping: refuses publishes and subscriptions from now on (UNAVAILABLE "shutting down")
   * and resolves once every publish taken before is committed, its caller has heard (their replies are
   * written by then) and the subscriptions have been handed it. Subscriptions and acks go on until close().
   */
  async drain(): Promise<void> {
    this.#draining = true;
    // A long-poll is answered now rather than held until the connections are cut.
    this.#parts.pull.stop();
    this.#parts.scheduler.stop();
    this.#parts.committer.close();
    await this.#parts.committer.drained();
    // A commit can reach the subscriptions later than its publisher's answer, when a catch-up read was
    // under way (on PostgreSQL, one woken by another broker's commit or the poll).
    await this.#parts.follower.caughtUp();
    // The callers' promise callbacks, then the writes they queue for the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Stops in the reverse order of start-up: publishes, subscriptions, retention, the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.drain();
    this.#parts.stats.stop();
    clearInterval(this.#leaseTimer);
    this.#parts.follower.stop();
    this.#parts.retention.stop();
    await this.#parts.dispatcher.close();
    await this.#parts.cluster?.leave();
    clearInterval(this.#accessTimer);
    await this.#parts.gate.close();
    await this.#store.close();
  }

  #restore(): ResultAsync<void, StorageError> {
    return this.#store
      .topicCounts()
      .map((counts) => this.#parts.topics.load(counts))
      .andThen(() => this.#parts.consumers.restore())
      .andThen(() => this.#parts.access.load())
      .andThen(() => ResultAsync.fromSafePromise(this.#parts.cluster?.start() ?? Promise.resolve()))
      .map(() => this.#parts.scheduler.start());
  }

  /**
   * Shared with other brokers, a consumer registered, removed or rewound is taken up (its push address
   * leased, its partitions given back) at a heartbeat: beat now rather than at the next tick.
   */
  #beatSoon<T>(value: T): T {
    this.#parts.cluster?.nudge();
    return value;
  }

  /** An ack or nack for a subscription that is not attached: nothing to do while it attaches, else unknown. */
  #notAttached(id: string): Result<void, UnknownSubscription> {
    return this.#pendingAttach.has(id) ? DONE : err(brokerError('UNKNOWN_SUBSCRIPTION', `no subscription ${id}`));
  }
}
