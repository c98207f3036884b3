// Fan-out: owns every Stream, routes each committed message to the live streams whose patterns match
// (through the PatternIndex, never a scan of all subscriptions) and drives ack deadlines. What the streams
// resolve goes back to the store through its ProgressWriter (progress.ts), in batches.
import { SHUTTING_DOWN } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ResultAsync } from 'neverthrow';
import type { ConsumerRecord, EventStore, StorageError } from './store-port.js';
import type { MessageFilter } from '../protocol/filter.js';
import { PatternIndex } from './patterns.js';
import { ProgressWriter } from './progress.js';
import { Stream, type StreamHost, type StreamLimits } from './stream.js';
import { NO_TRACING, type Tracing } from './tracing.js';
import { Member } from './subscription.js';
import type { Sink, StoredMessage } from './types.js';

export interface DispatcherOptions {
  /** The settings' limits, for durable consumers without their own. */
  readonly ackTimeoutMs: number;
  readonly maxDeliveries: number;
  readonly maxInFlight: number;
  /** Seqs a durable stream reserves ahead of its deliveries at a time (EVENTBUS_DELIVERY_RESERVATION). */
  readonly reservation: number;
  readonly now: () => number;
  /**
   * Durable consumers are shared with other brokers, in this many partitions (cluster.ts): their positions
   * are recorded per partition by the cluster's heartbeat rather than by progress batches.
   */
  readonly partitions?: number | undefined;
  /** Spans of the delivery attempts; none when absent. */
  readonly tracing?: Tracing | undefined;
}

export class Dispatcher implements StreamHost {
  readonly #store: EventStore;
  readonly ackTimeoutMs: number;
  readonly maxDeliveries: number;
  readonly maxInFlight: number;
  readonly reservation: number;
  readonly now: () => number;
  readonly tracing: Tracing;
  readonly #log: Logger;
  readonly #partitions: number | undefined;
  #head: number;
  readonly #byPattern = new PatternIndex<Stream>();
  readonly #durable = new Map<string, Stream>();
  readonly #members = new Map<string, { stream: Stream; member: Member }>();
  /** Writes what the streams resolved: acks, dead letters, positions, attempt counts, reservations, statuses. */
  readonly progress: ProgressWriter;
  #deliveries = 0;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #tickMs = 0;
  #closed = false;
  /** Called when a durable stream gains its first member or loses its last. */
  #membersChanged: ((stream: Stream) => void) | undefined;
  /** Called when the last delivery in flight of a partition on its way to another broker is resolved. */
  #drained: ((stream: Stream) => void) | undefined;

  constructor(store: EventStore, options: DispatcherOptions, logger: Logger) {
    this.#store = store;
    this.ackTimeoutMs = options.ackTimeoutMs;
    this.maxDeliveries = options.maxDeliveries;
    this.maxInFlight = options.maxInFlight;
    this.reservation = options.reservation;
    this.now = options.now;
    this.tracing = options.tracing ?? NO_TRACING;
    this.#log = logger;
    this.#partitions = options.partitions;
    this.#head = store.lastSeq();
    this.#retick();
    this.progress = new ProgressWriter(store, this, options.now, logger);
  }

  head(): number {
    return this.#head;
  }

