// The broker API: the one surface every front-end (telnet ingress, registration, WebSocket, SDK, embedding)
// calls. Validates input into Results, group-commits publishes, and hands subscriptions to the dispatcher.
import { randomUUID } from 'node:crypto';
import { err, errAsync, ok, ResultAsync, type Result } from 'neverthrow';
import type { Config } from '../config.js';
import { brokerError, type BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StoreOpenError } from '../store/db.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { ConsumerRecord, EventStore } from '../store/store.js';
import { Committer, type PendingRow } from './committer.js';
import { Dispatcher } from './dispatcher.js';
import { compileFilter, type MessageFilter } from './filter.js';
import { checkPattern } from './patterns.js';
import { messageMetadata, toPendingRow, type PublishError } from './publish-input.js';
import { Retention } from './retention.js';
import type { Stream } from './stream.js';
import { TopicStats, type TopicSnapshot } from './topic-stats.js';
import type { Delivery, Published, PublishInput, Sink, StartAt, StoredMessage } from './types.js';

export type BrokerConfig = Pick<
  Config,
  | 'dbPath'
  | 'sync'
  | 'defaultTtlSeconds'
  | 'ackTimeoutMs'
  | 'maxDeliveries'
  | 'maxInFlight'
  | 'maxPayloadBytes'
  | 'retention'
  | 'retentionIntervalMs'
>;

export interface SubscribeOptions {
  /** One pattern, or several (a message matching any is delivered once). */
  readonly pattern: string | readonly string[];
  /** Where to start when there is no stored position to resume (or, for a durable consumer, to rewind to). */
  readonly start?: StartAt | undefined;
  /** Durable consumer name: position stored, deliveries must be acked. */
  readonly consumer?: string | undefined;
  /** Queue group label; subscriptions of one consumer split its messages. */
  readonly group?: string | undefined;
  readonly maxInFlight?: number | undefined;
  /** Content filter (README, "Filters"). */
  readonly filter?: unknown;
}

export interface Subscribed {
  readonly subscriptionId: string;
  /** The last seq in the log when the subscription was made. */
  readonly headSeq: number;
}

export type SubscribeError = BrokerError<'BAD_PATTERN' | 'BAD_ARGS' | 'UNAVAILABLE'>;
export type UnknownSubscription = BrokerError<'UNKNOWN_SUBSCRIPTION'>;

export interface ConsumerInput {
  readonly id: string;
  /** Push address (`tcp://…` etc.), or null for a consumer read over the API. */
  readonly address: string | null;
  readonly patterns: readonly string[];
  readonly filter?: unknown;
}

export interface ConsumerInfo {
  readonly id: string;
  readonly address: string | null;
  readonly patterns: readonly string[];
  /** Ack floor: every matching message up to this seq is done. */
  readonly position: number;
  /** Distance from the head of the log, in seqs. */
  readonly lag: number;
  readonly inFlight: number;
  readonly subscribers: number;
  readonly deadLetters: number;
}

export interface BrokerStats {
  readonly headSeq: number;
  readonly topics: TopicSnapshot[];
  readonly consumers: ConsumerInfo[];
  readonly subscriptions: number;
}

const CONSUMER_ID = /^[A-Za-z0-9_.:@-]{1,255}$/;
const STATS_SAMPLE_MS = 1000;
// A reply inbox outlives the request by this much, so a late reply still has a topic to land on.
const REPLY_TTL_SECONDS = 60;

export class Broker {
  readonly #config: BrokerConfig;
  readonly #store: EventStore;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #dispatcher: Dispatcher;
  readonly #committer: Committer;
  readonly #retention: Retention;
  readonly #topics: TopicStats;
  readonly #records = new Map<string, ConsumerRecord>();
  readonly #storedDeadLetters = new Map<string, number>();
  readonly #statsTimer: NodeJS.Timeout;
  /** Subscriptions answered but not attached yet (see subscribe). */
  readonly #pendingAttach = new Map<string, Stream>();
  #nextSubscription = 1;
  #closed = false;

