// Durable consumers: their stored records, restoring them at start-up, creating, updating, rewinding and
// removing them, keeping them in step with a shared store's (sync, with the changes made here counted in
// consumer-changes.ts), and what the API says of each. Their streams live in the Dispatcher; this module keeps
// the stored side in step with it.
import { errAsync, ok, okAsync, ResultAsync, safeTry } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { checkFormatFits, DEFAULT_PUSH_FORMAT, type PushFormat } from '../protocol/push-format.js';
import { ConsumerChanges } from './consumer-changes.js';
import type { ConsumerRecord, ConsumerSignal, EventStore, StorageError } from './store-port.js';
import type { Dispatcher } from './dispatcher.js';
import { NO_LIMITS, type Stream, type StreamLimits } from './stream.js';
import type { ConsumerLimitsInput } from '../protocol/pull.js';
import {
  checkConsumer,
  checkConsumerId,
  parseStoredFilter,
  type ConsumerInput,
  type OptionalFilter,
  type SubscribeError,
} from './subscribe-options.js';
import type { StartAt, StoredMessage } from './types.js';

export interface ConsumerInfo {
  readonly id: string;
  readonly address: string | null;
  readonly patterns: readonly string[];
  /** JSON text of the content filter, or null. */
  readonly filter: string | null;
  /** Paused (PAUSE): nothing is delivered to it until resumed. */
  readonly paused: boolean;
  /** Ack floor: every matching message up to this seq is done. */
  readonly position: number;
  /** Deliveries sent and awaiting an ack right now, on every broker. */
  readonly inFlight: number;
  readonly subscribers: number;
  /** Its redelivery backoff (PROTOCOL.md §11), or null: redelivered at once. */
  readonly backoffMs: readonly number[] | null;
  /** What its http(s) pushes carry (PROTOCOL.md §13). */
  readonly format: PushFormat;
  /** Its limits as they apply: its own, else the settings' (PROTOCOL.md §8). */
  readonly ackTimeoutMs: number;
  readonly maxDeliveries: number;
  readonly maxInFlight: number;
  /** The limits it has of its own (null: the setting's). */
  readonly ownLimits: StreamLimits;
}

export interface ConsumerRegistryOptions {
  readonly store: EventStore;
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
  readonly now: () => number;
  /** The broker's start resolution, shared with ephemeral subscriptions so both read `start` alike. */
  readonly startSeq: (start: StartAt | undefined) => ResultAsync<number, StorageError>;
  /**
   * The consumers are shared with other brokers (cluster.ts): their positions are the store's, and this
   * gives their members and deliveries in flight on the other brokers.
   */
  readonly elsewhere?: ((id: string) => { members: number; inFlight: number }) | undefined;
}

export class ConsumerRegistry {
  readonly #store: EventStore;
  readonly #dispatcher: Dispatcher;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #startSeq: (start: StartAt | undefined) => ResultAsync<number, StorageError>;
  readonly #records = new Map<string, ConsumerRecord>();
  readonly #elsewhere: ((id: string) => { members: number; inFlight: number }) | undefined;
  /** The changes made here, which a view of a shared store read meanwhile may not hold (sync). */
  readonly changes = new ConsumerChanges();

  constructor(options: ConsumerRegistryOptions) {
    this.#store = options.store;
    this.#dispatcher = options.dispatcher;
    this.#log = options.logger;
    this.#now = options.now;
    this.#startSeq = options.startSeq;
    this.#elsewhere = options.elsewhere;
  }

  records(): IterableIterator<ConsumerRecord> {
    return this.#records.values();
  }

  record(id: string): ConsumerRecord | undefined {
    return this.#records.get(id);
  }

