// A Stream is one position in the log and the subscriptions reading from it: an ephemeral subscription
// (one member, acked on send) or a durable consumer (members split its messages; unacked deliveries are
// redelivered, then dead-lettered). It catches up from disk in pages and then takes messages live from
// the dispatcher, with no gap and no duplicate at the switch. No sockets; the dispatcher drives it, but for
// the one timer that brings a delayed redelivery back when it falls due.
import type { ResultAsync } from 'neverthrow';
import type { StorageError } from './store-port.js';
import type { MessageFilter } from '../protocol/filter.js';
import { InFlight } from '../util/in-flight.js';
import { isExactPattern, topicMatches } from '../protocol/topics.js';
import type { Member } from './subscription.js';
import { Partitions } from './partitions.js';
import { Delivery, type StoredMessage } from './types.js';

// Rows read per catch-up query: enough to amortise the query, small enough that a stream that is far
// behind holds well under a megabyte of messages in memory.
const PAGE_ROWS = 512;

export interface StreamHost {
  /** A page of the log (EventStore.read). */
  read(fromSeq: number, limit: number, topic: string | undefined): ResultAsync<StoredMessage[], StorageError>;
  /** The last seq the dispatcher has announced; everything up to it is readable from the store. */
  head(): number;
  now(): number;
  readonly ackTimeoutMs: number;
  readonly maxDeliveries: number;
  /** Seqs a durable stream reserves ahead of its deliveries at a time (EVENTBUS_DELIVERY_RESERVATION). */
  readonly reservation: number;
  resolved(stream: Stream, seq: number, outcome: Resolution): void;
  /** A failure reading the log: the stream stops until kicked again. */
  readFailed(stream: Stream, error: StorageError): void;
  /** The stream sent a delivery whose attempt count the store does not have yet (takeDeliveryCounts). */
  countsChanged(stream: Stream): void;
  /** Too many acks wait for the disk: take nothing new; the host kicks the stream when it may go on. */
  isSaturated(stream: Stream): boolean;
  /** A message went to a subscriber or a push consumer (a redelivery too): counted for the delivery rate. */
  delivered(): void;
  /** The stream wants a reservation written (takeReservation), soon: it may be held up until it is. */
  reservationWanted(stream: Stream): void;
}

/** A reservation to write: up to `upTo`, for the stream (not shared) or for these partitions of it (shared). */
export interface Reservation {
  readonly upTo: number;
  readonly partitions: readonly number[] | undefined;
  /** Rewinds before it was taken: one taken before a rewind no longer holds once written. */
  readonly rewinds: number;
}

export type Resolution =
  | { readonly kind: 'acked'; readonly message: StoredMessage; readonly delivery: number }
  | { readonly kind: 'dead'; readonly message: StoredMessage; readonly deliveries: number; readonly reason: string };

/** A class, not a literal, as LogMessage says why. */
class Unacked {
  constructor(
    readonly message: StoredMessage,
    /** Null while waiting for redelivery. */
    public member: Member | null,
    /** Attempts so far. */
    public delivery: number,
    /** Redelivery time when member is null; ack deadline otherwise. */
    public due: number,
    /** The attempts the store knows of (0: none). */
    public savedDelivery: number,
    /** When it was last sent. */
    public sentAt: number,
  ) {}
}

export class Stream {
  /** Consumer id for durable streams, subscription id for ephemeral ones. */
  readonly key: string;
  readonly isDurable: boolean;
  readonly #host: StreamHost;
  #patterns: readonly string[];
  #exactTopic: string | undefined;
  #filter: MessageFilter | undefined;
  readonly members: Member[] = [];
  #roundRobin = 0;
  /** Members that want their messages strictly in seq order. */
  #inOrderMembers = 0;
  /** Paused by an operator (durable consumers): nothing is sent, and the position stays where it is. */
  #paused = false;

  /** Taking messages straight from the dispatcher; its position is then head() + 1. */
  #live = false;
  /** Next seq to read from disk when not live. */
  #cursor: number;
  #page: StoredMessage[] = [];
  #pageIndex = 0;
  #pumping = false;
  #closed = false;

