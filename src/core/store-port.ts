// The storage port: the one narrow interface the core reaches storage through, and the records that cross
// it. The core owns it as it owns Sink; src/store/sqlite/ and src/store/postgres/ implement it and take
// nothing else from the core but types. Everything that may touch the disk is asynchronous, so that a store
// over the network fits the same shape.
import type { ResultAsync } from 'neverthrow';
import type { BrokerError } from '../errors.js';
import type { PushFormat } from '../protocol/push-format.js';
import type { AuditEntry, AuditRow, CredentialRecord, CredentialStore } from './credential-records.js';
import type { ScheduleAdded, ScheduleClaim, ScheduleKind, ScheduleListing, ScheduleRecord, ScheduleStore } from './schedule-records.js';
import type { SeqRun } from './seq-runs.js';
import type { DeliveryFailure, MessageStatus, StoredMessage } from './types.js';

// Re-exported: a store takes every type it needs from the port alone (test/architecture.test.ts).
export type { AuditEntry, AuditRow, CredentialRecord, CredentialStore, DeliveryFailure, MessageStatus, ScheduleAdded, ScheduleClaim, ScheduleKind, ScheduleListing, ScheduleRecord, ScheduleStore, SeqRun, StoredMessage };

/** A consumer's last failed push attempt: when, and what went wrong. */
export interface LastFailure {
  readonly at: number;
  readonly error: string;
}

/** One message to append; the core has already validated it and built its metadata. */
export type AppendRow = Omit<StoredMessage, 'seq'>;

/**
 * A StoredMessage as the store and the committer make them, one per message read or committed. A class
 * rather than an object literal, as are the other objects made per delivery: V8 may pretenure a literal's
 * allocation site once its objects tend to outlive a young-generation GC, and an old-generation object, even
 * dead, keeps the young objects it points to alive until the next full GC, so every message would be copied
 * into the old generation.
 */
export class LogMessage implements StoredMessage {
  constructor(
    public seq: number,
    readonly messageId: string | null,
    readonly topic: string,
    readonly payload: string,
    readonly metadata: string,
    readonly ttlSeconds: number,
    readonly orderingKey: string | null,
    readonly createdAt: number,
    readonly status: MessageStatus = 'pending',
  ) {}
}

export interface Appended {
  readonly seq: number;
  /**
   * Nothing was written: the row's messageId was already stored (`seq` is the original's), or the row was a
   * schedule's fire whose claim did not hold (`seq` 0).
   */
  readonly duplicate: boolean;
}

/**
 * How the group commit feeds a store's appends (committer.ts). A store whose appends run on a thread of
 * their own gains from two in flight, the next group gathered while one commits; a store whose appends
 * queue on one lock anyway gains more from fewer, larger groups.
 */
export interface CommitGrouping {
  /** Appends handed to the store at once. */
  readonly inFlight: number;
  /**
   * With nothing in flight, this many rows waiting are handed over at once, before the event loop's turn ends:
   * the store commits them while the rest of a burst of publishes is still being read.
   */
  readonly eagerRows: number;
}

export interface ConsumerRecord {
  readonly id: string;
  readonly address: string | null;
  readonly patterns: readonly string[];
  /** Ack floor: every matching message with seq <= position is acked or dead-lettered. */
  readonly position: number;
  /** JSON text of the content filter, or null. */
  readonly filter: string | null;
  readonly rewoundAt: number;
  /** Nothing is delivered to it while paused (PAUSE); its position is kept. */
  readonly paused: boolean;
  /** When `paused` last changed; never goes back, so an older view of the record does not undo a newer change. */
  readonly pauseChangedAt: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** A leased consumer (PUT with lease_ms): removed once this time (ms) passes unrenewed; null: kept for good. */
  readonly expiresAt: number | null;
  /** Redelivery backoff (PROTOCOL.md §11): the k-th redelivery of a message waits the k-th (or the last) of these ms; null: at once. */
  readonly backoffMs: readonly number[] | null;
  /** What its http(s) pushes carry (PROTOCOL.md §13); null: the default, the JSON body of §4. */
  readonly format: PushFormat | null;
  /** Its own ack timeout (ms); null: EVENTBUS_ACK_TIMEOUT_MS. */
  readonly ackTimeoutMs: number | null;
  /** Its own deliveries of a message before it is dead-lettered; null: EVENTBUS_MAX_DELIVERIES. */
  readonly maxDeliveries: number | null;
  /** Its own unacked deliveries per member (subscription, pull member, push address); null: EVENTBUS_MAX_IN_FLIGHT. */
  readonly maxInFlight: number | null;
}