  /**
   * Shared consumers: makes this broker's consumers those of `records`, the store's as read after this
   * registry's change `version` (changes made here since are newer than the view, and kept). Returns the
   * consumers that were added, removed, or changed address or format (push delivery follows both).
   */
  sync(records: readonly ConsumerRecord[], version: number): Set<string> {
    const changed = new Set<string>();
    const current = (id: string): boolean => this.changes.changedSince(id, version);
    const seen = new Set<string>();
    for (const record of records) {
      seen.add(record.id);
      if (current(record.id)) continue;
      const local = this.#records.get(record.id);
      const stream = this.#dispatcher.durable(record.id);
      if (local === undefined || stream === undefined) {
        this.#adopt(record);
        changed.add(record.id);
        continue;
      }
      // Rewound on another broker: the leases were given back with it, and this broker's acks are void.
      if (record.rewoundAt > local.rewoundAt) stream.rewind(record.position + 1);
      if (record.filter !== local.filter || JSON.stringify(record.patterns) !== JSON.stringify(local.patterns)) {
        const filter = parseStoredFilter(record.filter);
        this.#dispatcher.setPatterns(stream, record.patterns, filter.isOk() ? filter.value.filter : undefined);
      }
      if (!sameBackoff(record.backoffMs, local.backoffMs)) stream.setBackoff(record.backoffMs);
      if (!sameLimits(record, local)) this.#dispatcher.setLimits(stream, record);
      if (record.address !== local.address || record.format !== local.format) changed.add(record.id);
      // Paused or resumed on another broker (its signal may have come first, or been lost).
      const paused = record.pauseChangedAt > local.pauseChangedAt ? record : local;
      stream.setPaused(paused.paused);
      this.#records.set(record.id, { ...record, paused: paused.paused, pauseChangedAt: paused.pauseChangedAt });
    }
    for (const id of [...this.#records.keys()]) {
      if (seen.has(id) || current(id)) continue;
      this.#dispatcher.removeDurable(id);
      this.#records.delete(id);
      changed.add(id);
    }
    return changed;
  }

  /** A pause, resume or requeue made through another broker, heard of as it committed. */
  applySignal(signal: Exclude<ConsumerSignal, { kind: 'credentials' | 'removed' }>): void {
    const record = this.#records.get(signal.consumer);
    const stream = this.#dispatcher.durable(signal.consumer);
    if (record === undefined || stream === undefined) return; // the next heartbeat brings the consumer
    if (signal.kind === 'requeued') {
      void this.takeRequeued(signal.consumer).mapErr((e) => {
        this.#log.warn('could not read the dead letters requeued on another broker; a restart or partition move brings them', { consumer: signal.consumer, reason: e.message });
      });
      return;
    }
    if (signal.changedAt <= record.pauseChangedAt) return;
    this.#records.set(record.id, { ...record, paused: signal.paused, pauseChangedAt: signal.changedAt });
    stream.setPaused(signal.paused);
  }

  /** Pauses or resumes a consumer, on every broker; its position is kept. */
  setPaused(id: string, paused: boolean): ResultAsync<ConsumerInfo, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    const record = this.#records.get(id);
    const stream = this.#dispatcher.durable(id);
    if (record === undefined || stream === undefined) return errAsync(brokerError('UNKNOWN_CONSUMER', `no consumer ${id}`));
    // Later than the last change, whatever the clocks of the brokers that made it.
    const changedAt = Math.max(this.#now(), record.pauseChangedAt + 1);
    this.#records.set(id, { ...record, paused, pauseChangedAt: changedAt });
    stream.setPaused(paused);
    return this.#store.setPaused(id, paused, changedAt).map(() => this.info(id)!);
  }

  /**
   * Hands the consumer's stream the requeued dead letters the store keeps for it (those it has already are
   * skipped). The acks taken so far are written first: a requeued message acked a moment ago is no longer kept.
   */
  takeRequeued(id: string): ResultAsync<void, StorageError> {
    return ResultAsync.fromSafePromise(this.#dispatcher.progress.settled()).andThen(() => this.#store.requeued(id)).map((messages) => {
      const stream = this.#dispatcher.durable(id);
      if (stream !== undefined && !stream.isClosed && messages.length > 0) stream.requeue(messages);
    });
  }

