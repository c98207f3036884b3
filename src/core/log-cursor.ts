// A stream's place in the log: it catches up from disk a page at a time, then takes messages live as the
// dispatcher announces them, with no gap and no duplicate at the switch. Each message read goes to the stream's
// offer; one the stream is blocked on stops the cursor there, to be read again when the stream kicks it.
import type { ResultAsync } from 'neverthrow';
import type { StorageError } from './store-port.js';
import type { StoredMessage } from './types.js';

// Rows read per catch-up query: enough to amortise the query, small enough that a stream that is far
// behind holds well under a megabyte of messages in memory.
const PAGE_ROWS = 512;

export type Offered = 'taken' | 'skipped' | 'blocked';

/** The stream a cursor reads for. */
export interface CursorOwner {
  /** The last seq the dispatcher has announced; everything up to it is readable from the store. */
  head(): number;
  /** A page of the log (EventStore.read), of the stream's one exact topic when it has one. */
  read(fromSeq: number, limit: number): ResultAsync<StoredMessage[], StorageError>;
  /** A failure reading the log: the cursor stops until kicked again. */
  readFailed(error: StorageError): void;
  /** Whether to read on: the stream is open and has members. */
  isReading(): boolean;
  offer(message: StoredMessage): Offered;
  /** The cursor stopped reading for now: live, blocked, or out of members. */
  stopped(): void;
}

export class LogCursor {
  readonly #owner: CursorOwner;
  /** Taking messages straight from the dispatcher; the position is then head() + 1. */
  #live = false;
  /** Next seq to read from disk when not live. */
  #next: number;
  #page: StoredMessage[] = [];
  #pageIndex = 0;
  #pumping = false;
  /** A page was read since the cursor last let the event loop turn. */
  #readSinceTurn = false;

  constructor(startSeq: number, owner: CursorOwner) {
    this.#next = startSeq;
    this.#owner = owner;
  }

  /** Reading the log from disk right now. */
  get isPumping(): boolean {
    return this.#pumping;
  }

  /** Live: the stream takes each message as the dispatcher announces it (offerLive). */
  get isLive(): boolean {
    return this.#live;
  }

  /** The next seq the stream takes: head() + 1 when live. */
  readPoint(): number {
    return this.#live ? this.#owner.head() + 1 : this.#frontier();
  }

  /** Stops taking messages; the next kick reads on from the read point (or from moveTo's seq). */
  detach(): void {
    if (this.#live) this.#next = this.#owner.head() + 1;
    this.#live = false;
    // Unread page rows are read again on the next attach; dropping them keeps an idle consumer's memory at zero.
    if (this.#pageIndex < this.#page.length) this.#next = this.#page[this.#pageIndex]!.seq;
    this.#page = [];
    this.#pageIndex = 0;
  }

  /** Detached: reads from `seq` next. */
  moveTo(seq: number): void {
    this.#next = seq;
  }

  /** The stream could not take this live message: it is read again from disk once kicked. */
  blockedAt(seq: number): void {
    this.#live = false;
    this.#next = seq;
  }

  /** Reads on, unless live or reading already. */
  kick(): void {
    // Every ack kicks: the rows of the page in hand are offered here, without the read loop's promise, which
    // only a page to read needs.
    if (this.#live || this.#pumping) return;
    this.#pumping = true;
    let readOn = false;
    try {
      readOn = this.#owner.isReading() && this.#offerPage();
    } finally {
      if (!readOn) this.#stopped();
    }
    if (readOn) void this.#pump();
  }

  stop(): void {
    this.#live = false;
  }

  #frontier(): number {
    return this.#pageIndex < this.#page.length ? this.#page[this.#pageIndex]!.seq : this.#next;
  }

  /** Offers the rows of the page in hand; false when the stream is blocked on one. */
  #offerPage(): boolean {
    while (this.#pageIndex < this.#page.length) {
      if (this.#owner.offer(this.#page[this.#pageIndex]!) === 'blocked') return false;
      this.#pageIndex++;
    }
    return true;
  }

  #stopped(): void {
    this.#pumping = false;
    this.#owner.stopped();
  }

  /** Reads page after page and offers their rows; kick() has set #pumping. */
  async #pump(): Promise<void> {
    try {
      while (this.#owner.isReading() && !this.#live) {
        if (!this.#offerPage()) return;
        const head = this.#owner.head();
        const from = this.#next;
        if (from > head) {
          this.#live = true;
          return;
        }
        // A consumer in this process acks in microtasks, so a catch-up that reads page after page would never let
        // the event loop turn: other clients, timers and the writer thread's replies (the reservation this
        // stream waits for among them) would wait until it stopped. One turn per page read costs little.
        if (this.#readSinceTurn) {
          await new Promise(setImmediate);
          this.#readSinceTurn = false;
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() or a live switch may come during the turn
          if (!this.#owner.isReading() || this.#live) return;
          if (this.#next !== from) continue; // rewound meanwhile
        }
        this.#readSinceTurn = true;
        const page = await this.#owner.read(from, PAGE_ROWS);
        if (page.isErr()) {
          this.#owner.readFailed(page.error);
          return;
        }
        const rows = page.value;
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() or a live switch may come during the read
        if (!this.#owner.isReading() || this.#live) return;
        if (this.#next !== from) continue; // rewound while reading: that page is stale
        // Rows past `head` are announced by the dispatcher later; taking them here would deliver them twice.
        let n = rows.length;
        while (n > 0 && rows[n - 1]!.seq > head) n--;
        this.#page = n === rows.length ? rows : rows.slice(0, n);
        this.#pageIndex = 0;
        this.#next = rows.length === PAGE_ROWS && n === rows.length ? rows[n - 1]!.seq + 1 : head + 1;
      }
    } finally {
      this.#stopped();
    }
  }
}
