// Fan-out: owns every Stream, routes each committed message to the live streams whose patterns match
// (through the PatternIndex, never a scan of all subscriptions), drives ack deadlines, and writes acks,
// dead letters, consumer positions and message statuses back to the store in batches.
import { SHUTTING_DOWN } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ResultAsync } from 'neverthrow';
import type { ConsumerRecord, DeadLetterRecord, DeliveryCounts, EventStore, ProgressBatch, StorageError } from './store-port.js';
import type { MessageFilter } from '../protocol/filter.js';
import { PatternIndex } from './patterns.js';
import { PendingAcks } from './pending-acks.js';
import { SeqRuns } from './seq-runs.js';
import { Stream, type Reservation, type Resolution, type StreamHost } from './stream.js';
import { Member } from './subscription.js';
import type { Sink, StoredMessage } from './types.js';

export interface DispatcherOptions {
  readonly ackTimeoutMs: number;
  readonly maxDeliveries: number;
  /** Seqs a durable stream reserves ahead of its deliveries at a time (EVENTBUS_DELIVERY_RESERVATION). */
  readonly reservation: number;
  readonly now: () => number;
  /**
   * Durable consumers are shared with other brokers, in this many partitions (cluster.ts): their positions
   * are recorded per partition by the cluster's heartbeat rather than by progress batches.
   */
  readonly partitions?: number | undefined;
}

// Acks are not answered, so they can wait a little to share a transaction; this bounds how much a crash
// can make the broker redeliver (at-least-once), and how stale a position in the database looks. A
// delivery's attempt count is written once it has stayed unacked this long (most are acked well before, and
// never cost a write); a crash loses the increments of about the last two of these intervals, which the
// reservations written ahead of the deliveries make up for (stream.ts: a kill counts as one more delivery).
const PROGRESS_FLUSH_MS = 20;
// ...but a burst of acks is written at once rather than held in memory.
const PROGRESS_FLUSH_ROWS = 2048;
// Acks waiting for the writer beyond this make durable streams pause: a consumer that acks faster than
// the disk can record it slows down to the disk instead of growing the broker's memory.
const MAX_PENDING_ACKS = 32_768;
// The status column is bookkeeping for people reading the table: each update rewrites a message row, so
// it runs in the background at a bounded rate instead of slowing consumers down, in small transactions: a
// publish that reaches the writer meanwhile waits for one, which must stay short (docs/internals.md).
const STATUS_FLUSH_MS = 12;
const STATUS_FLUSH_ROWS = 1024;

export class Dispatcher implements StreamHost {
  readonly #store: EventStore;
  readonly ackTimeoutMs: number;
  readonly maxDeliveries: number;
  readonly reservation: number;
  readonly now: () => number;
  readonly #log: Logger;
  readonly #partitions: number | undefined;
  #head: number;
  readonly #byPattern = new PatternIndex<Stream>();
  readonly #durable = new Map<string, Stream>();
  readonly #members = new Map<string, { stream: Stream; member: Member }>();
  readonly #acks = new PendingAcks();
  #deadLetters: DeadLetterRecord[] = [];
  readonly #processed = new SeqRuns();
  #dead: number[] = [];
  readonly #touched = new Set<Stream>();
  /** The partition positions last written, by `consumer partition`: only those that moved are written again. */
  readonly #floorsWritten = new Map<string, number>();
  /** Bumped when partitions are taken: a batch taken before says nothing of the positions they were taken at. */
  #floorsTakenAt = 0;
  /** Durable streams that want a reservation written. */
  readonly #reserving = new Set<Stream>();
  /** Durable streams with deliveries whose attempt count is not in the store yet. */
  readonly #countsUnsaved = new Set<Stream>();
  /** Durable streams that paused because too many acks were waiting for the writer. */
  readonly #waitingForWriter = new Set<Stream>();
  #progressWriting = false;
  #deliveries = 0;
  /** flush() was called while a write was in progress. */
  #flushWanted = false;
  #flushTimer: NodeJS.Timeout | undefined;
  #flushImmediate: NodeJS.Immediate | undefined;
  readonly #deadlineTimer: NodeJS.Timeout;
  readonly #statusTimer: NodeJS.Timeout;
  #statusWrite: Promise<void> | undefined;
  /** Called when a durable stream gains its first member or loses its last. */
  #membersChanged: ((stream: Stream) => void) | undefined;
  /** Called when the last delivery in flight of a partition on its way to another broker is resolved. */
  #drained: ((stream: Stream) => void) | undefined;

