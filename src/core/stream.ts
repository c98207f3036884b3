// A Stream is one position in the log and the subscriptions reading from it: an ephemeral subscription
// (one member, acked on send) or a durable consumer (members split its messages; unacked deliveries are
// redelivered, then dead-lettered). This is the delivery itself: what becomes of each message read, which
// member it goes to, acks and nacks, rewinds and requeues. Its parts have rooms of their own: its place in the
// log (log-cursor.ts), the unacked deliveries with the redelivery timer (unacked.ts), the delivery reservation
// (reservation.ts), the floors told to the store (floors.ts), the partitions held when shared (partitions.ts)
// and the queue group (subscription.ts). No sockets; the dispatcher drives it.
import type { ResultAsync } from 'neverthrow';
import type { MessageFilter } from '../protocol/filter.js';
import { isExactPattern, topicMatches } from '../protocol/topics.js';
import { Floors } from './floors.js';
import { LogCursor, type Offered } from './log-cursor.js';
import { Partitions } from './partitions.js';
import { DeliveryReservation } from './reservation.js';
import type { StorageError } from './store-port.js';
import { QueueGroup, type Member } from './subscription.js';
import type { Tracing } from './tracing.js';
import { Delivery, type StoredMessage } from './types.js';
import { backoffWaitMs, Unacked, UnackedDeliveries } from './unacked.js';

export interface StreamHost {
  /** A page of the log (EventStore.read; EventStore.readRecords `withStatus`). */
  read(fromSeq: number, limit: number, topic: string | undefined, withStatus: boolean): ResultAsync<StoredMessage[], StorageError>;
  /** The last seq the dispatcher has announced; everything up to it is readable from the store. */
  head(): number;
  now(): number;
  /** The settings' limits, for a durable consumer without its own (StreamLimits). */
  readonly ackTimeoutMs: number;
  readonly maxDeliveries: number;
  readonly maxInFlight: number;
  /** Seqs a durable stream reserves ahead of its deliveries at a time (EVENTBUS_DELIVERY_RESERVATION). */
  readonly reservation: number;
  /** A delivery of `message` was acked at `at` (its attempt `delivery`, sent at `sentAt`). */
  acked(stream: Stream, message: StoredMessage, delivery: number, sentAt: number, at: number): void;
  /** `message` goes to the consumer's dead letters after `deliveries` attempts. */
  deadLettered(stream: Stream, message: StoredMessage, deliveries: number, reason: string): void;
  /** A failure reading the log: the stream stops until kicked again. */
  readFailed(stream: Stream, error: StorageError): void;
  /** The stream sent a delivery whose attempt count the store does not have yet (takeDeliveryCounts). */
  countsChanged(stream: Stream): void;
  /** Too many acks wait for the disk: take nothing new; the host kicks the stream when it may go on. */
  isSaturated(stream: Stream): boolean;
  /** A message went to a subscriber or a push consumer (a redelivery too): counted for the delivery rate. */
  delivered(): void;
  /** Spans of the delivery attempts, when tracing is on. */
  readonly tracing: Tracing;
  /** The stream wants a reservation written (DeliveryReservation.take), soon: it may be held up until it is. */
  reservationWanted(stream: Stream): void;
}

/** A durable consumer's own limits (PROTOCOL.md §8 PUT /api/consumers); null: the setting's. */
export interface StreamLimits {
  readonly ackTimeoutMs: number | null;
  readonly maxDeliveries: number | null;
  readonly maxInFlight: number | null;
}

/** A consumer without limits of its own. */
export const NO_LIMITS: StreamLimits = { ackTimeoutMs: null, maxDeliveries: null, maxInFlight: null };

export class Stream {
  /** Consumer id for durable streams, subscription id for ephemeral ones. */
  readonly key: string;
  readonly isDurable: boolean;
  readonly #host: StreamHost;
  #patterns: readonly string[];
  #exactTopic: string | undefined;
  #filter: MessageFilter | undefined;
  readonly #group = new QueueGroup();
  /** Paused by an operator (durable consumers): nothing is sent, and the position stays where it is. */
  #paused = false;

  /** Where it reads the log: catching up from disk, or live. */
  readonly #cursor: LogCursor;
  #closed = false;