/**
 * Acks as columns, one entry per ack across the typed arrays: they cross to the writer thread thousands at a
 * time, and a few typed arrays clone far cheaper than one object per ack. Ack i is by consumers[consumerOf[i]].
 */
export interface AckColumns {
  /** The distinct consumers of the batch. */
  readonly consumers: readonly string[];
  readonly consumerOf: Uint32Array;
  readonly seqs: Float64Array;
  readonly deliveries: Uint32Array;
  readonly ats: Float64Array;
  /**
   * When each acked delivery was sent. One sent before the consumer's last rewind (rewoundAt) does not count:
   * the rewind sends the message again, and a broker that had not heard of the rewind yet (another broker's,
   * on a shared store) may still pass on the ack of the copy from before it.
   */
  readonly sentAts: Float64Array;
}

export interface DeadLetterRecord {
  readonly consumer: string;
  readonly message: StoredMessage;
  readonly reason: string;
  readonly deliveries: number;
  readonly at: number;
}

/** Deliveries of one consumer still unacked, with the attempts made so far (seqs[i] has had deliveries[i]). */
export interface DeliveryCounts {
  readonly consumer: string;
  readonly seqs: readonly number[];
  readonly deliveries: readonly number[];
}

/** What a consumer's stream has done since the last flush; written in one transaction. */
export interface ProgressBatch {
  readonly acks: AckColumns;
  readonly deadLetters: readonly DeadLetterRecord[];
  /** New positions; the stored delivery counts at or below a consumer's position are dropped with it. */
  readonly positions: ReadonlyMap<string, number>;
  /** Messages some consumer dead-lettered. */
  readonly dead: readonly number[];
  /** Consumers rewound since the last batch, and to which seq: their stored counts from there on are void. */
  readonly rewinds: ReadonlyMap<string, number>;
  /** Applied after the rewinds: the attempts so far of deliveries still unacked. */
  readonly deliveryCounts: readonly DeliveryCounts[];
  /**
   * Consumers shared by several brokers: the positions of the partitions this broker holds (every message
   * of the partition up to `floor` is done), written with the acks they rest on, and only under the lease.
   */
  readonly floors: readonly (PartitionRef & { readonly floor: number })[];
  /**
   * Consumers not shared (one broker on the store): the seq each may deliver up to from now on, written before
   * it delivers past the one stored (a reservation, taken a chunk of seqs at a time); 0 once it stopped cleanly.
   */
  readonly reservations: ReadonlyMap<string, number>;
  /** Consumers shared by several brokers: the same per partition held, written only under the lease, never lowered. */
  readonly partitionReservations: readonly (PartitionRef & { readonly upTo: number })[];
}

/** A dead letter as listed: the copy of the message kept with it, and why it was given up. */
export interface DeadLetterRow {
  readonly seq: number;
  readonly topic: string;
  readonly payload: string;
  /** JSON text, as the message's. */
  readonly metadata: string;
  readonly reason: string;
  readonly deliveries: number;
  readonly deadAt: number;
}

/** A message as the log holds it, with the status column people read (PROTOCOL.md §6). */
export interface MessageRecord extends StoredMessage {
  readonly status: MessageStatus;
}

/** A change made through another broker that must apply here at once, not a heartbeat later. */
export type ConsumerSignal =
  | { readonly kind: 'paused'; readonly consumer: string; readonly paused: boolean; readonly changedAt: number }
  | { readonly kind: 'requeued'; readonly consumer: string }
  // Not a consumer's: a credential was made, changed, rotated or removed (PROTOCOL.md §12).
  | { readonly kind: 'credentials' }
  // Not a consumer's: retention removed messages with seqs from `first` to `last` (some of them, maybe not all).
  | { readonly kind: 'removed'; readonly first: number; readonly last: number };

/** Which dead letters an operation takes: the consumer's since `sinceMs` (its creation), all or only `seqs`. */
export interface DeadLetterSelection {
  readonly consumer: string;
  readonly sinceMs: number;
  /** Absent: all of them. */
  readonly seqs?: readonly number[] | undefined;
}

export interface MessageHeader {
  readonly seq: number;
  readonly topic: string;
  readonly createdAt: number;
}

/** A message by its seq, with its topic. */
export type MessageRef = Pick<MessageHeader, 'seq' | 'topic'>;

