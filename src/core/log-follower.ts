// Hands the dispatcher the log in seq order with no gap. This broker's commits go straight through as they
// are made; on a store shared with other brokers, their commits are read back from the store: when the
// store says the log grew, and when a commit of this broker lands beyond seqs it has not seen (another
// broker's commit in between, or two of its own commits answered out of order). While nobody is subscribed
// on this broker, nobody waits for those reads: they are made a few times a second, a page at a time,
// rather than once per commit of every other broker.
import type { Logger } from '../logger.js';
import type { EventStore } from './store-port.js';
import type { StoredMessage } from './types.js';

const PAGE_ROWS = 512;
// A read that failed (the database away) is tried again after this; the broker never needs a restart.
const RETRY_MS = 250;
// How far behind the log a broker with no subscriber lets itself fall: its counters lag by as much.
const LAZY_MS = 250;

export interface FollowerTarget {
  /** The last seq handed over. */
  head(): number;
  /** Messages in seq order, all above head(). */
  deliver(messages: readonly StoredMessage[]): void;
  /** Seqs up to `seq` hold nothing more to hand over (deleted, or never committed). */
  advance(seq: number): void;
  /** Someone here is subscribed: hand messages over as soon as they are known. */
  eager(): boolean;
}

export class LogFollower {
  readonly #store: EventStore;
  readonly #target: FollowerTarget;
  readonly #log: Logger;
  /** This broker's commits waiting behind a gap, in the order they were made. */
  readonly #queue: (readonly StoredMessage[])[] = [];
  /** The highest seq the store said is committed. */
  #known = 0;
  #running = false;
  /** The catch-up in progress, or the last one. */
  #done: Promise<void> = Promise.resolve();
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #lazyTimer: NodeJS.Timeout | undefined;

  constructor(store: EventStore, target: FollowerTarget, logger: Logger) {
    this.#store = store;
    this.#target = target;
    this.#log = logger;
    store.onExternalAppend((lastSeq) => {
      this.external(lastSeq);
    });
  }

  /** Messages this broker just committed, contiguous and in seq order. */
  local(messages: readonly StoredMessage[]): void {
    if (!this.#running && this.#queue.length === 0 && messages[0]!.seq === this.#target.head() + 1) {
      this.#target.deliver(messages);
      return;
    }
    this.#queue.push(messages);
    this.wake();
  }

  /** The store has seqs up to `lastSeq` committed by others. */
  external(lastSeq: number): void {
    if (lastSeq > this.#known) this.#known = lastSeq;
    this.wake();
  }

  /** Catches up now if someone is subscribed, else soon. */
  wake(): void {
    if (this.#target.eager()) void this.#run();
    else this.#lazyTimer ??= setTimeout(() => void this.#run(), LAZY_MS).unref();
  }

  /** Resolves once everything known when called has been handed over (or a read of it failed). */
  caughtUp(): Promise<void> {
    return this.#run();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#lazyTimer);
  }

  /** A catch-up in progress goes on until nothing known is left, so joining it is enough. */
  #run(): Promise<void> {
    if (!this.#running && !this.#stopped) this.#done = this.#catchUp();
    return this.#done;
  }

  async #catchUp(): Promise<void> {
    this.#running = true;
    clearTimeout(this.#lazyTimer);
    this.#lazyTimer = undefined;
    try {
      while (!this.#stopped) {
        const next = this.#queue[0];
        const upTo = next === undefined ? this.#known : next[0]!.seq - 1;
        const head = this.#target.head();
        if (head < upTo) {
          const page = await this.#store.read(head + 1, PAGE_ROWS);
          if (page.isErr()) {
            this.#log.warn('cannot read the log to catch up with other brokers; trying again', { reason: page.error.reason });
            this.#retryTimer = setTimeout(() => void this.#run(), RETRY_MS).unref();
            return;
          }
          // Handed over meanwhile by a local commit that went straight through: not again.
          const fresh = page.value.filter((m) => m.seq > this.#target.head() && m.seq <= upTo);
          if (fresh.length > 0) this.#target.deliver(fresh);
          const more = page.value.length === PAGE_ROWS && page.value[page.value.length - 1]!.seq < upTo;
          if (!more) this.#target.advance(upTo);
          continue;
        }
        if (next === undefined) break;
        this.#queue.shift();
        const fresh = next.filter((m) => m.seq > head);
        if (fresh.length > 0) this.#target.deliver(fresh);
      }
    } finally {
      this.#running = false;
    }
  }
}
