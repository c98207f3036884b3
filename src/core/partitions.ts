// The partitions of a durable consumer shared by several brokers: a message belongs to one of a fixed number
// of partitions (by its ordering key, so a key's messages stay in one; by seq when it has none), and a broker
// delivers only the messages of the partitions it holds a lease on (cluster.ts takes and gives back the
// leases). This is the stream's side of it: which partitions it may deliver, and from which seq.
import type { StoredMessage } from './types.js';

const NONE = 0;
/** Held: its new messages are delivered here. */
const ACTIVE = 1;
/** Still held, but on its way to another broker: its deliveries in flight finish here, nothing new is taken. */
const DRAINING = 2;

/** FNV-1a over the key's UTF-16 code units: stable across processes and versions, which the lease table relies on. */
function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function partitionOf(message: StoredMessage, count: number): number {
  return message.orderingKey === null ? message.seq % count : hashKey(message.orderingKey) % count;
}

export class Partitions {
  readonly count: number;
  readonly #state: Uint8Array;
  /** Messages of a partition below this seq are not delivered here: handled before, or below its lease's position. */
  readonly #start: Float64Array;
  /** Where a draining partition stopped taking messages. */
  readonly #drainFrom: Float64Array;
  /** The partition's reservation as the store holds it: its messages up to this seq may be delivered. */
  readonly #reserved: Float64Array;
  /** Its messages up to this seq may have been delivered by a holder that stopped without giving it up. */
  readonly #suspect: Float64Array;

  constructor(count: number) {
    this.count = count;
    this.#state = new Uint8Array(count);
    this.#start = new Float64Array(count);
    this.#drainFrom = new Float64Array(count);
    this.#reserved = new Float64Array(count);
    this.#suspect = new Float64Array(count);
  }

  of(message: StoredMessage): number {
    return partitionOf(message, this.count);
  }

  /** Whether a message read at this point is this stream's to deliver now. */
  takes(message: StoredMessage): boolean {
    const p = this.of(message);
    return this.#state[p] === ACTIVE && message.seq >= this.#start[p]!;
  }

  /** Whether this stream has handled the message (delivered it, or is the one to); not whether it is acked. */
  handles(message: StoredMessage): boolean {
    const p = this.of(message);
    const state = this.#state[p];
    if (state === NONE || message.seq < this.#start[p]!) return false;
    return state === ACTIVE || message.seq < this.#drainFrom[p]!;
  }

  held(): number[] {
    const out: number[] = [];
    for (let p = 0; p < this.count; p++) if (this.#state[p] !== NONE) out.push(p);
    return out;
  }

  isHeld(p: number): boolean {
    return this.#state[p] !== NONE;
  }

  /** Held and taking new messages. */
  isActive(p: number): boolean {
    return this.#state[p] === ACTIVE;
  }

  isDraining(p: number): boolean {
    return this.#state[p] === DRAINING;
  }

  /**
   * Starts delivering the partitions of `starts` (partition → first seq) while the stream reads at
   * `readPoint`; returns where the stream must read from next. The partitions already active keep going from
   * `readPoint`: what they met before it is done.
   */
  activate(starts: ReadonlyMap<number, number>, readPoint: number, reserved?: ReadonlyMap<number, number>): number {
    let from = readPoint;
    for (let p = 0; p < this.count; p++) {
      if (this.#state[p] === ACTIVE && !starts.has(p)) this.#start[p] = Math.max(this.#start[p]!, readPoint);
    }
    for (const [p, start] of starts) {
      this.#state[p] = ACTIVE;
      this.#start[p] = start;
      from = Math.min(from, start);
      // Taken from the store (a draining partition that stays keeps what it had): a reservation above the
      // position is what a holder that never gave the partition up may have delivered.
      const mark = reserved?.get(p);
      if (mark !== undefined) {
        this.#reserved[p] = Math.max(mark, start - 1);
        this.#suspect[p] = mark >= start ? mark : 0;
      }
    }
    return from;
  }

  reservedOf(p: number): number {
    return this.#reserved[p]!;
  }

  /** The store holds a reservation of `upTo` for the partition. */
  reserve(p: number, upTo: number): void {
    if (this.#state[p] !== NONE && upTo > this.#reserved[p]!) this.#reserved[p] = upTo;
  }

  /** Whether the message may have been delivered by a holder that stopped uncleanly. */
  maybeDelivered(message: StoredMessage): boolean {
    return message.seq <= this.#suspect[this.of(message)]!;
  }

  /** Whether part of a crash's range of the partition is not read through yet: `readPoint` is the stream's. */
  suspectUnread(p: number, readPoint: number): boolean {
    const upTo = this.#suspect[p]!;
    return upTo > 0 && upTo >= (this.#state[p] === DRAINING ? Math.min(readPoint, this.#drainFrom[p]!) : readPoint);
  }

  drain(p: number, readPoint: number): void {
    if (this.#state[p] !== ACTIVE) return;
    this.#state[p] = DRAINING;
    this.#drainFrom[p] = readPoint;
  }

  /** A draining partition that is this broker's again: it goes on from where it stopped. */
  drainingStart(p: number): number {
    return this.#drainFrom[p]!;
  }

  release(p: number): void {
    this.#state[p] = NONE;
    this.#reserved[p] = 0;
    this.#suspect[p] = 0;
  }

  /** Starting over (a rewind): nothing read before counts as delivered. */
  clearSuspects(): void {
    this.#suspect.fill(0);
  }

  /**
   * The position to record for each partition held, given the stream's floor: below every message of it not
   * yet done here; a draining one has not been read past the point where it stopped taking messages.
   */
  heldFloors(streamFloor: number): [partition: number, floor: number][] {
    return this.held().map((p) => [p, this.#state[p] === DRAINING ? Math.min(streamFloor, this.#drainFrom[p]! - 1) : streamFloor]);
  }
}