/** What a consumer's report asks of the store besides the count of its matching messages (core/lag.ts). */
export interface TallyQuery {
  readonly consumer: string;
  /** Its position, and the head its lag is counted up to. */
  readonly afterSeq: number;
  readonly toSeq: number;
  /** Its last rewind: acks and dead letters from before it no longer count. */
  readonly rewoundAt: number;
  /** Its creation: the dead letters of an earlier consumer of that name are not its. */
  readonly sinceMs: number;
}

export interface ConsumerTally {
  /** The messages in (afterSeq, toSeq] it acked or dead-lettered after rewoundAt that the log holds, each once, in seq order. */
  readonly resolved: readonly MessageRef[];
  /** Its requeued dead letters not yet acked or dead-lettered again that the log holds, in seq order. */
  readonly requeued: readonly MessageRef[];
  /** Its dead letters since sinceMs. */
  readonly deadLetters: number;
}

/** A storage failure a user can meet (disk full, read-only, locked): UNAVAILABLE for the client. */
export type StorageError = BrokerError<'UNAVAILABLE'>;

/** One ack, as processed_messages keeps it. */
export interface AckRecord {
  readonly consumer: string;
  readonly seq: number;
  readonly delivery: number;
  readonly at: number;
}

/** How a transactional consume of one delivery ended (see EventStore.transactAck). */
export type TransactOutcome =
  | { readonly kind: 'done' }
  /** The consumer had processed this message already (since its last rewind): the work did not run. */
  | { readonly kind: 'already-processed' }
  /** The work threw: everything it did was rolled back, and the ack was not recorded. */
  | { readonly kind: 'failed'; readonly error: unknown };

/** A partition of a durable consumer, as the lease table keys it. */
export interface PartitionRef {
  readonly consumer: string;
  readonly partition: number;
}

/** One broker's heartbeat: what it holds and wants; answered with what the database says after it. */
export interface Heartbeat {
  /** How long the leases taken or renewed now last without another heartbeat. */
  readonly ttlMs: number;
  /** Partitions per durable consumer. */
  readonly partitions: number;
  /** Brokers silent for longer than this are dropped from the list of nodes. */
  readonly nodeTimeoutMs: number;
  /** The durable consumers with members on this broker, and how many. */
  readonly members: readonly { readonly consumer: string; readonly members: number; readonly inFlight: number }[];
  /**
   * Partitions it gives up (their acks, positions and attempt counts are written already). Their reservations
   * are cleared, but where `keep` says a crash's range is not read through yet: whoever takes it counts that again.
   */
  readonly release: readonly (PartitionRef & { readonly keep?: boolean })[];
  /** Partitions it would take, where free or expired. */
  readonly want: readonly PartitionRef[];
  /** Named leases it would hold (a push consumer's delivery, a background job); the ones it holds are renewed. */
  readonly leases: readonly string[];
  /**
   * Consumers whose members here came or went, or whose partitions this beat gives up: the other brokers are
   * told at commit (ClusterPort.onAnnounce), so that their share is handed over, or taken, without waiting
   * for their next beat.
   */
  readonly announce: readonly string[];
}

export interface ConsumerMembers {
  readonly node: string;
  readonly members: number;
  readonly inFlight: number;
}

export interface ClusterView {
  /** Every durable consumer, as the database holds it now. */
  readonly consumers: readonly ConsumerRecord[];
  /** The partitions this broker holds after the heartbeat, with their recorded positions: consumer → partition → position. */
  readonly held: ReadonlyMap<string, ReadonlyMap<number, number>>;
  /**
   * The reservation of each partition held (consumer → partition → seq): above its position, a broker that
   * held it stopped without giving it up, and may have delivered its messages up to there.
   */
  readonly reserved: ReadonlyMap<string, ReadonlyMap<number, number>>;
  /** Per durable consumer, the brokers with members of it, by node name. */
  readonly members: ReadonlyMap<string, readonly ConsumerMembers[]>;
  /** The named leases this broker holds. */
  readonly leases: ReadonlySet<string>;
  /** The brokers alive on the database, with when each was last heard of. */
  readonly nodes: readonly { readonly node: string; readonly lastSeen: number }[];
}

/** How brokers that share a store share its durable consumers and jobs (cluster.ts); a store with one broker has none. */
export interface ClusterPort {
  /** This broker's name in the lease tables: unique to the process. */
  readonly node: string;
  heartbeat(beat: Heartbeat): ResultAsync<ClusterView, StorageError>;
  /**
   * Calls `listener` when another broker's heartbeat announced consumers (Heartbeat.announce), once it
   * committed; with undefined when it did not say which.
   */
  onAnnounce(listener: (consumers: readonly string[] | undefined) => void): void;
}

