// A durable stream's delivery reservation (EVENTBUS_DELIVERY_RESERVATION): a first delivery never goes past the
// seq the store has reserved, and the next reservation, a chunk of seqs further, is asked for ahead of need, so
// that after a kill the store knows how far deliveries may have gone and a restart counts each message up to
// there as delivered once more. Shared with other brokers, each partition held has its own (partitions.ts).
// The ProgressWriter writes what take() hands it.
//
// A stream that goes through a chunk faster than a write takes would wait on every one (a replay of a big
// backlog delivers a thousand seqs in a few ms, and a write waits behind the writer's other transactions), so
// the chunk follows the stream's pace: one used up within FAST_MS doubles the next (up to MAX_GROWTH times the
// setting), one that lasted SLOW_MS halves it back towards the setting. After a kill, what counts as delivered
// once more is then about what the stream delivered in a fraction of a second, rather than a fixed count.
import type { Partitions } from './partitions.js';
import type { StoredMessage } from './types.js';

/** A reservation to write: up to `upTo`, for the stream (not shared) or for these partitions of it (shared). */
export interface Reservation {
  readonly upTo: number;
  readonly partitions: readonly number[] | undefined;
  /** Rewinds before it was taken: one taken before a rewind no longer holds once written. */
  readonly rewinds: number;
}

const FAST_MS = 200;
const SLOW_MS = 1000;
export const MAX_GROWTH = 64;

export class DeliveryReservation {
  /** Seqs reserved at a time at least (the setting), and now. */
  readonly #minChunk: number;
  #chunk: number;
  readonly #now: () => number;
  /** When the last reservation ahead of need was asked for. */
  #askedAt = -Infinity;
  readonly #partitions: Partitions | undefined;
  /** Asks for the wanted reservation to be written soon (take()): a delivery may be held up until it is. */
  readonly #want: () => void;
  /** A reservation was written: deliveries held up for it may go. */
  readonly #written: () => void;
  /**
   * Not shared: the reservation the store holds. A first delivery past it waits until a higher one is written,
   * so that after a kill the store knows how far deliveries may have gone (shared: per partition).
   */
  #reserved: number;
  /** Not shared: up to this seq, messages may have been delivered before an unclean stop (0: none). */
  #suspectTo: number;
  /** The reservation wanted and not taken for writing yet (0: none). */
  #wanted = 0;
  /** The reservation being written (0: none). */
  #writing = 0;
  #rewinds = 0;

  constructor(init: {
    startSeq: number;
    /** Not shared: the stored reservation (EventStore.reservation); above the position, the broker was killed. */
    storedSeq: number;
    partitions: Partitions | undefined;
    chunk: number;
    now: () => number;
    want: () => void;
    written: () => void;
  }) {
    this.#minChunk = init.chunk;
    this.#chunk = init.chunk;
    this.#now = init.now;
    this.#partitions = init.partitions;
    this.#want = init.want;
    this.#written = init.written;
    this.#reserved = Math.max(init.storedSeq, init.startSeq - 1);
    this.#suspectTo = init.storedSeq >= init.startSeq ? init.storedSeq : 0;
  }

  /** A reservation is wanted or being written: a delivery may be waiting for it. */
  get isPending(): boolean {
    return this.#wanted > 0 || this.#writing > 0;
  }

  /** Whether the message may have been delivered before an unclean stop (it counts as one delivery more). */
  maybeDelivered(message: StoredMessage): boolean {
    if (this.#partitions === undefined) return message.seq <= this.#suspectTo;
    return this.#partitions.maybeDelivered(message);
  }

  /**
   * Whether the store's reservation covers a first delivery of this message. The next one, a chunk further,
   * is asked for half a chunk ahead of need, so that a stream delivering steadily seldom waits for it.
   */
  covers(message: StoredMessage): boolean {
    const { seq } = message;
    const parts = this.#partitions;
    const reserved = parts === undefined ? this.#reserved : parts.reservedOf(parts.of(message));
    const chunk = this.#chunk;
    const ahead = Math.max(reserved, this.#writing, this.#wanted);
    if (seq + chunk / 2 > ahead) {
      this.#wanted = Math.max(ahead, seq) + this.#paced();
      this.#want();
    }
    if (seq <= reserved) return true;
    // A write under way that reaches this seq lets it go once written (kick); shared, it may not hold its partition.
    if (this.#wanted < seq && (parts !== undefined || this.#writing < seq)) this.#wanted = seq + chunk;
    if (this.#wanted > 0) this.#want();
    return false;
  }

  /**
   * The stream starts over at `seq`: nothing read before counts as delivered, and the progress batch of the
   * rewind sets the stored reservation back to here (not shared; shared, the rewind gives every partition back,
   * clearing theirs), so what is delivered from here on is reserved anew.
   */
  rewind(seq: number): void {
    this.#suspectTo = 0;
    this.#partitions?.clearSuspects();
    this.#rewinds++;
    this.#reserved = Math.min(this.#reserved, seq - 1);
    this.#writing = 0;
    this.#wanted = 0;
    this.#chunk = this.#minChunk;
    this.#askedAt = -Infinity;
  }

  /** The chunk to ask for next, after the stream's pace through the last one. */
  #paced(): number {
    const now = this.#now();
    const lasted = now - this.#askedAt;
    if (lasted < FAST_MS) this.#chunk = Math.min(this.#chunk * 2, this.#minChunk * MAX_GROWTH);
    else if (lasted >= SLOW_MS) this.#chunk = Math.max(Math.floor(this.#chunk / 2), this.#minChunk);
    this.#askedAt = now;
    return this.#chunk;
  }

  /**
   * Not shared, on a clean stop: whether the stored reservation can go (every attempt count is written by
   * then); not while part of a crash's range is unread (`readPoint`: the stream's), which must count again
   * after the next restart.
   */
  isClearable(readPoint: number): boolean {
    return this.#suspectTo < readPoint;
  }

  /** The reservation to write now, if one is wanted; written() or failed() follows. */
  take(): Reservation | undefined {
    const upTo = this.#wanted;
    if (upTo === 0) return undefined;
    this.#wanted = 0;
    const parts = this.#partitions;
    const partitions = parts?.held().filter((p) => parts.isActive(p) && parts.reservedOf(p) < upTo);
    if (partitions?.length === 0) return undefined;
    this.#writing = Math.max(this.#writing, upTo);
    return { upTo, partitions, rewinds: this.#rewinds };
  }

  /** The store holds `r` now (unless a rewind since made it void). */
  written(r: Reservation): void {
    if (r.rewinds !== this.#rewinds) return;
    if (r.partitions === undefined) this.#reserved = Math.max(this.#reserved, r.upTo);
    else for (const p of r.partitions) this.#partitions!.reserve(p, r.upTo);
    if (this.#writing <= r.upTo) this.#writing = 0;
    this.#written();
  }

  /** The write failed: wanted again, with the next progress batch. */
  failed(r: Reservation): void {
    if (r.rewinds !== this.#rewinds) return;
    if (this.#writing <= r.upTo) this.#writing = 0;
    this.#wanted = Math.max(this.#wanted, r.upTo);
  }
}