  readonly #unacked = new InFlight<Unacked>();
  #retries: Unacked[] = [];
  /** Fires when the first waiting retry falls due: a nack's delay is kept to the millisecond, not to the deadline tick. */
  #retryTimer: NodeJS.Timeout | undefined;
  #retryTimerDue = Infinity;
  /** Seqs above the stored floor acked before a restart: resolved already, not to be delivered again. */
  readonly #ackedAhead: Set<number>;
  /** Attempts made before a restart at messages not acked then: the count goes on from there. */
  readonly #priorDeliveries: Map<number, number>;
  /** Some unacked delivery has an attempt count the store does not have (the host knows). */
  #countsUnsaved = false;
  /** The lowest seq rewound to since takeRewind() last looked. */
  #rewoundTo = Infinity;
  /** From this seq on, attempt counts in the store predate a rewind whose progress batch is not written yet. */
  #countsVoidFrom = Infinity;
  readonly #keyOwners = new Map<string, { member: Member | null; count: number }>();
  /**
   * Unacked entries that are requeued dead letters: the store keeps them (requeued_messages) until acked, so
   * the floor may pass them, as it passed them when they were dead-lettered.
   */
  readonly #requeued = new Set<number>();
  #savedFloor: number;
  /** Nothing below this seq is delivered: a start or rewind point may lie past the head. */
  #minSeq: number;
  /** Shared with other brokers: only the partitions this broker holds are delivered here (partitions.ts). */
  readonly #partitions: Partitions | undefined;
  /**
   * Not shared: the reservation the store holds. A first delivery past it waits until a higher one is written,
   * so that after a kill the store knows how far deliveries may have gone (shared: per partition).
   */
  #reserved: number;
  /** Not shared: up to this seq, messages may have been delivered before an unclean stop (0: none). */
  #suspectTo: number;
  /** The reservation wanted and not taken for writing yet (0: none). */
  #reserveWanted = 0;
  /** The reservation being written (0: none). */
  #reserving = 0;
  /** Rewinds so far. */
  #rewinds = 0;

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
  }) {
    this.key = init.key;
    this.isDurable = init.isDurable;
    this.#host = init.host;
    this.#patterns = init.patterns;
    this.#exactTopic = exactTopicOf(init.patterns);
    this.#filter = init.filter;
    this.#cursor = init.startSeq;
    this.#savedFloor = init.startSeq - 1;
    this.#minSeq = init.startSeq;
    this.#ackedAhead = new Set(init.ackedAhead ?? []);
    this.#priorDeliveries = new Map(init.priorDeliveries);
    for (const seq of this.#ackedAhead) this.#priorDeliveries.delete(seq);
    this.#partitions = init.partitions === undefined ? undefined : new Partitions(init.partitions);
    this.#paused = init.paused ?? false;
    const reserved = init.reservedSeq ?? 0;
    this.#reserved = Math.max(reserved, init.startSeq - 1);
    this.#suspectTo = reserved >= init.startSeq ? reserved : 0;
  }

  get patterns(): readonly string[] {
    return this.#patterns;
  }
  get isLive(): boolean {
    return this.#live;
  }
  /** Deliveries not acked yet, those waiting to be sent again included. */
  get inFlightCount(): number {
    return this.#unacked.size;
  }

  /** Deliveries sent to a member and awaiting its ack right now. */
  get awaitingAck(): number {
    let n = 0;
    for (const m of this.members) n += m.inFlight;
    return n;
  }

  get isPaused(): boolean {
    return this.#paused;
  }

  /** Pauses or resumes delivery; deliveries already sent may still be acked while paused. */
  setPaused(paused: boolean): void {
    this.#paused = paused;
    if (!paused) this.kick();
  }

  /**
   * Delivers these dead letters (requeued, in seq order) again, each from a first attempt: those behind the
   * read point as redeliveries, in seq order, the others when they are read. Shared: only the partitions held here.
   */
  requeue(messages: readonly StoredMessage[]): void {
    const readPoint = this.#readPoint();
    const now = this.#host.now();
    for (const message of messages) {
      const { seq } = message;
      if (this.#unacked.has(seq) || (this.#partitions !== undefined && !this.#partitions.isActive(this.#partitions.of(message)))) continue;
      this.#priorDeliveries.delete(seq);
      if (seq >= readPoint && seq >= this.#minSeq) {
        this.#ackedAhead.delete(seq);
        continue;
      }
      const u = new Unacked(message, null, 0, now, 0, 0);
      this.#unacked.push(seq, u);
      this.#requeued.add(seq);
      this.#retries.push(u);
      const key = message.orderingKey;
      if (key !== null) {
        const owner = this.#keyOwners.get(key);
        if (owner === undefined) this.#keyOwners.set(key, { member: null, count: 1 });
        else owner.count++;
      }
    }
    this.#retries.sort(byDueThenSeq);
    this.kick();
  }

  setPatterns(patterns: readonly string[], filter: MessageFilter | undefined): void {
    this.#patterns = patterns;
    this.#exactTopic = exactTopicOf(patterns);
    this.#filter = filter;
  }

  addMember(member: Member): void {
    this.members.push(member);
    if (member.inOrder) this.#inOrderMembers++;
    this.kick();
  }

  /** Removes a member; its unacked messages go back to the others (or wait for the next member). */
  removeMember(member: Member): void {
    const i = this.members.indexOf(member);
    if (i < 0) return;
    this.members.splice(i, 1);
    if (member.inOrder) this.#inOrderMembers--;
    const now = this.#host.now();
    for (const u of this.#unacked.values()) {
      if (u.member !== member) continue;
      u.member = null;
      u.due = now;
      this.#retries.push(u);
    }
    this.#retries.sort(byDueThenSeq);
    for (const owner of this.#keyOwners.values()) if (owner.member === member) owner.member = null;
    if (this.members.length === 0) this.#detach();
    else this.kick();
  }

  /** Starts over at `seq`: later messages are delivered again, whatever was acked before. */
  rewind(seq: number): void {
    this.#detach();
    this.#cursor = seq;
    this.#minSeq = seq;
    this.#ackedAhead.clear();
    // Starting over starts the counts over: what is delivered again is a first delivery.
    this.#priorDeliveries.clear();
    this.#suspectTo = 0;
    this.#partitions?.clearSuspects();
    // The progress batch of the rewind sets the stored reservation back to here (not shared; shared, the
    // rewind gives every partition back, clearing theirs): what is delivered from here on is reserved anew.
    this.#rewinds++;
    this.#reserved = Math.min(this.#reserved, seq - 1);
    this.#reserving = 0;
    this.#reserveWanted = 0;
    this.#rewoundTo = Math.min(this.#rewoundTo, seq);
    this.#countsVoidFrom = Math.min(this.#countsVoidFrom, seq);
    // Deliveries at or after `seq` are read again from the log; forgetting them sends each once.
    for (const [s, u] of [...this.#unacked.entries()]) if (s >= seq) this.#settle(s, u);
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
    const readPoint = this.#readPoint();
    this.#detach();
    this.#cursor = this.#partitions!.activate(starts, readPoint, reserved);
    for (const seq of ackedAhead) if (seq >= this.#cursor && !this.#unacked.has(seq)) this.#ackedAhead.add(seq);
    for (const [seq, n] of prior) {
      if (seq >= this.#cursor && !this.#unacked.has(seq) && !this.#ackedAhead.has(seq)) this.#priorDeliveries.set(seq, n);
    }
    this.kick();
  }

  /** Takes nothing new of partition `p`; its deliveries in flight go on until acked. */
  drain(p: number): void {
    this.#partitions!.drain(p, this.#readPoint());
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
    return this.#partitions!.suspectUnread(p, this.#readPoint());
  }

  /**
   * Not shared, on a clean stop: whether the stored reservation can go (every attempt count is written by
   * then); not while part of a crash's range is unread, which must count again after the next restart.
   */
  get reservationClearable(): boolean {
    return this.#suspectTo < this.#readPoint();
  }

  /** The reservation to write now, if one is wanted; reservationWritten() or reservationFailed() follows. */
  takeReservation(): Reservation | undefined {
    const upTo = this.#reserveWanted;
    if (upTo === 0) return undefined;
    this.#reserveWanted = 0;
    const parts = this.#partitions;
    const partitions = parts?.held().filter((p) => parts.isActive(p) && parts.reservedOf(p) < upTo);
    if (partitions?.length === 0) return undefined;
    this.#reserving = Math.max(this.#reserving, upTo);
    return { upTo, partitions, rewinds: this.#rewinds };
  }

  reservationWritten(r: Reservation): void {
    if (r.rewinds !== this.#rewinds) return;
    if (r.partitions === undefined) this.#reserved = Math.max(this.#reserved, r.upTo);
    else for (const p of r.partitions) this.#partitions!.reserve(p, r.upTo);
    if (this.#reserving <= r.upTo) this.#reserving = 0;
    this.kick();
  }

  /** The write failed: wanted again, with the next progress batch. */
  reservationFailed(r: Reservation): void {
    if (r.rewinds !== this.#rewinds) return;
    if (this.#reserving <= r.upTo) this.#reserving = 0;
    this.#reserveWanted = Math.max(this.#reserveWanted, r.upTo);
  }

  /** Gives partition `p` up: its unacked deliveries are forgotten here (whoever takes it delivers them again). */
  release(p: number): void {
    const partitions = this.#partitions!;
    partitions.release(p);
    for (const [seq, u] of [...this.#unacked.entries()]) if (partitions.of(u.message) === p) this.#settle(seq, u);
  }

  unackedIn(p: number): number {
    let n = 0;
    for (const u of this.#unacked.values()) if (this.#partitions!.of(u.message) === p) n++;
    return n;
  }

  /** The position to record for each partition held: below every message of it not yet done here. */
  heldFloors(): [partition: number, floor: number][] {
    const floor = this.floor();
    return this.#partitions!.held().map((p) => [p, this.#partitions!.floorOf(p, floor)]);
  }

  close(): void {
    this.#closed = true;
    this.#live = false;
    clearTimeout(this.#retryTimer);
  }

  /** Closed: its consumer was removed, or (ephemeral) its subscription ended. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Live path: the dispatcher offers each committed message that matches, in seq order. */
  offerLive(message: StoredMessage): void {
    if (!this.#live) return;
    if (this.#offer(message) === 'blocked') {
      this.#live = false;
      this.#cursor = message.seq;
    }
  }

  /** Something changed that may let the stream move: an ack, a resumed sink, a new member, a due retry. */
  kick(): void {
    if (this.#closed || this.#paused || this.members.length === 0) return;
    if (this.#retries.length > 0) this.#deliverRetries();
    // Checked here too, not only in #pump: every ack kicks, and an async call costs a promise.
    if (!this.#live && !this.#pumping) void this.#pump();
  }

  ack(seq: number): void {
    const u = this.#unacked.get(seq);
    if (u === undefined) return; // already acked, or acked twice: acks are idempotent
    this.#settle(seq, u);
    this.#host.resolved(this, seq, { kind: 'acked', message: u.message, delivery: u.delivery });
    this.kick();
  }

  /** `cause`: why it failed (a push endpoint's answer), said in the dead letter's reason if this was the last try. */
  nack(seq: number, delayMs: number, cause?: string): void {
    const u = this.#unacked.get(seq);
    if (u === undefined) return;
    this.#retry(seq, u, this.#host.now() + delayMs, 'nacked', cause);
    this.kick();
  }

  /** Moves deliveries whose ack deadline has passed back to the retry queue. */
  expireDeadlines(now: number): void {
    let expired = false;
    for (const [seq, u] of this.#unacked.entries()) {
      if (u.member === null) continue;
      // Insertion order is delivery order and the timeout is constant, so the first live deadline
      // still in the future ends the scan.
      if (u.due > now) break;
      this.#retry(seq, u, now, 'ack timeout');
      expired = true;
    }
    if (expired || (this.#retries.length > 0 && this.#retries[0]!.due <= now)) this.kick();
  }

  /** Every matching message with seq <= floor is acked, dead-lettered or filtered out. */
  floor(): number {
    return Math.min(this.#readPoint(), this.#lowestUnacked()) - 1;
  }

  /** The lowest unacked seq the floor must stay below: requeued dead letters are kept by the store instead. */
  #lowestUnacked(): number {
    if (this.#requeued.size === 0) return this.#unacked.minSeq();
    let low = Infinity;
    for (const [seq] of this.#unacked.entries()) if (seq < low && !this.#requeued.has(seq)) low = seq;
    return low;
  }

  /** The floor if it moved since last asked, for the dispatcher to persist. */
  takeFloorChange(): number | undefined {
    const floor = this.floor();
    if (floor === this.#savedFloor) return undefined;
    this.#savedFloor = floor;
    return floor;
  }

  /**
   * Shared: the stored attempt counts from this seq on are void (Infinity when none are). A rewind gives the
   * partitions back at once, and the next heartbeat may take them again before the progress batch that deletes
   * the old counts is written; counts read then must not be taken up.
   */
  get countsVoidFrom(): number {
    return this.#countsVoidFrom;
  }

  /** The progress batch holding the rewind to `seq` is written: the store's counts are current again. */
  rewindWritten(seq: number): void {
    if (this.#rewoundTo === Infinity && seq <= this.#countsVoidFrom) this.#countsVoidFrom = Infinity;
  }

  /** The lowest seq the stream was rewound to since last asked (its stored counts from there on are void). */
  takeRewind(): number | undefined {
    const seq = this.#rewoundTo;
    this.#rewoundTo = Infinity;
    return seq === Infinity ? undefined : seq;
  }

  /**
   * Appends to `seqs` and `deliveries` the unacked deliveries whose attempt count the store does not have,
   * of those sent at or before `sentBy` (one that is acked within moments need never be written), and
   * counts them saved. Returns whether later ones are still unsaved.
   */
  takeDeliveryCounts(sentBy: number, seqs: number[], deliveries: number[]): boolean {
    let later = false;
    for (const u of this.#unacked.values()) {
      if (u.delivery === u.savedDelivery) continue;
      if (u.sentAt > sentBy) {
        later = true;
        continue;
      }
      seqs.push(u.message.seq);
      deliveries.push(u.delivery);
      u.savedDelivery = u.delivery;
    }
    this.#countsUnsaved = later;
    return later;
  }

  /** Whether this stream is done with the message (for the messages table's status). */
  isResolved(message: StoredMessage): boolean {
    const { seq } = message;
    // Shared: a partition held elsewhere is not known to be done.
    if (this.#partitions !== undefined && !this.#partitions.handles(message)) return false;
    if (this.#ackedAhead.has(seq)) return true;
    return seq < this.#readPoint() && !this.#unacked.has(seq);
  }

  matches(topic: string): boolean {
    for (const p of this.#patterns) if (topicMatches(p, topic)) return true;
    return false;
  }

  /** The next seq this stream takes: head() + 1 when live. */
  #readPoint(): number {
    return this.#live ? this.#host.head() + 1 : this.#frontier();
  }

  #frontier(): number {
    return this.#pageIndex < this.#page.length ? this.#page[this.#pageIndex]!.seq : this.#cursor;
  }

  #detach(): void {
    if (this.#live) this.#cursor = this.#host.head() + 1;
    this.#live = false;
    // Unread page rows are read again on the next attach; dropping them keeps an idle consumer's memory at zero.
    if (this.#pageIndex < this.#page.length) this.#cursor = this.#page[this.#pageIndex]!.seq;
    this.#page = [];
    this.#pageIndex = 0;
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (!this.#closed && this.members.length > 0 && !this.#live) {
        while (this.#pageIndex < this.#page.length) {
          if (this.#offer(this.#page[this.#pageIndex]!) === 'blocked') return;
          this.#pageIndex++;
        }
        const head = this.#host.head();
        const from = this.#cursor;
        if (from > head) {
          this.#live = true;
          return;
        }
        const page = await this.#host.read(from, PAGE_ROWS, this.#exactTopic);
        if (page.isErr()) {
          this.#host.readFailed(this, page.error);
          return;
        }
        const rows = page.value;
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() or a live switch may come during the read
        if (this.#closed || this.members.length === 0 || this.#live) return;
        if (this.#cursor !== from) continue; // rewound while reading: that page is stale
        // Rows past `head` are announced by the dispatcher later; taking them here would deliver them twice.
        let n = rows.length;
        while (n > 0 && rows[n - 1]!.seq > head) n--;
        this.#page = n === rows.length ? rows : rows.slice(0, n);
        this.#pageIndex = 0;
        this.#cursor = rows.length === PAGE_ROWS && n === rows.length ? rows[n - 1]!.seq + 1 : head + 1;
      }
    } finally {
      this.#pumping = false;
    }
  }

  #offer(message: StoredMessage): 'taken' | 'skipped' | 'blocked' {
    if (this.#paused) return 'blocked';
    if (message.seq < this.#minSeq) return 'skipped';
    if (this.#exactTopic === undefined && !this.matches(message.topic)) return 'skipped';
    if (this.#ackedAhead.delete(message.seq)) return 'skipped';
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
    if (this.#maybeDelivered(message) && (prior ?? 0) < this.#host.maxDeliveries) prior = (prior ?? 0) + 1;
    if (prior !== undefined && prior >= this.#host.maxDeliveries) {
      // Its last attempt was still unacked when the broker stopped: that attempt failed, as a timeout would say.
      this.#priorDeliveries.delete(message.seq);
      const reason = `not acked after ${prior} deliveries (the last before a restart)`;
      this.#host.resolved(this, message.seq, { kind: 'dead', message, deliveries: prior, reason });
      return 'skipped';
    }
    if (this.isDurable && this.#host.isSaturated(this)) return 'blocked';
    // In strict order a waiting redelivery holds back everything after it.
    if (this.#inOrderMembers > 0 && this.#retries.length > 0) return 'blocked';
    if (this.isDurable && !this.#reservedFor(message)) return 'blocked';
    const member = this.#chooseMember(message.orderingKey);
    if (member === undefined) return 'blocked';
    if (prior !== undefined) this.#priorDeliveries.delete(message.seq);
    this.#send(member, new Unacked(message, member, (prior ?? 0) + 1, 0, prior ?? 0, 0), true);
    return 'taken';
  }

  #maybeDelivered(message: StoredMessage): boolean {
    if (this.#partitions === undefined) return message.seq <= this.#suspectTo;
    return this.#partitions.maybeDelivered(message);
  }

  /**
   * Whether the store's reservation covers a first delivery of this message. The next one, a chunk further,
   * is asked for half a chunk ahead of need, so that a stream delivering steadily seldom waits for it.
   */
  #reservedFor(message: StoredMessage): boolean {
    const { seq } = message;
    const parts = this.#partitions;
    const reserved = parts === undefined ? this.#reserved : parts.reservedOf(parts.of(message));
    const chunk = this.#host.reservation;
    const ahead = Math.max(reserved, this.#reserving, this.#reserveWanted);
    if (seq + chunk / 2 > ahead) {
      this.#reserveWanted = Math.max(ahead, seq) + chunk;
      this.#host.reservationWanted(this);
    }
    if (seq <= reserved) return true;
    // A write under way that reaches this seq lets it go once written (kick); shared, it may not hold its partition.
    if (this.#reserveWanted < seq && (parts !== undefined || this.#reserving < seq)) this.#reserveWanted = seq + chunk;
    if (this.#reserveWanted > 0) this.#host.reservationWanted(this);
    return false;
  }

  #chooseMember(key: string | null): Member | undefined {
    const owner = key === null ? undefined : this.#keyOwners.get(key);
    if (owner?.member) return owner.member.hasRoom(this.isDurable) ? owner.member : undefined;
    const n = this.members.length;
    for (let i = 0; i < n; i++) {
      const m = this.members[(this.#roundRobin + i) % n]!;
      if (m.hasRoom(this.isDurable)) {
        this.#roundRobin = (this.#roundRobin + i + 1) % n;
        return m;
      }
    }
    return undefined;
  }

  /** `isFirst`: the first send of this stream's lifetime (a count carried over from a restart included). */
  #send(member: Member, u: Unacked, isFirst: boolean): void {
    const { message } = u;
    if (this.isDurable) {
      u.member = member;
      u.sentAt = this.#host.now();
      u.due = u.sentAt + this.#host.ackTimeoutMs;
      this.#unacked.push(message.seq, u); // (re)sent last: the entries stay in deadline order
      member.took();
      if (message.orderingKey !== null) this.#own(message.orderingKey, member, isFirst ? 1 : 0);
      if (!this.#countsUnsaved) {
        this.#countsUnsaved = true;
        this.#host.countsChanged(this);
      }
    }
    this.#host.delivered();
    const more = member.sink.deliver(new Delivery(member.id, message, u.delivery));
    if (!more) member.pause();
  }

  #own(key: string, member: Member, added: number): void {
    const owner = this.#keyOwners.get(key);
    if (owner === undefined) this.#keyOwners.set(key, { member, count: added });
    else {
      owner.member = member;
      owner.count += added;
    }
  }

  #settle(seq: number, u: Unacked): void {
    this.#unacked.delete(seq);
    if (this.#requeued.size > 0) this.#requeued.delete(seq);
    if (u.member !== null) u.member.gaveBack();
    if (this.#retries.length > 0) this.#retries = this.#retries.filter((r) => r !== u);
    const key = u.message.orderingKey;
    if (key !== null) {
      const owner = this.#keyOwners.get(key);
      if (owner !== undefined && --owner.count <= 0) this.#keyOwners.delete(key);
    }
  }

  #retry(seq: number, u: Unacked, due: number, why: string, cause?: string): void {
    if (u.member !== null) {
      u.member.gaveBack();
      u.member = null;
    }
    if (u.delivery >= this.#host.maxDeliveries) {
      this.#settle(seq, u);
      const reason = `${why} after ${u.delivery} deliveries${cause === undefined ? '' : `: ${cause}`}`;
      this.#host.resolved(this, seq, { kind: 'dead', message: u.message, deliveries: u.delivery, reason });
      return;
    }
    u.due = due;
    if (!this.#retries.includes(u)) this.#retries.push(u); // a second nack moves it, never doubles it
    this.#retries.sort(byDueThenSeq);
    this.#armRetryTimer();
  }

  #armRetryTimer(): void {
    const first = this.#retries[0];
    if (first === undefined || this.#closed || first.due >= this.#retryTimerDue) return;
    const wait = first.due - this.#host.now();
    if (wait <= 0) return; // due now: the kick that follows, or the next ack, sends it
    clearTimeout(this.#retryTimer);
    this.#retryTimerDue = first.due;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimerDue = Infinity;
      this.kick();
      this.#armRetryTimer();
    }, wait).unref();
  }

  #deliverRetries(): void {
    if (this.#paused) return;
    const now = this.#host.now();
    while (this.#retries.length > 0 && this.#retries[0]!.due <= now) {
      const u = this.#retries[0]!;
      const member = this.#chooseMember(u.message.orderingKey);
      if (member === undefined) return;
      this.#retries.shift();
      u.delivery++;
      this.#send(member, u, false);
    }
  }
}

function byDueThenSeq(a: Unacked, b: Unacked): number {
  return a.due - b.due || a.message.seq - b.message.seq;
}

/** A stream of one exact topic reads through the (topic, seq) index instead of scanning the log. */
function exactTopicOf(patterns: readonly string[]): string | undefined {
  return patterns.length === 1 && isExactPattern(patterns[0]!) ? patterns[0] : undefined;
}
