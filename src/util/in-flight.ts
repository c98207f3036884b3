// Entries by a numeric key, oldest first, where entries come and go all the time: a durable stream's unacked
// deliveries (by seq, in the order they were sent, which is their deadline order), the client's unanswered
// requests (by request id) and an EventReceiver's unsettled messages (by a receive counter). Not a Map: once
// a long-lived Map's hash table is in V8's old generation, every rehash allocates the next table there too,
// and each dead table keeps pointing at the entries it held; the young-generation collector counts those
// pointers as roots, so every entry outlived its removal and was promoted. Here the slots are cleared as
// entries leave, and the index (typed arrays, integer-index.ts) maps a key to a position.
import { IntegerIndex } from './integer-index.js';

const MIN_CAPACITY = 16;

export class InFlight<T extends object> {
  #slots: (T | undefined)[] = new Array<T | undefined>(MIN_CAPACITY).fill(undefined);
  #seqs = new Float64Array(MIN_CAPACITY);
  #mask = MIN_CAPACITY - 1;
  /** Positions count up for ever; a slot is position & mask. Live entries lie in [head, tail). */
  #head = 0;
  #tail = 0;
  readonly #positionOf = new IntegerIndex();

  get size(): number {
    return this.#positionOf.size;
  }

  has(seq: number): boolean {
    return this.#positionOf.has(seq);
  }

  get(seq: number): T | undefined {
    const position = this.#positionOf.get(seq);
    return position === undefined ? undefined : this.#slots[position & this.#mask];
  }

  /** Adds `seq` (the key) as the newest entry, moving it there if it is already in. */
  push(seq: number, value: T): void {
    this.delete(seq);
    if (this.#tail - this.#head > this.#mask) this.#rebuild();
    const position = this.#tail++;
    this.#slots[position & this.#mask] = value;
    this.#seqs[position & this.#mask] = seq;
    this.#positionOf.set(seq, position);
  }

  delete(seq: number): boolean {
    const position = this.#positionOf.get(seq);
    if (position === undefined) return false;
    this.#positionOf.delete(seq);
    this.#slots[position & this.#mask] = undefined;
    while (this.#head < this.#tail && this.#slots[this.#head & this.#mask] === undefined) this.#head++;
    return true;
  }

  /** Oldest first. Deleting while iterating is fine; pushing is not. */
  *entries(): IterableIterator<[seq: number, value: T]> {
    for (let p = this.#head; p < this.#tail; p++) {
      const value = this.#slots[p & this.#mask];
      if (value !== undefined) yield [this.#seqs[p & this.#mask]!, value];
    }
  }

  *values(): IterableIterator<T> {
    for (const [, value] of this.entries()) yield value;
  }

  /** The lowest seq in flight, or Infinity when none is. */
  minSeq(): number {
    let low = Infinity;
    for (let p = this.#head; p < this.#tail; p++) {
      const slot = p & this.#mask;
      if (this.#slots[slot] !== undefined) low = Math.min(low, this.#seqs[slot]!);
    }
    return low;
  }

  /** The ring is full: packs the live entries (acks leave holes) into a ring with room for as many again. */
  #rebuild(): void {
    const live = [...this.entries()];
    let capacity = MIN_CAPACITY;
    while (capacity < live.length * 2) capacity *= 2;
    this.#slots.fill(undefined); // the old array may be in the old generation: leave it pointing at nothing
    this.#slots = new Array<T | undefined>(capacity).fill(undefined);
    this.#seqs = new Float64Array(capacity);
    this.#mask = capacity - 1;
    this.#head = 0;
    this.#tail = 0;
    this.#positionOf.clear();
    for (const [seq, value] of live) {
      const position = this.#tail++;
      this.#slots[position] = value;
      this.#seqs[position] = seq;
      this.#positionOf.set(seq, position);
    }
  }
}
