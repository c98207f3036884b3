// The one narrow interface the core uses to reach storage. SQLite implements it today (sqlite-store.ts);
// a PostgreSQL implementation, for several brokers sharing one database, can follow behind the same shape,
// which is why everything that may touch the disk returns a promise.
import type { ResultAsync } from 'neverthrow';
import type { BrokerError } from '../errors.js';
import type { SeqRun } from '../core/seq-runs.js';
import type { DeliveryFailure, StoredMessage } from '../core/types.js';

export type { DeliveryFailure };

/** One message to append; the core has already validated it and built its metadata. */
export interface AppendRow {
  readonly topic: string;
  readonly payload: string;
  readonly messageId: string | null;
  readonly metadata: string;
  readonly ttlSeconds: number;
  readonly orderingKey: string | null;
  readonly createdAt: number;
}

export interface Appended {
  readonly seq: number;
  /** The row's messageId was already stored: nothing was written and `seq` is the original's. */
  readonly duplicate: boolean;
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
  readonly createdAt: number;
  readonly updatedAt: number;
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
}

export interface MessageHeader {
  readonly seq: number;
  readonly topic: string;
  readonly createdAt: number;
}

export type StorageError = BrokerError<'UNAVAILABLE'>;

export interface EventStore {
  /** Appends the rows, in order, in one durable transaction: all are stored or none. */
  append(rows: readonly AppendRow[]): ResultAsync<Appended[], StorageError>;
  /** The highest seq ever assigned (0 for a new log); never goes down, even when rows are deleted. */
  lastSeq(): number;
  /**
   * Why the last write failed, as long as no write has succeeded since (the store keeps trying on its own);
   * undefined while the store can be written.
   */
  writeFailure(): StorageError | undefined;
  /** Up to `limit` messages with seq >= fromSeq, in seq order; only `topic`'s when given. */
  read(fromSeq: number, limit: number, topic?: string): Promise<StoredMessage[]>;
  /** The first seq committed at or after `timeMs`, or lastSeq() + 1 when there is none. */
  seqAtTime(timeMs: number): Promise<number>;

  listConsumers(): Promise<ConsumerRecord[]>;
  saveConsumer(record: ConsumerRecord): Promise<void>;
  deleteConsumer(id: string): Promise<void>;
  /** Seqs above `afterSeq` that `consumer` acked at or after `sinceMs` (out-of-order acks above its floor). */
  processedAbove(consumer: string, afterSeq: number, sinceMs: number): Promise<number[]>;
  /** The stored delivery counts of `consumer` above `afterSeq`: seq → attempts so far. */
  deliveryCounts(consumer: string, afterSeq: number): Promise<Map<number, number>>;
  recordProgress(batch: ProgressBatch): ResultAsync<void, StorageError>;
  /** Marks messages processed; a message already dead stays dead. */
  markProcessed(runs: readonly SeqRun[]): Promise<void>;
  /** Dead letters of `consumer` since `sinceMs` (a consumer created again does not inherit the old count). */
  deadLetterCount(consumer: string, sinceMs: number): Promise<number>;
  recordFailures(failures: readonly DeliveryFailure[]): Promise<void>;

  /** Message counts per topic, for stats and count-based retention. */
  topicCounts(): Promise<Map<string, number>>;
  /** Deletes up to `limit` messages whose TTL has passed at `nowMs`; returns their topics. */
  deleteExpired(nowMs: number, limit: number): Promise<string[]>;
  /** Oldest-first headers after `afterSeq`, for the age and count rules. */
  readHeaders(afterSeq: number, limit: number): Promise<MessageHeader[]>;
  deleteSeqs(seqs: readonly number[]): Promise<void>;
  /**
   * Deletes up to `limit` acks that no longer matter: of messages the log no longer holds, at or below their
   * consumer's position, and of consumers that were removed; returns how many.
   */
  pruneProcessed(limit: number): Promise<number>;
  /** Deletes up to `limit` delivery_failures rows recorded before `beforeMs`, oldest first; returns how many. */
  pruneFailures(beforeMs: number, limit: number): Promise<number>;

  /** Finishes queued writes, then closes. */
  close(): Promise<void>;
}