  /** A consumer another broker made: its stream starts holding no partition (cluster.ts gives it some). */
  #adopt(record: ConsumerRecord): Stream {
    const filter = parseStoredFilter(record.filter);
    const stream = this.#dispatcher.addDurable(record, filter.isOk() ? filter.value.filter : undefined, []);
    this.#records.set(record.id, record);
    return stream;
  }

  /** Loads every stored consumer into the dispatcher, in the stored order; runs once, before the broker is handed out. */
  restore(): ResultAsync<void, StorageError> {
    const store = this.#store;
    const restoreOne = (record: ConsumerRecord, ackedAhead: number[], prior: Map<number, number>, requeued: StoredMessage[], reserved = 0): void => {
      const filter = parseStoredFilter(record.filter);
      if (filter.isErr()) {
        this.#log.error('stored consumer has an invalid filter; it is ignored', { consumer: record.id, reason: filter.error.message });
      }
      const stream = this.#dispatcher.addDurable(record, filter.isOk() ? filter.value.filter : undefined, ackedAhead, prior, reserved);
      if (requeued.length > 0) stream.requeue(requeued);
      this.#records.set(record.id, record);
    };
    const shared = this.#elsewhere !== undefined;
    return safeTry(async function* () {
      for (const record of yield* store.listConsumers()) {
        // Shared: what is acked above each partition's position, and what is requeued, is read when its lease
        // is taken (cluster.ts).
        if (shared) {
          restoreOne(record, [], new Map(), []);
          continue;
        }
        const ackedAhead = yield* store.processedAbove(record.id, record.position, record.rewoundAt);
        const prior = yield* store.deliveryCounts(record.id, record.position);
        const requeued = yield* store.requeued(record.id);
        restoreOne(record, ackedAhead, prior, requeued, yield* store.reservation(record.id));
      }
      return ok(undefined);
    });
  }

  /** Creates or updates a durable consumer (a push endpoint, or a named API consumer). */
  save(input: ConsumerInput): ResultAsync<ConsumerInfo, SubscribeError> {
    const checked = checkConsumer(input);
    if (checked.isErr()) return errAsync(checked.error);
    const { patterns, filter, backoffMs, format, limits } = checked.value;
    if (input.leaseMs !== undefined && (!Number.isSafeInteger(input.leaseMs) || input.leaseMs < 1)) {
      return errAsync(brokerError('BAD_ARGS', 'a lease must be a whole number of ms from 1'));
    }
    const stream = this.#dispatcher.durable(input.id);
    const record = this.#records.get(input.id);
    const expiresAt = input.leaseMs === undefined ? (record?.expiresAt ?? null) : this.#now() + input.leaseMs;
    // Checked against the address it will have: a new address the kept format cannot go to is refused as well.
    const keptFormat = format === undefined ? (record?.format ?? null) : format;
    const fits = checkFormatFits(keptFormat, input.address);
    if (fits.isErr()) return errAsync(fits.error);
    if (stream !== undefined && record !== undefined) {
      this.#dispatcher.setPatterns(stream, patterns, filter.filter);
      const updated = {
        ...record,
        ...keptLimits(record, limits),
        address: input.address,
        patterns,
        filter: filter.json,
        expiresAt,
        backoffMs: backoffMs === undefined ? record.backoffMs : backoffMs,
        format: keptFormat,
      };
      stream.setBackoff(updated.backoffMs);
      if (!sameLimits(updated, record)) this.#dispatcher.setLimits(stream, updated);
      return this.#persist(updated, stream).map(() => this.info(input.id)!);
    }
    const made = { backoffMs: backoffMs ?? null, expiresAt, format: keptFormat, limits: keptLimits(undefined, limits) };
    return this.#createDurable(input.id, input.address, patterns, filter, this.#dispatcher.head() + 1, made).andThen((stream) =>
      // Made by another broker first: this is an update of it.
      stream === undefined ? this.save(input) : okAsync(this.info(input.id)!),
    );
  }

  remove(id: string): ResultAsync<void, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    if (!this.#records.has(id)) return errAsync(brokerError('UNKNOWN_CONSUMER', `no consumer ${id}`));
    this.changes.changed(id);
    this.#dispatcher.removeDurable(id);
    this.#records.delete(id);
    return this.#store.deleteConsumer(id);
  }

  /**
   * Removes the consumers whose lease has lapsed by `now`; returns their ids. The store decides: shared, it
   * holds the latest renewal, which may have come through another broker this one has not heard from yet.
   */
  removeLapsed(now: number): ResultAsync<string[], StorageError> {
    const lapsed = [...this.#records.values()].filter((r) => r.expiresAt !== null && r.expiresAt <= now).map((r) => r.id);
    const removeOne = (id: string): ResultAsync<string | undefined, StorageError> =>
      this.#store.deleteLapsedConsumer(id, now).map((removed) => {
        const record = this.#records.get(id);
        // Gone already, or renewed here while the delete was on its way (that save stores it again).
        if (!removed || record === undefined || (record.expiresAt ?? Infinity) > now) return undefined;
        this.changes.changed(id);
        this.#dispatcher.removeDurable(id);
        this.#records.delete(id);
        return id;
      });
    return ResultAsync.combine(lapsed.map(removeOne)).map((ids) => ids.filter((id) => id !== undefined));
  }

  /**
   * Rewinds a durable consumer: messages from `seq` on are delivered again. Answers the consumer as the
   * rewind left it, taken before anything is delivered again (a fast push address may have had the whole
   * rewound range by the time the rewind is stored), with the head then.
   */
  replay(id: string, seq: number): ResultAsync<{ info: ConsumerInfo; head: number }, BrokerError<'UNKNOWN_CONSUMER' | 'BAD_ARGS' | 'UNAVAILABLE'>> {
    const stream = this.#dispatcher.durable(id);
    const record = this.#records.get(id);
    if (stream === undefined || record === undefined) return errAsync(brokerError('UNKNOWN_CONSUMER', `no consumer ${id}`));
    if (!Number.isSafeInteger(seq) || seq < 1) return errAsync(brokerError('BAD_ARGS', 'seq must be a whole number from 1'));
    const rewound = this.#rewind(stream, record, seq);
    // Deliveries start on a later turn of the event loop: this is the consumer right after the rewind.
    const info = this.info(id)!;
    const head = this.#dispatcher.head();
    return rewound.map(() => ({ info, head }));
  }

  info(id: string): ConsumerInfo | undefined {
    const record = this.#records.get(id);
    const stream = this.#dispatcher.durable(id);
    if (record === undefined || stream === undefined) return undefined;
    // Shared, the store's position covers every broker's partitions; this broker's floor only its own.
    const position = this.#elsewhere === undefined ? stream.floor() : record.position;
    const elsewhere = this.#elsewhere?.(id) ?? { members: 0, inFlight: 0 };
    return {
      id,
      address: record.address,
      patterns: stream.patterns,
      filter: record.filter,
      paused: record.paused,
      position,
      inFlight: stream.awaitingAck + elsewhere.inFlight,
      subscribers: stream.members.length + elsewhere.members,
      backoffMs: record.backoffMs,
      format: record.format ?? DEFAULT_PUSH_FORMAT,
      ackTimeoutMs: stream.ackTimeoutMs,
      maxDeliveries: stream.maxDeliveries,
      maxInFlight: record.maxInFlight ?? this.#dispatcher.maxInFlight,
      ownLimits: { ackTimeoutMs: record.ackTimeoutMs, maxDeliveries: record.maxDeliveries, maxInFlight: record.maxInFlight },
    };
  }

  list(): ConsumerInfo[] {
    return [...this.#records.keys()].map((id) => this.info(id)!);
  }

  /**
   * The stream a durable subscribe joins: the consumer's, created if new. A `start` rewinds an existing
   * consumer; new patterns or filter replace its old ones only while nobody is subscribed to it. A backoff
   * given replaces the consumer's whoever is subscribed (it changes when redeliveries come, not what is delivered);
   * undefined keeps it.
   */
  durableStream(
    id: string,
    patterns: string[],
    filter: OptionalFilter,
    start: StartAt | undefined,
    backoffMs?: readonly number[] | null,
  ): ResultAsync<Stream, SubscribeError> {
    const checkedId = checkConsumerId(id);
    if (checkedId.isErr()) return errAsync(checkedId.error);
    const stream = this.#dispatcher.durable(id);
    const record = this.#records.get(id);
    if (stream === undefined || record === undefined) {
      return this.#startSeq(start).andThen((seq) =>
        // Another subscribe created the consumer while the start was looked up: join it, with this start
        // applied as it would be had the two come one after the other.
        this.#dispatcher.durable(id) !== undefined
          ? this.durableStream(id, patterns, filter, start, backoffMs)
          : this.#createDurable(id, null, patterns, filter, seq, { backoffMs: backoffMs ?? null }).andThen((made) =>
              made === undefined ? this.durableStream(id, patterns, filter, start, backoffMs) : okAsync(made),
            ),
      );
    }
    const samePatterns = patterns.length === stream.patterns.length && patterns.every((p) => stream.patterns.includes(p));
    if (!samePatterns || filter.json !== record.filter) {
      if (stream.members.length > 0) {
        return errAsync(
          brokerError('BAD_PATTERN', `consumer ${id} is subscribed to ${stream.patterns.join(',')}; its group members must use the same pattern and filter`),
        );
      }
      this.#dispatcher.setPatterns(stream, patterns, filter.filter);
    }
    const updated = { ...record, patterns, filter: filter.json, backoffMs: backoffMs === undefined ? record.backoffMs : backoffMs };
    stream.setBackoff(updated.backoffMs);
    if (start === undefined) return this.#persist(updated, stream).map(() => stream);
    return this.#startSeq(start).andThen((seq) => this.#rewind(stream, updated, seq).map(() => stream));
  }

  #createDurable(
    id: string,
    address: string | null,
    patterns: string[],
    filter: OptionalFilter,
    startSeq: number,
    settings: { backoffMs: readonly number[] | null; expiresAt?: number | null; format?: PushFormat | null; limits?: StreamLimits },
  ): ResultAsync<Stream | undefined, SubscribeError> {
    const { backoffMs, expiresAt = null, format = null, limits = NO_LIMITS } = settings;
    const now = this.#now();
    const record: ConsumerRecord = {
      id,
      address,
      patterns,
      position: startSeq - 1,
      filter: filter.json,
      // A consumer removed and created again under the same name must not inherit the old one's acks
      // (processed_messages rows count only after rewoundAt).
      rewoundAt: now,
      paused: false,
      pauseChangedAt: 0,
      createdAt: now,
      updatedAt: now,
      expiresAt,
      backoffMs,
      format,
      ...limits,
    };
    if (this.#elsewhere !== undefined) {
      // Shared: another broker may have made a consumer of this name before this one heard of it; that one
      // stands, and undefined tells the caller to go on with it.
      return this.#store.createConsumer(record).map((stored) => {
        // Two brokers may create it in the same millisecond: the rest of the record tells them apart too.
        const made =
          stored.createdAt === record.createdAt &&
          stored.rewoundAt === record.rewoundAt &&
          stored.position === record.position &&
          stored.filter === record.filter &&
          stored.patterns.join('\u0000') === record.patterns.join('\u0000');
        const stream = this.#dispatcher.durable(id) ?? this.#adopt(stored);
        this.changes.changed(id);
        return made ? stream : undefined;
      });
    }
    const stream = this.#dispatcher.addDurable(record, filter.filter, []);
    return this.#persist(record, stream)
      .orElse((e) => {
        // Not on disk, so not kept: a consumer living in memory alone would start over after a restart, and
        // retention, which prunes the acks of consumers missing from the table, would drop its acks meanwhile.
        if (this.#dispatcher.durable(id) === stream) {
          this.#dispatcher.removeDurable(id);
          this.#records.delete(id);
        }
        return errAsync(e);
      })
      .map(() => stream);
  }

  #rewind(stream: Stream, record: ConsumerRecord, seq: number): ResultAsync<void, BrokerError<'UNAVAILABLE'>> {
    // Flush first, so acks from before the rewind carry an earlier time than rewoundAt.
    this.#dispatcher.progress.flush();
    stream.rewind(seq);
    this.#dispatcher.progress.touch(stream); // the new position is written with the next progress batch
    const now = Math.max(this.#now(), record.rewoundAt + 1);
    const saved = this.#persist({ ...record, rewoundAt: now }, stream);
    this.changes.rewound(record.id, Promise.resolve(saved));
    return saved;
  }

  #persist(record: ConsumerRecord, stream: Stream): ResultAsync<void, BrokerError<'UNAVAILABLE'>> {
    const saved = { ...record, position: stream.floor(), updatedAt: this.#now() };
    this.#records.set(record.id, saved);
    this.changes.changed(record.id);
    return this.#store.saveConsumer(saved);
  }
}

/** A consumer's limits after a save: each given one set (null: back to the setting's), the others kept. */
function keptLimits(record: StreamLimits | undefined, given: ConsumerLimitsInput): StreamLimits {
  const kept = record ?? NO_LIMITS;
  return {
    ackTimeoutMs: given.ackTimeoutMs === undefined ? kept.ackTimeoutMs : given.ackTimeoutMs,
    maxDeliveries: given.maxDeliveries === undefined ? kept.maxDeliveries : given.maxDeliveries,
    maxInFlight: given.maxInFlight === undefined ? kept.maxInFlight : given.maxInFlight,
  };
}

function sameLimits(a: StreamLimits, b: StreamLimits): boolean {
  return a.ackTimeoutMs === b.ackTimeoutMs && a.maxDeliveries === b.maxDeliveries && a.maxInFlight === b.maxInFlight;
}

function sameBackoff(a: readonly number[] | null, b: readonly number[] | null): boolean {
  return a === b || (a !== null && b !== null && a.length === b.length && a.every((n, i) => n === b[i]));
}