  /** Opens (or creates) the log at config.dbPath, applies migrations and restores durable consumers. */
  static async open(
    config: BrokerConfig,
    logger: Logger,
    options: { now?: () => number } = {},
  ): Promise<Result<Broker, StoreOpenError>> {
    const opened = await SqliteStore.open({ path: config.dbPath, sync: config.sync });
    if (opened.isErr()) return err(opened.error);
    const store = opened.value;
    const broker = new Broker(config, store, logger, options.now ?? Date.now);
    await broker.#restore();
    return ok(broker);
  }

  private constructor(config: BrokerConfig, store: EventStore, logger: Logger, now: () => number) {
    this.#config = config;
    this.#store = store;
    this.#log = logger;
    this.#now = now;
    this.#topics = new TopicStats(now());
    this.#dispatcher = new Dispatcher(
      store,
      { ackTimeoutMs: config.ackTimeoutMs, maxDeliveries: config.maxDeliveries, now },
      logger,
    );
    this.#committer = new Committer(store, (messages) => {
      for (const m of messages) this.#topics.published(m.topic);
      this.#dispatcher.onCommit(messages);
    });
    this.#retention = new Retention({
      store,
      rules: config.retention,
      topics: this.#topics,
      now,
      intervalMs: config.retentionIntervalMs,
      logger,
    });
    this.#statsTimer = setInterval(() => this.#topics.sample(this.#now()), STATS_SAMPLE_MS).unref();
  }

  /** The store, for embedders and tools; the SQLite one exposes its connection. */
  get store(): EventStore {
    return this.#store;
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
    if (this.#closed) return errAsync(brokerError('UNAVAILABLE', 'broker is shutting down'));
    const checked = checkSubscribe(options, this.#config.maxInFlight);
    if (checked.isErr()) return errAsync(checked.error);
    const { patterns, filter, filterJson, maxInFlight } = checked.value;
    const id = `sub-${this.#nextSubscription++}`;
    const streamReady =
      options.consumer === undefined
        ? ResultAsync.fromSafePromise(this.#startSeq(options.start)).map((seq) =>
            this.#dispatcher.addEphemeral(id, patterns, filter, seq),
          )
        : this.#durableStream(options.consumer, patterns, filter, filterJson, options.start);
    return streamReady.map((stream) => {
      // Attach on the next macrotask, so the caller has answered "subscribed" before a delivery reaches it.
      this.#pendingAttach.set(id, stream);
      setImmediate(() => {
        if (!this.#pendingAttach.delete(id) || this.#closed) return;
        this.#dispatcher.attach(stream, id, sink, maxInFlight, options.group);
      });
      return { subscriptionId: id, headSeq: this.#dispatcher.head() };
    });
  }

  ack(subscriptionId: string, seq: number): Result<void, UnknownSubscription> {
    return this.#withSubscription(subscriptionId, (stream) => stream.ack(seq));
  }

  nack(subscriptionId: string, seq: number, delayMs = 0): Result<void, UnknownSubscription> {
    return this.#withSubscription(subscriptionId, (stream) => stream.nack(seq, Math.max(0, delayMs)));
  }

  /** A sink that returned false from deliver() is ready again. */
  resume(subscriptionId: string): void {
    const entry = this.#dispatcher.subscription(subscriptionId);
    if (entry === undefined) return;
    entry.member.paused = false;
    entry.stream.kick();
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

  /** Publishes a request and resolves with the first reply (seed 004's request/reply). */
  request(
    topic: string,
    payload: string,
    options: { timeoutMs: number; metadata?: Record<string, unknown> },
  ): ResultAsync<StoredMessage, PublishError | SubscribeError> {
    const inbox = `_inbox.${randomUUID()}`;
    let settle: (r: Result<StoredMessage, PublishError | SubscribeError>) => void = () => {};
    const reply = new Promise<Result<StoredMessage, PublishError | SubscribeError>>((resolve) => (settle = resolve));
    const sink: Sink = {
      deliver: (d: Delivery) => {
        settle(ok(d.message));
        return true;
      },
    };
    const ttlSeconds = Math.max(1, Math.ceil(options.timeoutMs / 1000));
    return this.subscribe({ pattern: inbox }, sink).andThen(({ subscriptionId }) => {
      const timer = setTimeout(
        () => settle(err(brokerError('UNAVAILABLE', `no reply to ${topic} within ${options.timeoutMs} ms`))),
        options.timeoutMs,
      );
      void this.publish({ topic, payload, ttlSeconds, metadata: { ...options.metadata, reply_to: inbox } }).mapErr((e) => settle(err(e)));
      return new ResultAsync(
        reply.finally(() => {
          clearTimeout(timer);
          this.unsubscribe(subscriptionId);
        }),
      );
    });
  }

  /** Answers a request received by a subscriber. */
  reply(request: StoredMessage, payload: string, metadata?: Record<string, unknown>): ResultAsync<Published, PublishError> {
    const replyTo = messageMetadata(request.metadata)['reply_to'];
    if (typeof replyTo !== 'string') return errAsync(brokerError('BAD_ARGS', `message ${request.seq} is not a request (no reply_to)`));
    return this.publish({ topic: replyTo, payload, ttlSeconds: REPLY_TTL_SECONDS, metadata });
  }

  /** Creates or updates a durable consumer (a push endpoint, or a named API consumer). */
  saveConsumer(input: ConsumerInput): ResultAsync<ConsumerInfo, SubscribeError> {
    if (!CONSUMER_ID.test(input.id)) return errAsync(badConsumerId(input.id));
    const patterns: string[] = [];
    for (const p of input.patterns) {
      const checked = checkPattern(p);
      if (checked.isErr()) return errAsync(checked.error);
      if (!patterns.includes(checked.value)) patterns.push(checked.value);
    }
    const filter = compileOptionalFilter(input.filter);
    if (filter.isErr()) return errAsync(filter.error);
    const stream = this.#dispatcher.durable(input.id);
    const record = this.#records.get(input.id);
    if (stream !== undefined && record !== undefined) {
      this.#dispatcher.setPatterns(stream, patterns, filter.value.filter);
      return this.#persist({ ...record, address: input.address, patterns, filter: filter.value.json }, stream).map(() =>
        this.#info(input.id)!,
      );
    }
    return this.#createDurable(input.id, input.address, patterns, filter.value, this.#dispatcher.head() + 1).map(
      () => this.#info(input.id)!,
    );
  }

  removeConsumer(id: string): ResultAsync<void, BrokerError<'UNKNOWN_CONSUMER'>> {
    if (!this.#records.has(id)) return errAsync(brokerError('UNKNOWN_CONSUMER', `no consumer ${id}`));
    this.#dispatcher.removeDurable(id);
    this.#records.delete(id);
    return ResultAsync.fromSafePromise(this.#store.deleteConsumer(id));
  }

  /** Rewinds a durable consumer: messages from `seq` on are delivered again. */
  replay(id: string, seq: number): ResultAsync<void, BrokerError<'UNKNOWN_CONSUMER' | 'BAD_ARGS' | 'UNAVAILABLE'>> {
    const stream = this.#dispatcher.durable(id);
    const record = this.#records.get(id);
    if (stream === undefined || record === undefined) return errAsync(brokerError('UNKNOWN_CONSUMER', `no consumer ${id}`));
    if (!Number.isSafeInteger(seq) || seq < 1) return errAsync(brokerError('BAD_ARGS', 'seq must be a whole number from 1'));
    return this.#rewind(stream, record, seq);
  }

  consumer(id: string): ConsumerInfo | undefined {
    return this.#info(id);
  }

  consumers(): ConsumerInfo[] {
    return [...this.#records.keys()].map((id) => this.#info(id)!);
  }

  stats(): BrokerStats {
    return {
      headSeq: this.#dispatcher.head(),
      topics: this.#topics.snapshot(),
      consumers: this.consumers(),
      subscriptions: [...this.#dispatcher.subscriptionIds()].length,
    };
  }

  /** Runs one retention pass now (tests and tools; the broker also runs them on a timer). */
  runRetention(): Promise<number> {
    return this.#retention.runOnce();
  }

  /** Stops in the reverse order of start-up: publishes, subscriptions, retention, the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#committer.close();
    // Let the last commits' callers and subscribers hear about them before the subscriptions end.
    await this.#committer.drained();
    await new Promise((resolve) => setImmediate(resolve));
    clearInterval(this.#statsTimer);
    this.#retention.stop();
    await this.#dispatcher.close();
    await this.#store.close();
  }

  async #restore(): Promise<void> {
    this.#topics.load(await this.#store.topicCounts());
    for (const record of await this.#store.listConsumers()) {
      const filter = compileOptionalFilter(record.filter === null ? undefined : JSON.parse(record.filter));
      if (filter.isErr()) {
        this.#log.error('stored consumer has an invalid filter; it is ignored', { consumer: record.id });
      }
      const ackedAhead = await this.#store.processedAbove(record.id, record.position, record.rewoundAt);
      this.#dispatcher.addDurable(record, filter.isOk() ? filter.value.filter : undefined, ackedAhead);
      this.#records.set(record.id, record);
      this.#storedDeadLetters.set(record.id, await this.#store.deadLetterCount(record.id));
    }
  }

  #durableStream(
    id: string,
    patterns: string[],
    filter: MessageFilter | undefined,
    filterJson: string | null,
    start: StartAt | undefined,
  ): ResultAsync<Stream, SubscribeError> {
    if (!CONSUMER_ID.test(id)) return errAsync(badConsumerId(id));
    const stream = this.#dispatcher.durable(id);
    const record = this.#records.get(id);
    if (stream === undefined || record === undefined) {
      return ResultAsync.fromSafePromise(this.#startSeq(start)).andThen((seq) =>
        // Another subscribe may have created the consumer while the start was looked up: join it.
        this.#dispatcher.durable(id) !== undefined
          ? this.#durableStream(id, patterns, filter, filterJson, undefined)
          : this.#createDurable(id, null, patterns, { filter, json: filterJson }, seq),
      );
    }
    const samePatterns = patterns.length === stream.patterns.length && patterns.every((p) => stream.patterns.includes(p));
    if (!samePatterns || filterJson !== record.filter) {
      if (stream.members.length > 0) {
        return errAsync(
          brokerError('BAD_PATTERN', `consumer ${id} is subscribed to ${stream.patterns.join(',')}; its group members must use the same pattern and filter`),
        );
      }
      this.#dispatcher.setPatterns(stream, patterns, filter);
    }
    const updated = { ...record, patterns, filter: filterJson };
    if (start === undefined) return this.#persist(updated, stream).map(() => stream);
    return ResultAsync.fromSafePromise(this.#startSeq(start)).andThen((seq) => this.#rewind(stream, updated, seq).map(() => stream));
  }

  #createDurable(
    id: string,
    address: string | null,
    patterns: string[],
    filter: { filter: MessageFilter | undefined; json: string | null },
    startSeq: number,
  ): ResultAsync<Stream, SubscribeError> {
    const now = this.#now();
    const record: ConsumerRecord = {
      id,
      address,
      patterns,
      position: startSeq - 1,
      filter: filter.json,
      rewoundAt: 0,
      createdAt: now,
      updatedAt: now,
    };
    const stream = this.#dispatcher.addDurable(record, filter.filter, []);
    return this.#persist(record, stream).map(() => stream);
  }

  #rewind(stream: Stream, record: ConsumerRecord, seq: number): ResultAsync<void, BrokerError<'UNAVAILABLE'>> {
    // Flush first, so acks from before the rewind carry an earlier time than rewoundAt.
    this.#dispatcher.flush();
    stream.rewind(seq);
    this.#dispatcher.touch(stream); // the new position is written with the next progress batch
    const now = Math.max(this.#now(), record.rewoundAt + 1);
    return this.#persist({ ...record, rewoundAt: now }, stream);
  }

  #persist(record: ConsumerRecord, stream: Stream): ResultAsync<void, BrokerError<'UNAVAILABLE'>> {
    const saved = { ...record, position: stream.floor(), updatedAt: this.#now() };
    this.#records.set(record.id, saved);
    return ResultAsync.fromPromise(this.#store.saveConsumer(saved), (e) =>
      brokerError('UNAVAILABLE', 'could not save the consumer', e),
    );
  }

  async #startSeq(start: StartAt | undefined): Promise<number> {
    if (start === undefined || start.kind === 'head') return this.#dispatcher.head() + 1;
    if (start.kind === 'seq') return start.seq;
    return Math.min(await this.#store.seqAtTime(start.timeMs), this.#dispatcher.head() + 1);
  }

  #withSubscription(id: string, act: (stream: Stream) => void): Result<void, UnknownSubscription> {
    const entry = this.#dispatcher.subscription(id);
    if (entry === undefined) {
      if (this.#pendingAttach.has(id)) return ok(undefined);
      return err(brokerError('UNKNOWN_SUBSCRIPTION', `no subscription ${id}`));
    }
    act(entry.stream);
    return ok(undefined);
  }

  #info(id: string): ConsumerInfo | undefined {
    const record = this.#records.get(id);
    const stream = this.#dispatcher.durable(id);
    if (record === undefined || stream === undefined) return undefined;
    const position = stream.floor();
    return {
      id,
      address: record.address,
      patterns: stream.patterns,
      position,
      lag: Math.max(0, this.#dispatcher.head() - position),
      inFlight: stream.inFlightCount,
      subscribers: stream.members.length,
      deadLetters: (this.#storedDeadLetters.get(id) ?? 0) + (this.#dispatcher.deadLetterCounts.get(id) ?? 0),
    };
  }
}

interface CheckedSubscribe {
  readonly patterns: string[];
  readonly filter: MessageFilter | undefined;
  readonly filterJson: string | null;
  readonly maxInFlight: number;
}

function checkSubscribe(options: SubscribeOptions, defaultMaxInFlight: number): Result<CheckedSubscribe, SubscribeError> {
  const raw = typeof options.pattern === 'string' ? [options.pattern] : options.pattern;
  if (raw.length === 0) return err(brokerError('BAD_PATTERN', 'at least one pattern is needed'));
  const patterns: string[] = [];
  for (const p of raw) {
    const checked = checkPattern(p);
    if (checked.isErr()) return err(checked.error);
    if (!patterns.includes(checked.value)) patterns.push(checked.value);
  }
  const maxInFlight = options.maxInFlight ?? defaultMaxInFlight;
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) return err(brokerError('BAD_ARGS', 'max_in_flight must be a whole number from 1'));
  const start = options.start;
  if (start?.kind === 'seq' && (!Number.isSafeInteger(start.seq) || start.seq < 0)) {
    return err(brokerError('BAD_ARGS', 'starting_seq must be a whole number, 0 or more'));
  }
  if (start?.kind === 'time' && !Number.isFinite(start.timeMs)) return err(brokerError('BAD_ARGS', 'starting_time must be ms since the epoch'));
  const filter = compileOptionalFilter(options.filter);
  if (filter.isErr()) return err(filter.error);
  return ok({ patterns, filter: filter.value.filter, filterJson: filter.value.json, maxInFlight });
}

function compileOptionalFilter(spec: unknown): Result<{ filter: MessageFilter | undefined; json: string | null }, BrokerError<'BAD_ARGS'>> {
  if (spec === undefined || spec === null) return ok({ filter: undefined, json: null });
  return compileFilter(spec).map((filter) => ({ filter, json: JSON.stringify(spec) }));
}

function badConsumerId(id: string): BrokerError<'BAD_ARGS'> {
  return brokerError('BAD_ARGS', `consumer name ${JSON.stringify(id.slice(0, 64))} must be 1-255 letters, digits or _ . : @ -`);
}

