// What the dispatcher's streams resolved, written back to the store in batches: acks, dead letters, consumer
// positions (per partition when shared), rewinds, attempt counts and delivery reservations in one progress
// batch at a time, and the messages' status column in the background at a bounded rate.
import type { Logger } from '../logger.js';
import { PendingAcks } from './pending-acks.js';
import { SeqRuns } from './seq-runs.js';
import type { DeadLetterRecord, DeliveryCounts, EventStore, ProgressBatch } from './store-port.js';
import type { Reservation } from './reservation.js';
import type { Stream } from './stream.js';
import type { StoredMessage } from './types.js';

/** The streams whose progress is written: the dispatcher's durable ones. */
export interface ProgressSource {
  durable(id: string): Stream | undefined;
  durableStreams(): IterableIterator<Stream>;
}

// Acks are not answered, so they can wait a little to share a transaction; this bounds how much a crash
// can make the broker redeliver (at-least-once), and how stale a position in the database looks. A
// delivery's attempt count is written once it has stayed unacked this long (most are acked well before, and
// never cost a write); a crash loses the increments of about the last two of these intervals, which the
// reservations written ahead of the deliveries make up for (reservation.ts: a kill counts as one more delivery).
const PROGRESS_FLUSH_MS = 20;
// ...but a burst of acks is written at once rather than held in memory.
const PROGRESS_FLUSH_ROWS = 2048;
// Acks waiting for the writer beyond this make durable streams pause: a consumer that acks faster than
// the disk can record it slows down to the disk instead of growing the broker's memory.
const MAX_PENDING_ACKS = 32_768;
// The status column is bookkeeping for people reading the table: each update rewrites a message row, so
// it runs in the background at a bounded rate instead of slowing consumers down, in small transactions: a
// publish that reaches the writer meanwhile waits for one, which must stay short (docs/internals.md).
const STATUS_FLUSH_MS = 12;
const STATUS_FLUSH_ROWS = 1024;

export class ProgressWriter {
  readonly #store: EventStore;
  readonly #source: ProgressSource;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #acks = new PendingAcks();
  #deadLetters: DeadLetterRecord[] = [];
  readonly #processed = new SeqRuns();
  #dead: number[] = [];
  readonly #touched = new Set<Stream>();
  /** The partition positions last written, by `consumer partition`: only those that moved are written again. */
  readonly #floorsWritten = new Map<string, number>();
  /** Bumped when partitions are taken: a batch taken before says nothing of the positions they were taken at. */
  #floorsTakenAt = 0;
  /** Durable streams that want a reservation written. */
  readonly #reserving = new Set<Stream>();
  /** Durable streams with deliveries whose attempt count is not in the store yet. */
  readonly #countsUnsaved = new Set<Stream>();
  /** Durable streams that paused because too many acks were waiting for the writer. */
  readonly #waitingForWriter = new Set<Stream>();
  #progressWriting = false;
  /** flush() was called while a write was in progress. */
  #flushWanted = false;
  #flushTimer: NodeJS.Timeout | undefined;
  #flushImmediate: NodeJS.Immediate | undefined;
  readonly #statusTimer: NodeJS.Timeout;
  #statusWrite: Promise<void> | undefined;

  constructor(store: EventStore, source: ProgressSource, now: () => number, logger: Logger) {
    this.#store = store;
    this.#source = source;
    this.#now = now;
    this.#log = logger;
    this.#statusTimer = setInterval(() => void this.#writeStatuses(STATUS_FLUSH_ROWS), STATUS_FLUSH_MS).unref();
  }

  /**
   * `sentAt`: when the delivery acked was sent; `at`: when it was acked. `processed`: every durable consumer
   * whose patterns match the message is done with it (its status).
   */
  acked(stream: Stream, seq: number, delivery: number, sentAt: number, at: number, processed: boolean): void {
    this.#acks.push(stream.key, seq, delivery, at, sentAt);
    if (processed) this.#processed.push(seq);
    this.touch(stream);
  }

  deadLettered(stream: Stream, seq: number, message: StoredMessage, deliveries: number, reason: string): void {
    this.#deadLetters.push({ consumer: stream.key, message, reason, deliveries, at: this.#now() });
    this.#dead.push(seq);
    this.#log.warn('message dead-lettered', { consumer: stream.key, seq, topic: message.topic, reason });
    this.touch(stream);
  }

  /** The stream sent a delivery whose attempt count the store does not have yet. */
  countsChanged(stream: Stream): void {
    this.#countsUnsaved.add(stream);
    // The timer only, never a flush from inside a delivery.
    this.#flushTimer ??= setTimeout(() => this.flush(), PROGRESS_FLUSH_MS);
  }

