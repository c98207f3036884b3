// A durable stream's deliveries not acked yet: by seq in the order they were sent, which ordering key each
// member holds, and those waiting to be sent again (nacked, timed out, given back by a member that left,
// requeued dead letters) in the order they fall due, with the one timer that brings the first back when it
// does: a nack's delay is kept to the millisecond, not to the deadline tick.
import { InFlight } from '../util/in-flight.js';
import type { Member } from './subscription.js';
import type { AttemptFailure, AttemptTrace } from './tracing.js';
import type { StoredMessage } from './types.js';

/** A delivery not acked yet: sent to a member, or waiting to be sent again. A class, not a literal, as LogMessage says why. */
export class Unacked {
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

  /** The span of the attempt in flight, while tracing is on. */
  trace: AttemptTrace | undefined = undefined;

  /** Its deadline no longer follows from when it was sent (extended, or the ack timeout changed since). */
  outOfOrder = false;

  /** Ends the span of the attempt in flight, if there is one. */
  endAttempt(failure?: AttemptFailure, reason?: string): void {
    if (this.trace === undefined) return;
    this.trace.end(failure, reason);
    this.trace = undefined;
  }
}

/**
 * The wait before a redelivery of a message sent `attempts` times (PROTOCOL.md §11): the attempts-th of the
 * backoff's waits, its last once past the end; none without a backoff.
 */
export function backoffWaitMs(backoffMs: readonly number[] | null, attempts: number): number {
  if (backoffMs === null || backoffMs.length === 0 || attempts < 1) return 0;
  return backoffMs[Math.min(attempts, backoffMs.length) - 1]!;
}

export class UnackedDeliveries {
  /** By seq, in the order they were (re)sent: with one ack timeout, that is their deadline order. */
  readonly #bySeq = new InFlight<Unacked>();
  /** Those waiting to be sent again. */
  readonly redeliveries: Redeliveries;
  /** Per ordering key with deliveries unacked: the member they went to (null: none now), and how many. */
  readonly #keyOwners = new Map<string, { member: Member | null; count: number }>();
  /**
   * Entries that are requeued dead letters: the store keeps them (requeued_messages) until acked, so the
   * floor may pass them, as it passed them when they were dead-lettered.
   */
  readonly #requeued = new Set<number>();
  /** Entries whose deadline is out of send order (Unacked.outOfOrder). */
  #outOfOrder = 0;

  /** `fallsDue`: called when a delayed redelivery falls due. */
  constructor(now: () => number, fallsDue: () => void) {
    this.redeliveries = new Redeliveries(now, fallsDue);
  }

  get size(): number {
    return this.#bySeq.size;
  }

  has(seq: number): boolean {
    return this.#bySeq.has(seq);
  }

  get(seq: number): Unacked | undefined {
    return this.#bySeq.get(seq);
  }

  /** Oldest sent first. Settling while iterating is fine. */
  entries(): IterableIterator<[seq: number, value: Unacked]> {
    return this.#bySeq.entries();
  }

  /**
   * A requeued dead letter, sent again from a first attempt once due (`now`); redeliveries.sort() follows a run
   * of these.
   */
  addRequeued(message: StoredMessage, now: number): void {
    const u = new Unacked(message, null, 0, now, 0, 0);
    this.#bySeq.push(message.seq, u);
    this.#requeued.add(message.seq);
    this.redeliveries.add(u);
    const key = message.orderingKey;
    if (key !== null) {
      const owner = this.#keyOwners.get(key);
      if (owner === undefined) this.#keyOwners.set(key, { member: null, count: 1 });
      else owner.count++;
    }
  }

  /**
   * Whether the deadlines of the deliveries awaiting an ack follow their send order, as they do while the ack
   * timeout stays the same and none was extended: a scan for passed deadlines may then stop at the first to come.
   */
  get inDeadlineOrder(): boolean {
    return this.#outOfOrder === 0;
  }

  /** Moves the ack deadline of a delivery awaiting its ack. */
  extend(u: Unacked, due: number): void {
    u.due = due;
    this.#markOutOfOrder(u);
  }

  /** The ack timeout changed: the deadlines of the deliveries sent before no longer follow from the new one. */
  timeoutChanged(): void {
    for (const u of this.#bySeq.values()) if (u.member !== null) this.#markOutOfOrder(u);
  }

  #markOutOfOrder(u: Unacked): void {
    if (u.outOfOrder) return;
    u.outOfOrder = true;
    this.#outOfOrder++;
  }

