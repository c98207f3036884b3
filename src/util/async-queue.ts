// A bounded queue read with promises: what an in-process subscriber (core) and a client subscription read
// their messages from. Items go to a waiting reader at once, else into the queue; at `limit` queued items the
// producer is told to stop (onFull), and once the reader has taken it down to half, to go on (onRoom).
// Readers wait first come first served, each with an optional timeout. No I/O, no dependencies.

interface Waiter<T> {
  readonly resolve: (item: T | undefined) => void;
  readonly reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export interface QueueHooks {
  /** The queue reached its limit: stop producing. */
  onFull(): void;
  /** A full queue is down to half: produce again. */
  onRoom(): void;
}

export class AsyncQueue<T> {
  readonly #limit: number;
  readonly #hooks: QueueHooks;
  // A ring whose slots are cleared as items leave. An array compacted now and then keeps up to a thousand
  // taken items (and their payloads) alive, which every young-generation collection then copies.
  #ring: (T | undefined)[] = new Array<T | undefined>(16).fill(undefined);
  #head = 0;
  #count = 0;
  #waiters: Waiter<T>[] = [];
  #full = false;
  /** Set once ended: null for a clean end, else the error readers get after the queued items. */
  #ended: Error | null | undefined;

  constructor(limit: number, hooks: QueueHooks) {
    this.#limit = limit;
    this.#hooks = hooks;
  }

  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** Hands the item to a waiting reader or queues it; false while the queue is full. */
  push(item: T): boolean {
    const w = this.#waiters.shift();
    if (w !== undefined) {
      clearTimeout(w.timer);
      w.resolve(item);
      return true;
    }
    if (this.#count === this.#ring.length) this.#grow();
    this.#ring[(this.#head + this.#count++) & (this.#ring.length - 1)] = item;
    if (!this.#full && this.#count >= this.#limit) {
      this.#full = true;
      this.#hooks.onFull();
    }
    return !this.#full;
  }

  /** The next queued item without waiting, or undefined when none is queued. */
  poll(): T | undefined {
    return this.#count > 0 ? this.#take() : undefined;
  }

  /** The next item; undefined once ended cleanly (after the queued items) or after `timeoutMs`. */
  next(timeoutMs?: number): Promise<T | undefined> {
    if (this.#count > 0) return Promise.resolve(this.#take());
    if (this.#ended === null) return Promise.resolve(undefined);
    if (this.#ended !== undefined) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      const w: Waiter<T> = { resolve, reject, timer: undefined };
      if (timeoutMs !== undefined) {
        w.timer = setTimeout(() => {
          this.#waiters = this.#waiters.filter((x) => x !== w);
          resolve(undefined);
        }, timeoutMs);
      }
      this.#waiters.push(w);
    });
  }

  /** Drops what is queued (not the waiting readers). */
  clear(): void {
    this.#ring.fill(undefined);
    this.#head = 0;
    this.#count = 0;
    this.#room();
  }

  /** No more items: readers get what is queued, then undefined (or `error`). */
  end(error: Error | null = null): void {
    if (this.#ended !== undefined) return;
    this.#ended = error;
    this.#room();
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer);
      if (error === null) w.resolve(undefined);
      else w.reject(error);
    }
  }

  #take(): T {
    const item = this.#ring[this.#head]!;
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#ring.length - 1);
    this.#count--;
    if (this.#full && this.#count < this.#limit / 2) this.#room();
    return item;
  }

  /** Doubles the ring (its length stays a power of two) and clears the old one, which may be old-generation. */
  #grow(): void {
    const old = this.#ring;
    const ring = new Array<T | undefined>(old.length * 2).fill(undefined);
    for (let i = 0; i < this.#count; i++) ring[i] = old[(this.#head + i) & (old.length - 1)];
    old.fill(undefined);
    this.#ring = ring;
    this.#head = 0;
  }

  #room(): void {
    if (!this.#full) return;
    this.#full = false;
    this.#hooks.onRoom();
  }
}