  reservationWanted(stream: Stream): void {
    this.#reserving.add(stream);
    // In the next turn (never from inside a delivery), or right after the write under way: a stream asks half
    // a chunk ahead, and a timer's wait could outlast that at a high rate. One write per chunk of seqs.
    if (this.#progressWriting) {
      this.#flushWanted = true;
      return;
    }
    if (this.#flushImmediate !== undefined) return;
    this.#flushImmediate = setImmediate(() => {
      this.#flushImmediate = undefined;
      this.flush();
    });
  }

  /** True when durable streams should take no new message until the writer catches up. */
  isSaturated(stream: Stream): boolean {
    if (this.#acks.length < MAX_PENDING_ACKS) return false;
    this.#waitingForWriter.add(stream);
    return true;
  }

  /** The stream is gone (its consumer removed): nothing more of it is written. */
  forget(stream: Stream): void {
    this.#countsUnsaved.delete(stream);
    this.#reserving.delete(stream);
  }

  /**
   * Writes pending acks, dead letters, positions and delivery counts: now, or right after the write in
   * progress. `allCounts`: every unsaved count, however recent its delivery (when stopping).
   */
  flush(allCounts = false): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#progressWriting) {
      this.#flushWanted = true; // the write in progress flushes again when it is done
      return;
    }
    const positions = new Map<string, number>();
    const rewinds = new Map<string, number>();
    const floors: ProgressBatch['floors'][number][] = [];
    for (const stream of this.#touched) {
      // Positions go with the acks they rest on: written before them, a kill in between would skip messages
      // whose acks were never stored.
      if (stream.partitions === undefined) {
        const floor = stream.floors.takeChange(stream.floor());
        if (floor !== undefined) positions.set(stream.key, floor);
      } else {
        for (const [partition, floor] of stream.partitions.heldFloors(stream.floor())) {
          if (this.#floorsWritten.get(`${stream.key} ${partition}`) !== floor) floors.push({ consumer: stream.key, partition, floor });
        }
      }
      const rewound = stream.floors.takeRewind();
      if (rewound !== undefined) rewinds.set(stream.key, rewound);
    }
    this.#touched.clear();
    const deliveryCounts = this.#takeDeliveryCounts(allCounts ? Infinity : this.#now() - PROGRESS_FLUSH_MS);
    const reserved: [Stream, Reservation][] = [];
    const reservations = new Map<string, number>();
    const partitionReservations: ProgressBatch['partitionReservations'][number][] = [];
    for (const stream of this.#reserving) {
      const r = stream.reservation.take();
      if (r === undefined) continue;
      reserved.push([stream, r]);
      if (r.partitions === undefined) reservations.set(stream.key, r.upTo);
      else for (const partition of r.partitions) partitionReservations.push({ consumer: stream.key, partition, upTo: r.upTo });
    }
    this.#reserving.clear();
    if (this.#acks.length + this.#deadLetters.length + positions.size + rewinds.size + deliveryCounts.length + floors.length + reserved.length === 0) {
      if (this.#countsUnsaved.size > 0) this.#scheduleFlush();
      return;
    }
    const batch: ProgressBatch = {
      acks: this.#acks.take(),
      deadLetters: this.#deadLetters,
      positions,
      dead: this.#dead,
      rewinds,
      deliveryCounts,
      floors,
      reservations,
      partitionReservations,
    };
    this.#deadLetters = [];
    this.#dead = [];
    this.#progressWriting = true;
    const takenAt = this.#floorsTakenAt;
    void this.#store
      .recordProgress(batch)
      .map(() => {
        // Partitions taken while this was written may hold other positions now: their floors go again.
        if (takenAt === this.#floorsTakenAt) for (const f of floors) this.#floorsWritten.set(`${f.consumer} ${f.partition}`, f.floor);
        for (const [key, seq] of rewinds) this.#source.durable(key)?.floors.rewindWritten(seq);
        for (const [stream, r] of reserved) stream.reservation.written(r);
      })
      .mapErr((e) => {
        for (const [stream, r] of reserved) {
          stream.reservation.failed(r);
          if (!stream.isClosed) this.#reserving.add(stream);
        }
        // Positions stay where they were on disk: after a restart these messages are delivered again.
        this.#log.error('could not record acks; they will be redelivered after a restart', { reason: e.message });
      })
      .then(() => {
        this.#progressWriting = false;
        // Only a flush asked for meanwhile runs now; acks that merely arrived wait for their timer, so that
        // a steady stream of acks costs one transaction (one fsync) per PROGRESS_FLUSH_MS, not one per write.
        if (this.#flushWanted) {
          this.#flushWanted = false;
          this.flush();
        } else if (this.#acks.length > 0 || this.#touched.size > 0 || this.#countsUnsaved.size > 0 || this.#reserving.size > 0) {
          this.#scheduleFlush();
        }
        if (this.#acks.length < MAX_PENDING_ACKS) {
          const waiting = [...this.#waitingForWriter];
          this.#waitingForWriter.clear();
          for (const stream of waiting) stream.kick();
        }
      });
  }

  /** Resolves when every ack and delivery count taken so far is written. */
  async drain(): Promise<void> {
    this.flush(true);
    while (this.#progressWriting || this.#acks.length > 0 || this.#countsUnsaved.size > 0) {
      await new Promise((resolve) => setImmediate(resolve));
      this.flush(true);
    }
  }

  /**
   * Resolves once everything resolved so far is written (acks, dead letters, every attempt count), without
   * waiting for what comes in meanwhile: before a partition is given to another broker.
   */
  async settled(): Promise<void> {
    const turn = (): Promise<unknown> => new Promise((resolve) => setImmediate(resolve));
    while (this.#progressWriting) await turn();
    this.flush(true);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- flush() starts a write
    while (this.#progressWriting) await turn();
  }

  /**
   * Partitions of `stream` just taken, at the positions the store holds for them: what this broker wrote for
   * them before says nothing of those (a rewind sets every partition's position back), so the next floor of
   * each is written whatever it is.
   */
  partitionsTaken(stream: Stream, partitions: Iterable<number>): void {
    for (const p of partitions) this.#floorsWritten.delete(`${stream.key} ${p}`);
    this.#floorsTakenAt++;
  }

  /** The stream's position may have moved (an ack, a dead letter, a rewind): written with the next batch. */
  touch(stream: Stream): void {
    this.#touched.add(stream);
    this.#scheduleFlush();
  }

  /** Once nothing more is delivered: writes everything, clears the reservations it may, and the last statuses. */
  async close(): Promise<void> {
    clearInterval(this.#statusTimer);
    await this.drain();
    clearImmediate(this.#flushImmediate);
    this.#flushImmediate = undefined;
    await this.#clearReservations();
    await this.#statusWrite;
    await this.#writeStatuses(Infinity);
  }

  /**
   * On a clean stop, once nothing more is delivered and every attempt count is written: the reservations of
   * the consumers not shared go, so that the next start counts nothing again. (Shared, leaving the cluster gives
   * the partitions up, which clears theirs.)
   */
  async #clearReservations(): Promise<void> {
    const reservations = new Map<string, number>();
    for (const stream of this.#source.durableStreams()) if (stream.partitions === undefined && stream.reservationClearable) reservations.set(stream.key, 0);
    if (reservations.size === 0) return;
    const empty = { acks: new PendingAcks().take(), deadLetters: [], positions: new Map(), dead: [], rewinds: new Map(), deliveryCounts: [], floors: [] };
    await this.#store.recordProgress({ ...empty, reservations, partitionReservations: [] }).mapErr((e) => {
      this.#log.warn('could not clear the delivery reservations; the next start counts those deliveries once more', { reason: e.message });
    });
  }

  /** The delivery counts to write, of deliveries sent at or before `sentBy`. */
  #takeDeliveryCounts(sentBy: number): DeliveryCounts[] {
    const out: DeliveryCounts[] = [];
    for (const stream of this.#countsUnsaved) {
      const seqs: number[] = [];
      const deliveries: number[] = [];
      if (!stream.takeDeliveryCounts(sentBy, seqs, deliveries)) this.#countsUnsaved.delete(stream);
      if (seqs.length > 0) out.push({ consumer: stream.key, seqs, deliveries });
    }
    return out;
  }

  #scheduleFlush(): void {
    if (this.#acks.length >= PROGRESS_FLUSH_ROWS) {
      this.flush();
      return;
    }
    this.#flushTimer ??= setTimeout(() => this.flush(), PROGRESS_FLUSH_MS);
  }

  /**
   * One status write at a time: ticks that come while one is on its way skip, rather than pile up. A write
   * that fails loses those statuses (bookkeeping for people reading the table; the acks are kept).
   */
  async #writeStatuses(maxRows: number): Promise<void> {
    if (this.#statusWrite !== undefined || this.#processed.size === 0) return;
    const runs = this.#processed.take(maxRows);
    this.#statusWrite = this.#store
      .markProcessed(runs)
      .match(
        () => undefined,
        (e) => this.#log.warn('could not mark messages processed; their status stays pending', { reason: e.message, runs: runs.length }),
      );
    try {
      await this.#statusWrite;
    } finally {
      this.#statusWrite = undefined;
    }
  }
}