  #inOrderAgain(u: Unacked): void {
    if (!u.outOfOrder) return;
    u.outOfOrder = false;
    this.#outOfOrder--;
  }

  /** Sent to `member` at `sentAt`, its ack due by `due`; `isFirst`: not counted here before (a redelivery is). */
  sent(u: Unacked, member: Member, sentAt: number, due: number, isFirst: boolean): void {
    u.member = member;
    u.sentAt = sentAt;
    u.due = due;
    this.#inOrderAgain(u);
    this.#bySeq.push(u.message.seq, u); // (re)sent last: the entries stay in deadline order
    member.took();
    const key = u.message.orderingKey;
    if (key === null) return;
    const added = isFirst ? 1 : 0;
    const owner = this.#keyOwners.get(key);
    if (owner === undefined) this.#keyOwners.set(key, { member, count: added });
    else {
      owner.member = member;
      owner.count += added;
    }
  }

  /** The member holding the key's unacked deliveries, so that the key's next message goes to it too. */
  ownerOf(key: string): Member | null | undefined {
    return this.#keyOwners.get(key)?.member;
  }

  /** `member` left: its deliveries wait to be sent again from `now`, to any member, and its keys are free. */
  takeBackFrom(member: Member, now: number): void {
    for (const u of this.#bySeq.values()) {
      if (u.member !== member) continue;
      u.endAttempt('member_left');
      u.member = null;
      u.due = now;
      this.redeliveries.add(u);
    }
    this.redeliveries.sort();
    for (const owner of this.#keyOwners.values()) if (owner.member === member) owner.member = null;
  }

  /** Done with: acked, dead-lettered, or forgotten (to be read again, or another broker's now). */
  settle(seq: number, u: Unacked): void {
    this.#bySeq.delete(seq);
    this.#inOrderAgain(u);
    if (this.#requeued.size > 0) this.#requeued.delete(seq);
    if (u.member !== null) u.member.gaveBack();
    this.redeliveries.remove(u);
    const key = u.message.orderingKey;
    if (key !== null) {
      const owner = this.#keyOwners.get(key);
      if (owner !== undefined && --owner.count <= 0) this.#keyOwners.delete(key);
    }
  }

  /** Settles those `which` picks. */
  settleWhere(which: (seq: number, u: Unacked) => boolean): void {
    for (const [seq, u] of [...this.#bySeq.entries()]) {
      if (!which(seq, u)) continue;
      u.endAttempt('withdrawn');
      this.settle(seq, u);
    }
  }

  count(which: (u: Unacked) => boolean): number {
    let n = 0;
    for (const u of this.#bySeq.values()) if (which(u)) n++;
    return n;
  }

  /** The lowest seq a stream's floor must stay below: requeued dead letters are kept by the store instead. */
  lowestHeld(): number {
    if (this.#requeued.size === 0) return this.#bySeq.minSeq();
    let low = Infinity;
    for (const [seq] of this.#bySeq.entries()) if (seq < low && !this.#requeued.has(seq)) low = seq;
    return low;
  }

  /**
   * Appends to `seqs` and `deliveries` the deliveries whose attempt count the store does not have, of those
   * sent at or before `sentBy` (one that is acked within moments need never be written), and counts them
   * saved. Returns whether later ones are still unsaved.
   */
  takeDeliveryCounts(sentBy: number, seqs: number[], deliveries: number[]): boolean {
    let later = false;
    for (const u of this.#bySeq.values()) {
      if (u.delivery === u.savedDelivery) continue;
      if (u.sentAt > sentBy) {
        later = true;
        continue;
      }
      seqs.push(u.message.seq);
      deliveries.push(u.delivery);
      u.savedDelivery = u.delivery;
    }
    return later;
  }
}

export class Redeliveries {
  readonly #now: () => number;
  /** Called when the first one falls due (by the timer; one due at once is sent by whoever added it). */
  readonly #fallsDue: () => void;
  /** By due time, then seq. */
  #waiting: Unacked[] = [];
  #timer: NodeJS.Timeout | undefined;
  #timerDue = Infinity;
  #stopped = false;

  constructor(now: () => number, fallsDue: () => void) {
    this.#now = now;
    this.#fallsDue = fallsDue;
  }

  get size(): number {
    return this.#waiting.length;
  }

  /** Adds one that waits from its `due` on, without its timer: sort() puts a run of these in order. */
  add(u: Unacked): void {
    this.#waiting.push(u);
  }

  sort(): void {
    this.#waiting.sort(byDueThenSeq);
  }

  /** Waits until `due`; a second nack moves it, never doubles it. */
  schedule(u: Unacked, due: number): void {
    u.due = due;
    if (!this.#waiting.includes(u)) this.#waiting.push(u);
    this.#waiting.sort(byDueThenSeq);
    this.#arm();
  }

  remove(u: Unacked): void {
    if (this.#waiting.length > 0) this.#waiting = this.#waiting.filter((r) => r !== u);
  }

  /** The first one, if it is due by `now`; shift() takes it once it is sent. */
  firstDue(now: number): Unacked | undefined {
    const first = this.#waiting[0];
    return first !== undefined && first.due <= now ? first : undefined;
  }

  shift(): void {
    this.#waiting.shift();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #arm(): void {
    const first = this.#waiting[0];
    if (first === undefined || this.#stopped || first.due >= this.#timerDue) return;
    const wait = first.due - this.#now();
    if (wait <= 0) return; // due now: the kick that follows, or the next ack, sends it
    clearTimeout(this.#timer);
    this.#timerDue = first.due;
    this.#timer = setTimeout(() => {
      this.#timerDue = Infinity;
      this.#fallsDue();
      this.#arm();
    }, wait).unref();
  }
}

function byDueThenSeq(a: Unacked, b: Unacked): number {
  return a.due - b.due || a.message.seq - b.message.seq;
}