  /** Nothing up to `seq` is left to announce (the seqs between were deleted, or never committed). */
  advance(seq: number): void {
    if (seq > this.#head) this.#head = seq;
  }

  /** Messages just made durable, in seq order, all above head(). */
  onCommit(messages: readonly StoredMessage[]): void {
    for (const message of messages) {
      const streams = this.#byPattern.match(message.topic);
      for (let i = 0; i < streams.length; i++) streams[i]!.offerLive(message);
      this.#head = message.seq;
    }
  }

  /**
   * Restores a durable consumer from the store at start-up, or creates one. `priorDeliveries`: the attempts
   * made before a restart at messages still unacked, by seq; `reservedSeq`: its stored reservation.
   */
  addDurable(
    record: ConsumerRecord,
    filter: MessageFilter | undefined,
    ackedAhead: Iterable<number>,
    priorDeliveries?: ReadonlyMap<number, number>,
    reservedSeq?: number,
  ): Stream {
    const stream = new Stream({
      key: record.id,
      isDurable: true,
      host: this,
      patterns: record.patterns,
      filter,
      startSeq: record.position + 1,
      ackedAhead,
      priorDeliveries,
      partitions: this.#partitions,
      paused: record.paused,
      reservedSeq,
      backoffMs: record.backoffMs,
      limits: record,
    });
    this.#durable.set(record.id, stream);
    for (const p of record.patterns) this.#byPattern.add(p, stream);
    this.#retick();
    return stream;
  }

  /** A durable consumer's own limits changed. */
  setLimits(stream: Stream, limits: StreamLimits): void {
    stream.setLimits(limits);
    this.#retick();
  }

  durable(id: string): Stream | undefined {
    return this.#durable.get(id);
  }

  durableStreams(): IterableIterator<Stream> {
    return this.#durable.values();
  }

  setPatterns(stream: Stream, patterns: readonly string[], filter: MessageFilter | undefined): void {
    for (const p of stream.patterns) this.#byPattern.remove(p, stream);
    stream.setPatterns(patterns, filter);
    for (const p of patterns) this.#byPattern.add(p, stream);
  }

  removeDurable(id: string): void {
    const stream = this.#durable.get(id);
    if (stream === undefined) return;
    for (const member of [...stream.members]) this.detach(member.id, `consumer ${id} was removed`);
    for (const p of stream.patterns) this.#byPattern.remove(p, stream);
    stream.close();
    this.#durable.delete(id);
    this.progress.forget(stream);
  }

  /** A new ephemeral stream starting at `startSeq`. */
  addEphemeral(id: string, patterns: readonly string[], filter: MessageFilter | undefined, startSeq: number): Stream {
    const stream = new Stream({ key: id, isDurable: false, host: this, patterns, filter, startSeq });
    for (const p of patterns) this.#byPattern.add(p, stream);
    return stream;
  }

  /** `maxInFlight`: the window the subscription asks for; undefined, its consumer's. */
  attach(stream: Stream, id: string, sink: Sink, maxInFlight: number | undefined, group: string | undefined, inOrder = false): Member {
    const member = new Member(id, sink, maxInFlight, group, inOrder);
    this.#members.set(id, { stream, member });
    stream.addMember(member);
    if (stream.isDurable && stream.members.length === 1) this.#membersChanged?.(stream);
    return member;
  }

  /** Some subscription or push consumer is attached here. */
  hasMembers(): boolean {
    return this.#members.size > 0;
  }

  /** Tells `listener` when a durable stream gains its first member or loses its last. */
  onMembersChanged(listener: (stream: Stream) => void): void {
    this.#membersChanged = listener;
  }

  /** Tells `listener` when a draining partition of a shared stream has nothing left in flight (it may be given up). */
  onPartitionDrained(listener: (stream: Stream) => void): void {
    this.#drained = listener;
  }

  /** Ends a subscription; an ephemeral stream ends with it. Returns false for an unknown id. */
  detach(id: string, reason?: string): boolean {
    const entry = this.#members.get(id);
    if (entry === undefined) return false;
    this.#members.delete(id);
    const { stream, member } = entry;
    stream.removeMember(member);
    if (!stream.isDurable) this.discard(stream);
    else if (stream.members.length === 0) this.#membersChanged?.(stream);
    if (reason !== undefined) member.sink.closed?.(reason);
    return true;
  }

  /** Ends an ephemeral stream. */
  discard(stream: Stream): void {
    for (const p of stream.patterns) this.#byPattern.remove(p, stream);
    stream.close();
  }

  /** A sink that returned false from deliver() is ready again. */
  resume(id: string): void {
    const entry = this.#members.get(id);
    if (entry === undefined) return;
    entry.member.resume();
    entry.stream.kick();
  }

  subscription(id: string): { stream: Stream; member: Member } | undefined {
    return this.#members.get(id);
  }

  subscriptionIds(): IterableIterator<string> {
    return this.#members.keys();
  }

  acked(stream: Stream, message: StoredMessage, delivery: number, sentAt: number, at: number): void {
    this.progress.acked(stream, message.seq, delivery, sentAt, at, this.#allResolved(stream, message));
    this.#settledIn(stream, message);
  }

  deadLettered(stream: Stream, message: StoredMessage, deliveries: number, reason: string): void {
    this.progress.deadLettered(stream, message.seq, message, deliveries, reason);
    this.#settledIn(stream, message);
  }

  /** A message of `stream` is settled: a draining partition may have nothing left in flight now. */
  #settledIn(stream: Stream, message: StoredMessage): void {
    const parts = stream.partitions;
    if (parts !== undefined && this.#drained !== undefined) {
      const p = parts.of(message);
      if (parts.isDraining(p) && stream.unackedIn(p) === 0) this.#drained(stream);
    }
  }

  read(fromSeq: number, limit: number, topic: string | undefined, withStatus: boolean): ResultAsync<StoredMessage[], StorageError> {
    return withStatus ? this.#store.readRecords(fromSeq, limit, topic) : this.#store.read(fromSeq, limit, topic);
  }

  readFailed(stream: Stream, error: StorageError): void {
    this.#log.error('reading the log failed; the subscription waits for the next event', { stream: stream.key, reason: error.message });
  }

  countsChanged(stream: Stream): void {
    this.progress.countsChanged(stream);
  }

  delivered(): void {
    this.#deliveries++;
  }

  reservationWanted(stream: Stream): void {
    this.progress.reservationWanted(stream);
  }

  /** Messages sent to subscribers and push consumers since start, redeliveries included. */
  deliveries(): number {
    return this.#deliveries;
  }

  isSaturated(stream: Stream): boolean {
    return this.progress.isSaturated(stream);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#deadlineTimer);
    for (const id of [...this.#members.keys()]) this.detach(id, SHUTTING_DOWN);
    await this.progress.close();
    for (const stream of this.#durable.values()) stream.close();
  }

  /** Every durable consumer whose patterns match this message is done with it. */
  #allResolved(stream: Stream, message: StoredMessage): boolean {
    // One durable consumer (the common case, and a replay's): no need to look up which ones match.
    if (this.#durable.size === 1) return stream.isResolved(message);
    for (const stream of this.#byPattern.match(message.topic)) {
      if (stream.isDurable && !stream.isResolved(message)) return false;
    }
    return true;
  }

  /**
   * Deadlines are checked a few times per ack timeout, the shortest of the settings' and the consumers' own: a
   * redelivery is late by at most a quarter of it.
   */
  #retick(): void {
    if (this.#closed) return;
    let shortest = this.ackTimeoutMs;
    for (const stream of this.#durable.values()) shortest = Math.min(shortest, stream.ackTimeoutMs);
    const tickMs = Math.min(250, Math.max(5, Math.floor(shortest / 4)));
    if (tickMs === this.#tickMs) return;
    this.#tickMs = tickMs;
    clearInterval(this.#deadlineTimer);
    this.#deadlineTimer = setInterval(() => this.#expireDeadlines(), tickMs).unref();
  }

  #expireDeadlines(): void {
    const now = this.now();
    for (const stream of this.#durable.values()) {
      if (stream.inFlightCount > 0) stream.expireDeadlines(now);
    }
  }
}