  /** Durable: the deliveries not acked yet, and those of them waiting to be sent again. */
  readonly #unacked: UnackedDeliveries;
  /** Seqs above the stored floor acked before a restart: resolved already, not to be delivered again. */
  readonly #ackedAhead: Set<number>;
  /** Attempts made before a restart at messages not acked then: the count goes on from there. */
  readonly #priorDeliveries: Map<number, number>;
  /** Some unacked delivery has an attempt count the store does not have (the host knows). */
  #countsUnsaved = false;
  /** Durable: its floor as the store was last told it, and the rewinds the store has not written yet. */
  readonly floors: Floors;
  /** Nothing below this seq is delivered: a start or rewind point may lie past the head. */
  #minSeq: number;
  /** Shared with other brokers: only the partitions this broker holds are delivered here (partitions.ts). */
  readonly #partitions: Partitions | undefined;
  /**
   * Durable: how far the store lets first deliveries go, and what may have been delivered before a kill; the
   * ProgressWriter writes what it asks for.
   */
  readonly reservation: DeliveryReservation;
  /** Rewinds so far. */
  #rewinds = 0;
  /** Durable: the consumer's redelivery backoff (PROTOCOL.md §11); null: redelivered at once. */
  #backoffMs: readonly number[] | null;
  /** Durable: the consumer's own limits. */
  #limits: StreamLimits;
  /** Waiting for the stream to have read what it can (whenIdle). */
  #idleWaiters: (() => void)[] = [];
  /**
   * While an ack is handled: its time, which the deliveries it lets go are sent at too. A catch-up acked as it
   * goes reads the clock once per message instead of twice: on a virtual machine a clock read is one of the
   * dearer steps of a message's way through the broker (docs/internals.md).
   */
  #ackedAt: number | undefined;

  constructor(init: {
    key: string;
    isDurable: boolean;
    host: StreamHost;
    patterns: readonly string[];
    filter: MessageFilter | undefined;
    startSeq: number;
    ackedAhead?: Iterable<number>;
    priorDeliveries?: ReadonlyMap<number, number>;
    /** A durable consumer shared by several brokers: its partition count. It starts holding none. */
    partitions?: number;
    paused?: boolean;
    /** Not shared: the stored reservation (EventStore.reservation); above the position, the broker was killed. */
    reservedSeq?: number;
    backoffMs?: readonly number[] | null;
    limits?: StreamLimits;
  }) {
    this.key = init.key;
    this.isDurable = init.isDurable;
    this.#host = init.host;
    this.#patterns = init.patterns;
    this.#exactTopic = exactTopicOf(init.patterns);
    this.#filter = init.filter;
    const host = init.host;
    this.#cursor = new LogCursor(init.startSeq, {
      head: () => host.head(),
      read: (fromSeq, limit) => host.read(fromSeq, limit, this.#exactTopic, this.members.some((m) => m.sink.showsStatus === true)),
      readFailed: (error) => {
        host.readFailed(this, error);
      },
      isReading: () => !this.#closed && this.members.length > 0,
      offer: (message) => this.#offer(message),
      stopped: () => {
        this.#checkIdle();
      },
    });
    this.floors = new Floors(init.startSeq);
    this.#minSeq = init.startSeq;
    this.#ackedAhead = new Set(init.ackedAhead ?? []);
    this.#priorDeliveries = new Map(init.priorDeliveries);
    for (const seq of this.#ackedAhead) this.#priorDeliveries.delete(seq);
    this.#partitions = init.partitions === undefined ? undefined : new Partitions(init.partitions);
    this.#paused = init.paused ?? false;
    this.#backoffMs = init.backoffMs ?? null;
    this.#limits = init.limits ?? NO_LIMITS;
    this.#unacked = new UnackedDeliveries(() => host.now(), () => this.kick());
    this.reservation = new DeliveryReservation({
      startSeq: init.startSeq,
      storedSeq: init.reservedSeq ?? 0,
      partitions: this.#partitions,
      chunk: host.reservation,
      now: () => host.now(),
      want: () => {
        host.reservationWanted(this);
      },
      written: () => {
        this.kick();
        this.#checkIdle();
      },
    });
  }

  /** An unacked delivery is sent again after this long. */
  get ackTimeoutMs(): number {
    return this.#limits.ackTimeoutMs ?? this.#host.ackTimeoutMs;
  }

