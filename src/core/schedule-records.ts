// Messages in time (PROTOCOL.md §11) as the store keeps them, one row each in `schedules`, and the port the
// scheduler reaches them through. A delayed message is a schedule of kind `once`, removed once appended; a
// recurring one (`cron`, `every`) stays and moves its next_at along.
import type { ResultAsync } from 'neverthrow';
import type { BrokerError } from '../errors.js';

/** As store-port.ts's StorageError, which re-exports these types. */
type StorageError = BrokerError<'UNAVAILABLE'>;

export type ScheduleKind = 'once' | 'cron' | 'every';

export interface ScheduleRecord {
  readonly id: string;
  readonly kind: ScheduleKind;
  readonly topic: string;
  readonly payload: string;
  /** The stored metadata without the broker's timestamp (content_type first), as a publish would store it. */
  readonly metadata: string;
  readonly ttlSeconds: number;
  readonly orderingKey: string | null;
  /** A delayed message's message_id when it fires: the publisher's, or one made from the schedule. */
  readonly messageId: string | null;
  readonly cron: string | null;
  readonly everyMs: number | null;
  /** An IANA time zone name; cron fields are read in it. */
  readonly timezone: string;
  readonly startAt: number | null;
  readonly endAt: number | null;
  /** The next fire time (ms); null when there is none. */
  readonly nextAt: number | null;
  readonly lastAt: number | null;
  readonly fires: number;
  /** Fire times that passed while no broker ran, and were not fired one by one. */
  readonly missed: number;
  readonly paused: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What adding a delayed message did: stored, or a schedule with its message_id was waiting already. */
export interface ScheduleAdded {
  readonly id: string;
  readonly nextAt: number;
  readonly duplicate: boolean;
}

/**
 * A fire, taken in the transaction that appends its message (EventStore.append), and only if the row still has
 * the `nextAt` it was read with: no other broker took it first, and it was not removed or paused since. A
 * delayed message's row (kind once) is removed; a recurring one moves on to `next` (null: past its end) with
 * its fire counted (last_at, fires, missed).
 */
export interface ScheduleClaim {
  readonly id: string;
  readonly kind: ScheduleKind;
  /** next_at as read. */
  readonly nextAt: number;
  /** The fire time the message is appended for. */
  readonly firingAt: number;
  readonly next: number | null;
  /** Fire times skipped (missed while down) besides the one fired. */
  readonly missed: number;
  readonly at: number;
}

export interface ScheduleListing {
  readonly kind?: ScheduleKind | undefined;
  /** Ids from this one on, by id. */
  readonly from?: string | undefined;
  readonly limit: number;
}

export interface ScheduleStore {
  /**
   * Stores delayed messages, all or none. One whose message_id a waiting schedule holds already is not stored
   * again: its answer is that schedule, `duplicate`.
   */
  add(rows: readonly ScheduleRecord[]): ResultAsync<ScheduleAdded[], StorageError>;
  /** Creates or replaces a recurring schedule by id (its counts start again). */
  put(record: ScheduleRecord): ResultAsync<void, StorageError>;
  get(id: string): ResultAsync<ScheduleRecord | undefined, StorageError>;
  list(listing: ScheduleListing): ResultAsync<ScheduleRecord[], StorageError>;
  /** Removes them; how many there were. */
  remove(ids: readonly string[]): ResultAsync<number, StorageError>;
  /** Pauses or resumes one, with the next fire time from now on; undefined when there is none. */
  setPaused(id: string, paused: boolean, nextAt: number | null, at: number): ResultAsync<ScheduleRecord | undefined, StorageError>;
  /** Up to `limit` schedules not paused whose next_at is at or before `dueBy`, by next_at. */
  due(dueBy: number, limit: number): ResultAsync<ScheduleRecord[], StorageError>;
  /** The earliest next_at of the schedules not paused, or null. */
  nextDue(): ResultAsync<number | null, StorageError>;
  /** Schedules with a fire to come (delayed messages waiting, recurring ones not past their end). */
  pending(): ResultAsync<number, StorageError>;
}