/**
 * Every call that can fail returns a ResultAsync of StorageError: a storage failure a user can cause is an
 * Err; anything else (a bug) is thrown, never turned into UNAVAILABLE. `Tx` is what a transactional
 * consumer's work receives: the SQLite store hands it its connection.
 */
export interface EventStore<Tx = unknown> {
  /** Present when other brokers may share this store. */
  readonly cluster?: ClusterPort | undefined;
  readonly grouping: CommitGrouping;
  /** Delayed messages and recurring schedules (PROTOCOL.md §11). */
  readonly schedules: ScheduleStore;
  /** Credentials and the audit log (PROTOCOL.md §12). */
  readonly credentials: CredentialStore;
  /**
   * Appends the rows, in order, in one durable transaction: all are stored or none. A row with a claim (at its
   * index in `claims`) is a schedule's fire, appended only if the claim holds, in the same transaction: a fire
   * is appended exactly when its schedule moves on.
   */
  append(rows: readonly AppendRow[], claims?: readonly (ScheduleClaim | undefined)[]): ResultAsync<Appended[], StorageError>;
  /** The highest seq ever assigned (0 for a new log); never goes down, even when rows are deleted. */
  lastSeq(): number;
  /**
   * Calls `listener` whenever the log has grown past lastSeq() by appends this store did not make (other
   * brokers sharing the database); lastSeq() says so by then. A store that is its log's only writer never does.
   */
  onExternalAppend(listener: (lastSeq: number) => void): void;
  /**
   * Why the last write failed, as long as no write has succeeded since (the store keeps trying on its own);
   * undefined while the store can be written.
   */
  writeFailure(): StorageError | undefined;
  /**
   * Up to `limit` messages with seq >= fromSeq, in seq order; only `topic`'s when given. Without their status
   * (each says `pending`): readRecords() reads it.
   */
  read(fromSeq: number, limit: number, topic?: string): ResultAsync<StoredMessage[], StorageError>;
  /** The first seq committed at or after `timeMs`, or lastSeq() + 1 when there is none. */
  seqAtTime(timeMs: number): ResultAsync<number, StorageError>;

  listConsumers(): ResultAsync<ConsumerRecord[], StorageError>;
  saveConsumer(record: ConsumerRecord): ResultAsync<void, StorageError>;
  /**
   * Stores a new consumer unless one of that id is stored already (another broker made it a moment ago);
   * returns the one stored.
   */
  createConsumer(record: ConsumerRecord): ResultAsync<ConsumerRecord, StorageError>;
  /** Removes the consumer and what is kept for it alone (its delivery counts). */
  deleteConsumer(id: string): ResultAsync<void, StorageError>;
  /** As deleteConsumer, if its lease has lapsed by `nowMs` as the store has it; true when it was removed. */
  deleteLapsedConsumer(id: string, nowMs: number): ResultAsync<boolean, StorageError>;
  /**
   * Seqs above `afterSeq` that `consumer` acked or dead-lettered after `sinceMs` (resolved out of order,
   * above its floor).
   */
  processedAbove(consumer: string, afterSeq: number, sinceMs: number): ResultAsync<number[], StorageError>;
  /**
   * The seq up to which `consumer` may have been sent messages since the broker last stopped cleanly (its
   * reservation; 0 after a clean stop). A shared store keeps it per partition (ClusterView.reserved) and answers 0.
   */
  reservation(consumer: string): ResultAsync<number, StorageError>;
  /** The stored delivery counts of `consumer` above `afterSeq`: seq → attempts so far. */
  deliveryCounts(consumer: string, afterSeq: number): ResultAsync<Map<number, number>, StorageError>;
  /** Takes the batch's ack columns over: the caller reads them no more (a store may hand their buffers to a thread). */
  recordProgress(batch: ProgressBatch): ResultAsync<void, StorageError>;
  /** Marks messages processed; a message already dead stays dead. */
  markProcessed(runs: readonly SeqRun[]): ResultAsync<void, StorageError>;
  /** Up to `limit` dead letters of `consumer` since `sinceMs` with seq >= fromSeq, in seq order. */
  listDeadLetters(consumer: string, sinceMs: number, fromSeq: number, limit: number): ResultAsync<DeadLetterRow[], StorageError>;
  /**
   * Takes the selected dead letters out of dead_letters and keeps them as requeued for the consumer (those
   * whose message the log still holds), in one transaction; a message dead nowhere else is pending again.
   * Returns how many dead letters left. Other brokers hear of it at once (a `requeued` signal).
   */
  requeueDeadLetters(selection: DeadLetterSelection, atMs: number): ResultAsync<number, StorageError>;
  /**
   * Deletes the selected dead letters; those above the consumer's position are recorded as processed by it,
   * so that they stay done after a restart. Returns how many were deleted.
   */
  deleteDeadLetters(selection: DeadLetterSelection, atMs: number): ResultAsync<number, StorageError>;
  /**
   * The messages requeued for `consumer` and not yet acked or dead-lettered again, that the log still holds,
   * in seq order. Acks and dead letters of a progress batch end them, as does a rewind to at or below them.
   */
  requeued(consumer: string): ResultAsync<StoredMessage[], StorageError>;
  /** Pauses or resumes the consumer, unless a later change is stored; other brokers hear of it at once. */
  setPaused(consumer: string, paused: boolean, changedAt: number): ResultAsync<void, StorageError>;
  /** Calls `listener` on each change another broker made to a consumer (ConsumerSignal); a store with one broker never does. */
  onConsumerSignal(listener: (signal: ConsumerSignal) => void): void;