  /** After this many deliveries of a message, it is dead-lettered. */
  get maxDeliveries(): number {
    return this.#limits.maxDeliveries ?? this.#host.maxDeliveries;
  }

  /**
   * The consumer's own limits changed: redeliveries use the new ones from now on, deliveries awaiting an ack
   * keep the deadline they were given, and every member's window is set again.
   */
  setLimits(limits: StreamLimits): void {
    const timeoutWas = this.ackTimeoutMs;
    this.#limits = limits;
    if (this.ackTimeoutMs !== timeoutWas) this.#unacked.timeoutChanged();
    for (const m of this.members) m.limitTo(limits.maxInFlight, this.#host.maxInFlight);
    this.kick();
  }

  get patterns(): readonly string[] {
    return this.#patterns;
  }
  /** Deliveries not acked yet, those waiting to be sent again included. */
  get inFlightCount(): number {
    return this.#unacked.size;
  }

  /** The subscriptions reading it (a durable consumer's split its messages). */
  get members(): readonly Member[] {
    return this.#group.members;
  }

  /** Deliveries sent to a member and awaiting its ack right now. */
  get awaitingAck(): number {
    return this.#group.awaitingAck;
  }

  /** Pauses or resumes delivery; deliveries already sent may still be acked while paused. */
  setPaused(paused: boolean): void {
    this.#paused = paused;
    if (!paused) this.kick();
    this.#checkIdle();
  }

  /**
   * Delivers these dead letters (requeued, in seq order) again, each from a first attempt: those behind the
   * read point as redeliveries, in seq order, the others when they are read. Shared: only the partitions held here.
   */
  requeue(messages: readonly StoredMessage[]): void {
    const readPoint = this.#cursor.readPoint();
    const now = this.#host.now();
    for (const message of messages) {
      const { seq } = message;
      if (this.#unacked.has(seq) || (this.#partitions !== undefined && !this.#partitions.isActive(this.#partitions.of(message)))) continue;
      this.#priorDeliveries.delete(seq);
      if (seq >= readPoint && seq >= this.#minSeq) {
        this.#ackedAhead.delete(seq);
        continue;
      }
      this.#unacked.addRequeued(message, now);
    }
    this.#unacked.redeliveries.sort();
    this.kick();
  }

  /** A new backoff applies to the redeliveries scheduled from now on; one waiting keeps the time it was given. */
  setBackoff(backoffMs: readonly number[] | null): void {
    this.#backoffMs = backoffMs;
  }

  setPatterns(patterns: readonly string[], filter: MessageFilter | undefined): void {
    this.#patterns = patterns;
    this.#exactTopic = exactTopicOf(patterns);
    this.#filter = filter;
  }

  addMember(member: Member): void {
    member.limitTo(this.#limits.maxInFlight, this.#host.maxInFlight);
    this.#group.add(member);
    this.kick();
  }

  /** Removes a member; its unacked messages go back to the others (or wait for the next member). */
  removeMember(member: Member): void {
    if (!this.#group.remove(member)) return;
    this.#unacked.takeBackFrom(member, this.#host.now());
    if (this.members.length === 0) this.#cursor.detach();
    else this.kick();
  }

  /** Starts over at `seq`: later messages are delivered again, whatever was acked before. */
  rewind(seq: number): void {
    this.#cursor.detach();
    this.#cursor.moveTo(seq);
    this.#minSeq = seq;
    this.#ackedAhead.clear();
    // Starting over starts the counts over: what is delivered again is a first delivery.
    this.#priorDeliveries.clear();
    this.reservation.rewind(seq);
    this.#rewinds++;
    this.floors.rewound(seq);
    // Deliveries at or after `seq` are read again from the log; forgetting them sends each once.
    this.#unacked.settleWhere((s) => s >= seq);
    // Shared: the rewind gave every partition's lease back, to be taken again from the new position.
    if (this.#partitions !== undefined) for (const p of this.#partitions.held()) this.release(p);
    this.kick();
  }

  /** Rewinds so far: a view of the store read before the last one holds the positions from before it. */
  get rewinds(): number {
    return this.#rewinds;
  }

  /** Shared with other brokers: the partitions and from where this broker delivers them; undefined when not. */
  get partitions(): Partitions | undefined {
    return this.#partitions;
  }

  /**
   * Starts delivering partitions whose lease this broker just took (partition → first seq), with the acks
   * and attempt counts the store holds above the lowest of those seqs.
   */
  acquire(
    starts: ReadonlyMap<number, number>,
    ackedAhead: Iterable<number>,
    prior: ReadonlyMap<number, number>,
    reserved?: ReadonlyMap<number, number>,
  ): void {
    const readPoint = this.#cursor.readPoint();
    this.#cursor.detach();
    const from = this.#partitions!.activate(starts, readPoint, reserved);
    this.#cursor.moveTo(from);
    for (const seq of ackedAhead) if (seq >= from && !this.#unacked.has(seq)) this.#ackedAhead.add(seq);
    for (const [seq, n] of prior) {
      if (seq >= from && !this.#unacked.has(seq) && !this.#ackedAhead.has(seq)) this.#priorDeliveries.set(seq, n);
    }
    this.kick();
  }

  /** Takes nothing new of partition `p`; its deliveries in flight go on until acked. */
  drain(p: number): void {
    this.#partitions!.drain(p, this.#cursor.readPoint());
  }

  /** A draining partition that stays here after all: it goes on from where it stopped. */
  undrain(p: number): void {
    this.acquire(new Map([[p, this.#partitions!.drainingStart(p)]]), [], new Map());
  }

  /**
   * Whether partition `p`, given up now, must keep its reservation: part of a crash's range is not read
   * here yet, and whoever takes it must count those messages as delivered once more.
   */
  keepsReservation(p: number): boolean {
    return this.#partitions!.suspectUnread(p, this.#cursor.readPoint());
  }

  /**
   * Not shared, on a clean stop: whether the stored reservation can go (every attempt count is written by
   * then); not while part of a crash's range is unread, which must count again after the next restart.
   */
  get reservationClearable(): boolean {
    return this.reservation.isClearable(this.#cursor.readPoint());
  }

  /** Gives partition `p` up: its unacked deliveries are forgotten here (whoever takes it delivers them again). */
  release(p: number): void {
    const partitions = this.#partitions!;
    partitions.release(p);
    this.#unacked.settleWhere((_, u) => partitions.of(u.message) === p);
  }

  unackedIn(p: number): number {
    return this.#unacked.count((u) => this.#partitions!.of(u.message) === p);
  }

  close(): void {
    this.#closed = true;
    this.#cursor.stop();
    this.#unacked.redeliveries.stop();
    this.#checkIdle();
  }

  /** Closed: its consumer was removed, or (ephemeral) its subscription ended. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Live path: the dispatcher offers each committed message that matches, in seq order. */
  offerLive(message: StoredMessage): void {
    if (this.#cursor.isLive && this.#offer(message) === 'blocked') this.#cursor.blockedAt(message.seq);
  }

  /** Something changed that may let the stream move: an ack, a resumed sink, a new member, a due retry. */
  kick(): void {
    if (this.#closed || this.#paused || this.members.length === 0) return;
    if (this.#unacked.redeliveries.size > 0) this.#deliverRedeliveries();
    this.#cursor.kick();
  }

  ack(seq: number): void {
    const u = this.#unacked.get(seq);
    if (u === undefined) return; // already acked, or acked twice: acks are idempotent
    u.endAttempt();
    this.#unacked.settle(seq, u);
    const now = this.#host.now();
    this.#host.acked(this, u.message, u.delivery, u.sentAt, now);
    this.#ackedAt = now;
    try {
      this.kick();
    } finally {
      this.#ackedAt = undefined;
    }
  }

  /**
   * Sent again after `delayMs`, or without it after the backoff. `cause`: why it failed (a push endpoint's
   * answer), said in the dead letter's reason if this was the last try.
   */
  nack(seq: number, delayMs: number | undefined, cause?: string): void {
    const u = this.#unacked.get(seq);
    if (u === undefined) return;
    this.#retry(seq, u, this.#host.now(), delayMs, 'nacked', cause);
    this.kick();
  }

  /**
   * Whether `member` holds the delivery of `seq` awaiting its ack: a member that settles deliveries by seq (a
   * pull member) settles only its own.
   */
  holds(member: Member, seq: number): boolean {
    return this.#unacked.get(seq)?.member === member;
  }

  /** The ack deadline of `member`'s delivery of `seq`, while it awaits the ack. */
  deadlineOf(member: Member, seq: number): number | undefined {
    const u = this.#unacked.get(seq);
    return u?.member === member ? u.due : undefined;
  }

  /** Moves the ack deadline of `member`'s delivery of `seq` to `ms` from now; the new deadline, or undefined when it holds none. */
  extend(member: Member, seq: number, ms: number): number | undefined {
    const u = this.#unacked.get(seq);
    if (u?.member !== member) return undefined;
    this.#unacked.extend(u, this.#host.now() + ms);
    return u.due;
  }

  /**
   * Resolves once the stream has taken what it can for now: it is not reading the log, nor waiting for a
   * reservation to be written before it delivers (or it is paused, closed, or has no member).
   */
  whenIdle(): Promise<void> {
    if (!this.#isBusy()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #isBusy(): boolean {
    if (this.#closed || this.#paused || this.members.length === 0) return false;
    return this.#cursor.isPumping || (this.isDurable && this.reservation.isPending);
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || this.#isBusy()) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  /** Moves deliveries whose ack deadline has passed back to the retry queue. */
  expireDeadlines(now: number): void {
    let expired = false;
    const inOrder = this.#unacked.inDeadlineOrder;
    for (const [seq, u] of this.#unacked.entries()) {
      if (u.member === null) continue;
      // Insertion order is delivery order, so while the timeout stays the same and no deadline was extended the
      // first live deadline still in the future ends the scan.
      if (u.due > now) {
        if (inOrder) break;
        continue;
      }
      this.#retry(seq, u, now, undefined, 'ack timeout');
      expired = true;
    }
    if (expired || this.#unacked.redeliveries.firstDue(now) !== undefined) this.kick();
  }

  /** Every matching message with seq <= floor is acked, dead-lettered or filtered out. */
  floor(): number {
    return Math.min(this.#cursor.readPoint(), this.#unacked.lowestHeld()) - 1;
  }

  /**
   * Appends to `seqs` and `deliveries` the unacked deliveries whose attempt count the store does not have,
   * of those sent at or before `sentBy` (one that is acked within moments need never be written), and
   * counts them saved. Returns whether later ones are still unsaved.
   */
  takeDeliveryCounts(sentBy: number, seqs: number[], deliveries: number[]): boolean {
    this.#countsUnsaved = this.#unacked.takeDeliveryCounts(sentBy, seqs, deliveries);
    return this.#countsUnsaved;
  }

  /** Whether this stream is done with the message (for the messages table's status). */
  isResolved(message: StoredMessage): boolean {
    const { seq } = message;
    // Shared: a partition held elsewhere is not known to be done.
    if (this.#partitions !== undefined && !this.#partitions.handles(message)) return false;
    // The size first: this runs once per ack, and the set is empty but after a restart.
    if (this.#ackedAhead.size > 0 && this.#ackedAhead.has(seq)) return true;
    return seq < this.#cursor.readPoint() && !this.#unacked.has(seq);
  }

  matches(topic: string): boolean {
    for (const p of this.#patterns) if (topicMatches(p, topic)) return true;
    return false;
  }

  #offer(message: StoredMessage): Offered {
    if (this.#paused) return 'blocked';
    if (message.seq < this.#minSeq) return 'skipped';
    if (this.#exactTopic === undefined && !this.matches(message.topic)) return 'skipped';
    if (this.#ackedAhead.size > 0 && this.#ackedAhead.delete(message.seq)) return 'skipped';
    // Shared: another broker's partition, one met again after taking a partition, or one already in flight.
    if (this.#partitions !== undefined && (!this.#partitions.takes(message) || this.#unacked.has(message.seq))) {
      if (this.#priorDeliveries.size > 0) this.#priorDeliveries.delete(message.seq);
      return 'skipped';
    }
    if (message.ttlSeconds > 0 && message.createdAt + message.ttlSeconds * 1000 <= this.#host.now()) return 'skipped';
    if (this.#filter !== undefined && !this.#filter(message)) return 'skipped';
    let prior = this.#priorDeliveries.size === 0 ? undefined : this.#priorDeliveries.get(message.seq);
    // Killed while it may have been delivering this message: that possible delivery counts (never past the
    // cap, which no delivery passes).
    if (this.reservation.maybeDelivered(message) && (prior ?? 0) < this.maxDeliveries) prior = (prior ?? 0) + 1;
    if (prior !== undefined && prior >= this.maxDeliveries) {
      // Its last attempt was still unacked when the broker stopped: that attempt failed, as a timeout would say.
      this.#priorDeliveries.delete(message.seq);
      this.#host.deadLettered(this, message, prior, `not acked after ${prior} deliveries (the last before a restart)`);
      return 'skipped';
    }
    if (this.isDurable && this.#host.isSaturated(this)) return 'blocked';
    // In strict order a waiting redelivery holds back everything after it.
    if (this.#group.hasInOrder && this.#unacked.redeliveries.size > 0) return 'blocked';
    if (this.isDurable && !this.reservation.covers(message)) return 'blocked';
    const member = this.#chooseMember(message.orderingKey);
    if (member === undefined) return 'blocked';
    if (prior !== undefined) this.#priorDeliveries.delete(message.seq);
    this.#send(member, new Unacked(message, member, (prior ?? 0) + 1, 0, prior ?? 0, 0), true);
    return 'taken';
  }

  #chooseMember(key: string | null): Member | undefined {
    return this.#group.choose(key === null ? undefined : this.#unacked.ownerOf(key), this.isDurable);
  }

  /** `isFirst`: the first send of this stream's lifetime (a count carried over from a restart included). */
  #send(member: Member, u: Unacked, isFirst: boolean): void {
    const { message } = u;
    if (this.isDurable) {
      const now = this.#ackedAt ?? this.#host.now();
      this.#unacked.sent(u, member, now, now + this.ackTimeoutMs, isFirst);
      if (!this.#countsUnsaved) {
        this.#countsUnsaved = true;
        this.#host.countsChanged(this);
      }
    }
    this.#host.delivered();
    const tracing = this.#host.tracing;
    if (tracing.on) {
      const attempt = tracing.attempt(message, this.isDurable ? this.key : undefined, u.delivery);
      // A subscription of its own is acked as it is sent.
      if (this.isDurable) u.trace = attempt;
      else attempt.end();
    }
    const more = member.sink.deliver(new Delivery(member.id, message, u.delivery));
    if (!more) member.pause();
  }

  /** Due `delayMs` after `now`; undefined: the backoff's wait after the delivery's attempts so far. */
  #retry(seq: number, u: Unacked, now: number, delayMs: number | undefined, why: 'nacked' | 'ack timeout', cause?: string): void {
    const last = u.delivery >= this.maxDeliveries;
    u.endAttempt(last ? 'dead_letter' : why === 'nacked' ? 'nack' : 'timeout', cause ?? why);
    if (u.member !== null) {
      u.member.gaveBack();
      u.member = null;
    }
    if (last) {
      this.#unacked.settle(seq, u);
      this.#host.deadLettered(this, u.message, u.delivery, `${why} after ${u.delivery} deliveries${cause === undefined ? '' : `: ${cause}`}`);
      return;
    }
    // A waiting redelivery holds no member's room, and the ordering key stays with the member that had it: other
    // messages, of its key or not, flow meanwhile as they do while a delivery awaits its ack (an in-order member's
    // excepted, which takes nothing new while a redelivery waits, its wait included: seq order is its promise).
    this.#unacked.redeliveries.schedule(u, now + (delayMs ?? backoffWaitMs(this.#backoffMs, u.delivery)));
  }

  #deliverRedeliveries(): void {
    if (this.#paused) return;
    const now = this.#host.now();
    const redeliveries = this.#unacked.redeliveries;
    for (let u = redeliveries.firstDue(now); u !== undefined; u = redeliveries.firstDue(now)) {
      const member = this.#chooseMember(u.message.orderingKey);
      if (member === undefined) return;
      redeliveries.shift();
      u.delivery++;
      this.#send(member, u, false);
    }
  }
}

/** A stream of one exact topic reads through the (topic, seq) index instead of scanning the log. */
function exactTopicOf(patterns: readonly string[]): string | undefined {
  return patterns.length === 1 && isExactPattern(patterns[0]!) ? patterns[0] : undefined;
}
