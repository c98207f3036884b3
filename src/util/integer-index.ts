// Integer keys to integer values in typed arrays: a hash table that allocates nothing while entries come and
// go, only when it grows. A Map with as many deletes as inserts rehashes into a new table every few hundred
// operations, and once the Map is in V8's old generation those tables are allocated there too: a stream
// delivering a few hundred thousand messages a second grew the old generation by tens of megabytes a second
// that way, all of it garbage, which only a full collection gives back.
//
// Open addressing with linear probing; a delete shifts the entries after it back into place (no tombstones).
// Keys are hashed (Fibonacci hashing), so keys in a stride (every 1,024th seq) spread like consecutive ones.

const EMPTY = -Infinity;
const MIN_BITS = 4;

export class IntegerIndex {
  #bits = MIN_BITS;
  #keys = new Float64Array(1 << MIN_BITS).fill(EMPTY);
  #values = new Float64Array(1 << MIN_BITS);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(key: number): boolean {
    return this.#slotOf(key) >= 0;
  }

  get(key: number): number | undefined {
    const slot = this.#slotOf(key);
    return slot < 0 ? undefined : this.#values[slot];
  }

  set(key: number, value: number): void {
    const slot = this.#slotOf(key);
    if (slot >= 0) {
      this.#values[slot] = value;
      return;
    }
    // At most half full: probes stay short.
    if ((this.#size + 1) * 2 > this.#keys.length) this.#resize(this.#bits + 1);
    this.#insert(key, value);
    this.#size++;
  }

  delete(key: number): boolean {
    let hole = this.#slotOf(key);
    if (hole < 0) return false;
    const keys = this.#keys;
    const values = this.#values;
    const mask = keys.length - 1;
    keys[hole] = EMPTY;
    this.#size--;
    // Entries after the hole that probed past it move back into it, until an empty slot ends the run.
    for (let slot = (hole + 1) & mask; keys[slot] !== EMPTY; slot = (slot + 1) & mask) {
      const home = this.#home(keys[slot]!);
      // Whether `home` lies cyclically in (hole, slot]: then the entry is where its probe would still find it.
      const stays = hole <= slot ? hole < home && home <= slot : hole < home || home <= slot;
      if (stays) continue;
      keys[hole] = keys[slot]!;
      values[hole] = values[slot]!;
      keys[slot] = EMPTY;
      hole = slot;
    }
    // Emptied after a burst: give the large arrays back.
    if (this.#size === 0 && this.#bits > MIN_BITS + 6) this.#resize(MIN_BITS);
    return true;
  }

  clear(): void {
    this.#bits = MIN_BITS;
    this.#keys = new Float64Array(1 << MIN_BITS).fill(EMPTY);
    this.#values = new Float64Array(1 << MIN_BITS);
    this.#size = 0;
  }

  #home(key: number): number {
    // The low and high 32 bits of an integer key up to 2^53, mixed.
    const mixed = (key | 0) ^ Math.imul((key / 4294967296) | 0, 0x85ebca6b);
    return Math.imul(mixed, 0x9e3779b1) >>> (32 - this.#bits);
  }

  #slotOf(key: number): number {
    const keys = this.#keys;
    const mask = keys.length - 1;
    for (let slot = this.#home(key); ; slot = (slot + 1) & mask) {
      const k = keys[slot];
      if (k === key) return slot;
      if (k === EMPTY) return -1;
    }
  }

  #insert(key: number, value: number): void {
    const keys = this.#keys;
    const mask = keys.length - 1;
    let slot = this.#home(key);
    while (keys[slot] !== EMPTY) slot = (slot + 1) & mask;
    keys[slot] = key;
    this.#values[slot] = value;
  }

  #resize(bits: number): void {
    const keys = this.#keys;
    const values = this.#values;
    this.#bits = bits;
    this.#keys = new Float64Array(1 << bits).fill(EMPTY);
    this.#values = new Float64Array(1 << bits);
    this.#size = 0;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === EMPTY) continue;
      this.#insert(keys[i]!, values[i]!);
      this.#size++;
    }
  }
}