  /** How many messages with afterSeq < seq <= toSeq the log holds of these topics. */
  countMessages(afterSeq: number, toSeq: number, topics: readonly string[]): ResultAsync<number, StorageError>;
  /** Each consumer's tally (ConsumerTally), in one read for them all; every consumer asked about is in the map. */
  consumerTallies(queries: readonly TallyQuery[]): ResultAsync<Map<string, ConsumerTally>, StorageError>;
  /** A message with its status, or undefined when the log does not hold that seq. */
  message(seq: number): ResultAsync<MessageRecord | undefined, StorageError>;
  /** Up to `limit` messages with seq >= fromSeq with their status, in seq order; only `topic`'s when given. */
  readRecords(fromSeq: number, limit: number, topic?: string): ResultAsync<MessageRecord[], StorageError>;
  /** The first and last seq the log holds of each topic given (a topic it holds none of is left out). */
  topicBounds(topics: readonly string[]): ResultAsync<Map<string, { first: number; last: number }>, StorageError>;
  recordFailures(failures: readonly DeliveryFailure[]): ResultAsync<void, StorageError>;
  /**
   * The last failed push attempt of each consumer given, recorded at or after its `sinceMs` (a consumer
   * removed and made again does not inherit the old one's); a consumer with none is left out. One statement
   * for them all, along the (consumer, failed_at) index.
   */
  lastFailures(consumers: readonly { readonly id: string; readonly sinceMs: number }[]): ResultAsync<Map<string, LastFailure>, StorageError>;
  /**
   * Runs `work` and records `ack` in one transaction: the work's writes and the consumer's progress commit
   * together or not at all. A message the consumer already processed (since its last rewind) is not worked
   * again. A store whose transactions can stay open across awaits (PostgreSQL) waits for a promise the work
   * returns; the SQLite store's work is synchronous.
   */
  transactAck(ack: AckRecord, work: (tx: Tx) => void | Promise<void>): ResultAsync<TransactOutcome, StorageError>;

  /** Message counts per topic, for stats and count-based retention. */
  topicCounts(): ResultAsync<Map<string, number>, StorageError>;
  /** Deletes up to `limit` messages whose TTL has passed at `nowMs`; returns their seqs and topics. */
  deleteExpired(nowMs: number, limit: number): ResultAsync<MessageRef[], StorageError>;
  /** Oldest-first headers after `afterSeq`, for the age and count rules. */
  readHeaders(afterSeq: number, limit: number): ResultAsync<MessageHeader[], StorageError>;
  /** Deletes the messages retention chose; other brokers hear of it at once (a `removed` signal), as of deleteExpired's. */
  deleteSeqs(seqs: readonly number[]): ResultAsync<void, StorageError>;
  /**
   * Deletes up to `limit` acks that no longer matter: of messages the log no longer holds, at or below their
   * consumer's position, and of consumers that were removed; returns how many.
   */
  pruneProcessed(limit: number): ResultAsync<number, StorageError>;
  /** Deletes up to `limit` delivery_failures rows recorded before `beforeMs`, oldest first; returns how many. */
  pruneFailures(beforeMs: number, limit: number): ResultAsync<number, StorageError>;

  /** Finishes queued writes, then closes; a failure on the way is logged, and the store is closed all the same. */
  close(): Promise<void>;
}
