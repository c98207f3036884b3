// Hands the dispatcher the log in seq order with no gap. This broker's commits go straight through as they
// are made; on a store shared with other brokers, their commits are read back from the store: when the
// store says the log grew, and when a commit of this broker lands beyond seqs it has not seen (another
// broker's commit in between, or two of its own commits answered out of order). While nobody is subscribed
// on this broker, nobody waits for those reads and no stream takes messages (a stream with no member reads
// from the store when one comes): they are made a few times a second, of each message's seq and topic only,
// for the counters, rather than whole, once per commit of every other broker.
import type { Logger } from '../logger.js';
import type { ResultAsync } from 'neverthrow';
import type { EventStore, MessageHeader, StorageError } from './store-port.js';
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
  /** Messages in seq order, all above head(), that no stream takes (nobody is subscribed): counted only. */
  skim(headers: readonly MessageHeader[]): void;
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
          const read = this.#target.eager()
            ? await this.#take(this.#store.read(head + 1, PAGE_ROWS), upTo, (messages) => {
                this.#target.deliver(messages);
                return true;
              })
            : // Someone may subscribe during the read: their stream takes these messages, so they are read whole.
              await this.#take(this.#store.readHeaders(head, PAGE_ROWS), upTo, (headers) => {
                if (this.#target.eager()) return false;
                this.#target.skim(headers);
                return true;
              });
          if (!read) return;
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

  /**
   * Hands over the page's rows above head() and up to `upTo` (`hand` may refuse them: they are read again),
   * and moves the head past `upTo` once the page reaches it. False when the read failed (tried again later).
   */
  async #take<T extends MessageHeader>(reading: ResultAsync<T[], StorageError>, upTo: number, hand: (rows: T[]) => boolean): Promise<boolean> {
    const page = await reading;
    if (page.isErr()) {
      this.#log.warn('cannot read the log to catch up with other brokers; trying again', { reason: page.error.message });
      this.#retryTimer = setTimeout(() => void this.#run(), RETRY_MS).unref();
      return false;
    }
    const rows = page.value;
    // Handed over meanwhile by a local commit that went straight through: not again.
    const fresh = rows.filter((m) => m.seq > this.#target.head() && m.seq <= upTo);
    if (fresh.length > 0 && !hand(fresh)) return true;
    const more = rows.length === PAGE_ROWS && rows[rows.length - 1]!.seq < upTo;
    if (!more) this.#target.advance(upTo);
    return true;
  }
}