  constructor(store: EventStore, options: DispatcherOptions, logger: Logger) {
    this.#store = store;
    this.ackTimeoutMs = options.ackTimeoutMs;
    this.maxDeliveries = options.maxDeliveries;
    this.reservation = options.reservation;
    this.now = options.now;
    this.#log = logger;
    this.#partitions = options.partitions;
    this.#head = store.lastSeq();
    // Deadlines are checked a few times per ack timeout: a redelivery is late by at most a quarter of it.
    const tickMs = Math.min(250, Math.max(5, Math.floor(options.ackTimeoutMs / 4)));
    this.#deadlineTimer = setInterval(() => this.#expireDeadlines(), tickMs).unref();
    this.#statusTimer = setInterval(() => void this.#writeStatuses(STATUS_FLUSH_ROWS), STATUS_FLUSH_MS).unref();
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
    });
    this.#durable.set(record.id, stream);
    for (const p of record.patterns) this.#byPattern.add(p, stream);
    return stream;
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
    this.#countsUnsaved.delete(stream);
    this.#reserving.delete(stream);
  }

  /** A new ephemeral stream starting at `startSeq`. */
  addEphemeral(id: string, patterns: readonly string[], filter: MessageFilter | undefined, startSeq: number): Stream {
    const stream = new Stream({ key: id, isDurable: false, host: this, patterns, filter, startSeq });
    for (const p of patterns) this.#byPattern.add(p, stream);
    return stream;
  }

  attach(stream: Stream, id: string, sink: Sink, maxInFlight: number, group: string | undefined, inOrder = false): Member {
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

  resolved(stream: Stream, seq: number, outcome: Resolution): void {
    const at = this.now();
    if (outcome.kind === 'acked') {
      this.#acks.push(stream.key, seq, outcome.delivery, at);
      if (this.#allResolved(stream, outcome.message)) this.#processed.push(seq);
    } else {
      const { message, deliveries, reason } = outcome;
      this.#deadLetters.push({ consumer: stream.key, message, reason, deliveries, at });
      this.#dead.push(seq);
      this.#log.warn('message dead-lettered', { consumer: stream.key, seq, topic: message.topic, reason });
    }
    this.#touched.add(stream);
    this.#scheduleFlush();
    const parts = stream.partitions;
    if (parts !== undefined && this.#drained !== undefined) {
      const p = parts.of(outcome.message);
      if (parts.isDraining(p) && stream.unackedIn(p) === 0) this.#drained(stream);
    }
  }

  read(fromSeq: number, limit: number, topic: string | undefined): ResultAsync<StoredMessage[], StorageError> {
    return this.#store.read(fromSeq, limit, topic);
  }

  readFailed(stream: Stream, error: StorageError): void {
    this.#log.error('reading the log failed; the subscription waits for the next event', { stream: stream.key, reason: error.message });
  }

  countsChanged(stream: Stream): void {
    this.#countsUnsaved.add(stream);
    // The timer only, never a flush from inside a delivery.
    this.#flushTimer ??= setTimeout(() => this.flush(), PROGRESS_FLUSH_MS);
  }

  delivered(): void {
    this.#deliveries++;
  }

  reservationWanted(stream: Stream): void {
    this.#reserving.add(stream);
    // In the next turn (never from inside a delivery), or right after the write under way: a stream asks half
    // a chunk ahead, and a timer's wait could outlast that at a high rate. One write per chunk of seqs.
    if (this.#progressWriting) {
      this.#flushWanted = true;
      return;
    }
    if (this.#flushImmediate !== undefined) return;
    this.#flushImmediate = setImmediate(() => {
      this.#flushImmediate = undefined;
      this.flush();
    });
  }

  /** Messages sent to subscribers and push consumers since start, redeliveries included. */
  deliveries(): number {
    return this.#deliveries;
  }

  /** True when durable streams should take no new message until the writer catches up. */
  isSaturated(stream: Stream): boolean {
    if (this.#acks.length < MAX_PENDING_ACKS) return false;
    this.#waitingForWriter.add(stream);
    return true;
  }

  /**
   * Writes pending acks, dead letters, positions and delivery counts: now, or right after the write in
   * progress. `allCounts`: every unsaved count, however recent its delivery (when stopping).
   */
  flush(allCounts = false): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#progressWriting) {
      this.#flushWanted = true; // the write in progress flushes again when it is done
      return;
    }
    const positions = new Map<string, number>();
    const rewinds = new Map<string, number>();
    const floors: ProgressBatch['floors'][number][] = [];
    for (const stream of this.#touched) {
      // Positions go with the acks they rest on: written before them, a kill in between would skip messages
      // whose acks were never stored.
      if (stream.partitions === undefined) {
        const floor = stream.takeFloorChange();
        if (floor !== undefined) positions.set(stream.key, floor);
      } else {
        for (const [partition, floor] of stream.heldFloors()) {
          if (this.#floorsWritten.get(`${stream.key} ${partition}`) !== floor) floors.push({ consumer: stream.key, partition, floor });
        }
      }
      const rewound = stream.takeRewind();
      if (rewound !== undefined) rewinds.set(stream.key, rewound);
    }
    this.#touched.clear();
    const deliveryCounts = this.#takeDeliveryCounts(allCounts ? Infinity : this.now() - PROGRESS_FLUSH_MS);
    const reserved: [Stream, Reservation][] = [];
    const reservations = new Map<string, number>();
    const partitionReservations: ProgressBatch['partitionReservations'][number][] = [];
    for (const stream of this.#reserving) {
      const r = stream.takeReservation();
      if (r === undefined) continue;
      reserved.push([stream, r]);
      if (r.partitions === undefined) reservations.set(stream.key, r.upTo);
      else for (const partition of r.partitions) partitionReservations.push({ consumer: stream.key, partition, upTo: r.upTo });
    }
    this.#reserving.clear();
    if (this.#acks.length + this.#deadLetters.length + positions.size + rewinds.size + deliveryCounts.length + floors.length + reserved.length === 0) {
      if (this.#countsUnsaved.size > 0) this.#scheduleFlush();
      return;
    }
    const batch: ProgressBatch = {
      acks: this.#acks.take(),
      deadLetters: this.#deadLetters,
      positions,
      dead: this.#dead,
      rewinds,
      deliveryCounts,
      floors,
      reservations,
      partitionReservations,
    };
    this.#deadLetters = [];
    this.#dead = [];
    this.#progressWriting = true;
    const takenAt = this.#floorsTakenAt;
    void this.#store
      .recordProgress(batch)
      .map(() => {
        // Partitions taken while this was written may hold other positions now: their floors go again.
        if (takenAt === this.#floorsTakenAt) for (const f of floors) this.#floorsWritten.set(`${f.consumer} ${f.partition}`, f.floor);
        for (const [key, seq] of rewinds) this.durable(key)?.rewindWritten(seq);
        for (const [stream, r] of reserved) stream.reservationWritten(r);
      })
      .mapErr((e) => {
        for (const [stream, r] of reserved) {
          stream.reservationFailed(r);
          if (!stream.isClosed) this.#reserving.add(stream);
        }
        // Positions stay where they were on disk: after a restart these messages are delivered again.
        this.#log.error('could not record acks; they will be redelivered after a restart', { reason: e.message });
      })
      .then(() => {
        this.#progressWriting = false;
        // Only a flush asked for meanwhile runs now; acks that merely arrived wait for their timer, so that
        // a steady stream of acks costs one transaction (one fsync) per PROGRESS_FLUSH_MS, not one per write.
        if (this.#flushWanted) {
          this.#flushWanted = false;
          this.flush();
        } else if (this.#acks.length > 0 || this.#touched.size > 0 || this.#countsUnsaved.size > 0 || this.#reserving.size > 0) {
          this.#scheduleFlush();
        }
        if (this.#acks.length < MAX_PENDING_ACKS) {
          const waiting = [...this.#waitingForWriter];
          this.#waitingForWriter.clear();
          for (const stream of waiting) stream.kick();
        }
      });
  }

  /** Resolves when every ack and delivery count taken so far is written. */
  async drainProgress(): Promise<void> {
    this.flush(true);
    while (this.#progressWriting || this.#acks.length > 0 || this.#countsUnsaved.size > 0) {
      await new Promise((resolve) => setImmediate(resolve));
      this.flush(true);
    }
  }

  /**
   * Resolves once everything resolved so far is written (acks, dead letters, every attempt count), without
   * waiting for what comes in meanwhile: before a partition is given to another broker.
   */
  async settled(): Promise<void> {
    const turn = (): Promise<unknown> => new Promise((resolve) => setImmediate(resolve));
    while (this.#progressWriting) await turn();
    this.flush(true);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- flush() starts a write
    while (this.#progressWriting) await turn();
  }

  /**
   * Partitions of `stream` just taken, at the positions the store holds for them: what this broker wrote for
   * them before says nothing of those (a rewind sets every partition's position back), so the next floor of
   * each is written whatever it is.
   */
  partitionsTaken(stream: Stream, partitions: Iterable<number>): void {
    for (const p of partitions) this.#floorsWritten.delete(`${stream.key} ${p}`);
    this.#floorsTakenAt++;
  }

  /** Records a position change that came from outside the ack path (a rewind). */
  touch(stream: Stream): void {
    this.#touched.add(stream);
    this.#scheduleFlush();
  }

  async close(): Promise<void> {
    clearInterval(this.#deadlineTimer);
    clearInterval(this.#statusTimer);
    for (const id of [...this.#members.keys()]) this.detach(id, SHUTTING_DOWN);
    await this.drainProgress();
    clearImmediate(this.#flushImmediate);
    this.#flushImmediate = undefined;
    await this.#clearReservations();
    await this.#statusWrite;
    await this.#writeStatuses(Infinity);
    for (const stream of this.#durable.values()) stream.close();
  }

  /**
   * On a clean stop, once nothing more is delivered and every attempt count is written: the reservations of
   * the consumers not shared go, so that the next start counts nothing again. (Shared, leaving the cluster gives
   * the partitions up, which clears theirs.)
   */
  async #clearReservations(): Promise<void> {
    const reservations = new Map<string, number>();
    for (const stream of this.#durable.values()) if (stream.partitions === undefined && stream.reservationClearable) reservations.set(stream.key, 0);
    if (reservations.size === 0) return;
    const empty = { acks: new PendingAcks().take(), deadLetters: [], positions: new Map(), dead: [], rewinds: new Map(), deliveryCounts: [], floors: [] };
    await this.#store.recordProgress({ ...empty, reservations, partitionReservations: [] }).mapErr((e) => {
      this.#log.warn('could not clear the delivery reservations; the next start counts those deliveries once more', { reason: e.message });
    });
  }

  /** The delivery counts to write, of deliveries sent at or before `sentBy`. */
  #takeDeliveryCounts(sentBy: number): DeliveryCounts[] {
    const out: DeliveryCounts[] = [];
    for (const stream of this.#countsUnsaved) {
      const seqs: number[] = [];
      const deliveries: number[] = [];
      if (!stream.takeDeliveryCounts(sentBy, seqs, deliveries)) this.#countsUnsaved.delete(stream);
      if (seqs.length > 0) out.push({ consumer: stream.key, seqs, deliveries });
    }
    return out;
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

  #scheduleFlush(): void {
    if (this.#acks.length >= PROGRESS_FLUSH_ROWS) {
      this.flush();
      return;
    }
    this.#flushTimer ??= setTimeout(() => this.flush(), PROGRESS_FLUSH_MS);
  }

  /**
   * One status write at a time: ticks that come while one is on its way skip, rather than pile up. A write
   * that fails loses those statuses (bookkeeping for people reading the table; the acks are kept).
   */
  async #writeStatuses(maxRows: number): Promise<void> {
    if (this.#statusWrite !== undefined || this.#processed.size === 0) return;
    const runs = this.#processed.take(maxRows);
    this.#statusWrite = this.#store
      .markProcessed(runs)
      .match(
        () => undefined,
        (e) => this.#log.warn('could not mark messages processed; their status stays pending', { reason: e.message, runs: runs.length }),
      );
    try {
      await this.#statusWrite;
    } finally {
      this.#statusWrite = undefined;
    }
  }

  #expireDeadlines(): void {
    const now = this.now();
    for (const stream of this.#durable.values()) {
      if (stream.inFlightCount > 0) stream.expireDeadlines(now);
    }
  }
}
