// What the broker offers of messages in time (PROTOCOL.md §11): publishing for later, and recurring schedules
// made, read, paused, resumed and removed. Checks the input, stores it, and tells the scheduler when
// something new falls due sooner than it planned.
import { randomUUID } from 'node:crypto';
import { err, errAsync, ok, okAsync, type Result, type ResultAsync } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';
import type { PendingRow } from './committer.js';
import { toPendingRow, type PublishLimits } from './publish-input.js';
import { checkCron, knownTimeZone, MIN_EVERY_MS, nextFire } from './recurrence.js';
import type { ScheduleAdded, ScheduleKind, ScheduleRecord, ScheduleStore } from './schedule-records.js';
import type { Scheduler } from './scheduler.js';
import type { StorageError } from './store-port.js';
import type { PublishInput, PublishTime, Scheduled } from './types.js';
import { WriteGroups } from './write-groups.js';

export interface RecurringInput {
  readonly topic: string;
  readonly payload: string;
  readonly cron?: string | undefined;
  readonly everyMs?: number | undefined;
  readonly timezone?: string | undefined;
  readonly metadata?: Readonly<Record<string, unknown>> | undefined;
  readonly ttlSeconds?: number | undefined;
  readonly orderingKey?: string | undefined;
  readonly startAt?: number | string | undefined;
  readonly endAt?: number | string | undefined;
}

export type ScheduleError = BrokerError<'BAD_ARGS' | 'BAD_TOPIC' | 'TOO_LARGE' | 'UNAVAILABLE'>;

export interface SchedulesOptions extends PublishLimits {
  /** The furthest ahead a publish may be scheduled (EVENTBUS_MAX_DELAY), ms. */
  readonly maxDelayMs: number;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const MAX_LISTED = 1000;
// Delayed messages stored in one transaction at most: as the committer's limit, so that one large batch does not
// hold every other publisher back.
const MAX_ADDED_PER_WRITE = 4096;

/** A time given as ms since the epoch or ISO 8601 text, as a whole number of ms. */
export function timeOf(field: string, value: number | string): Result<number, BrokerError<'BAD_ARGS'>> {
  const ms = typeof value === 'string' ? Date.parse(value) : value;
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0) {
    return err(brokerError('BAD_ARGS', `${field} must be ms since the epoch or an ISO 8601 time, not ${JSON.stringify(value).slice(0, 64)}`));
  }
  return ok(ms);
}

export class Schedules {
  readonly #store: ScheduleStore;
  readonly #scheduler: Scheduler;
  readonly #options: SchedulesOptions;
  readonly #now: () => number;
  readonly #adds: WriteGroups<ScheduleRecord, ScheduleAdded, StorageError>;

  constructor(store: ScheduleStore, scheduler: Scheduler, options: SchedulesOptions, now: () => number) {
    this.#store = store;
    this.#scheduler = scheduler;
    this.#options = options;
    this.#now = now;
    this.#adds = new WriteGroups((records) => store.add(records), MAX_ADDED_PER_WRITE);
  }
  /** Schedules with a fire to come: delayed messages waiting, recurring schedules not past their end (the metrics). */
  pending(): ResultAsync<number, StorageError> {
    return this.#store.pending();
  }

  /** Calls `listener` for each message appended for a fire, with how many ms after its fire time (the metrics). */
  onFired(listener: (lateMs: number) => void): void {
    this.#scheduler.onFired(listener);
  }

  /**
   * When a publish with `time` is due: undefined for at once (no time given, or one not in the future),
   * BAD_ARGS for both fields, a negative delay, or beyond EVENTBUS_MAX_DELAY.
   */
  dueAt(time: PublishTime): Result<number | undefined, BrokerError<'BAD_ARGS'>> {
    const { deliverAt, delayMs } = time;
    if (deliverAt !== undefined && delayMs !== undefined) return err(brokerError('BAD_ARGS', 'give deliver_at or delay_ms, not both'));
    const now = this.#now();
    let at: number;
    if (delayMs !== undefined) {
      if (!Number.isSafeInteger(delayMs) || delayMs < 0) return err(brokerError('BAD_ARGS', 'delay_ms must be a whole number of ms, 0 or more'));
      at = now + delayMs;
    } else if (deliverAt !== undefined) {
      const parsed = timeOf('deliver_at', deliverAt);
      if (parsed.isErr()) return err(parsed.error);
      at = parsed.value;
    } else return ok(undefined);
    if (at - now > this.#options.maxDelayMs) {
      return err(brokerError('BAD_ARGS', `that is ${Math.ceil((at - now) / 1000)} s ahead; EVENTBUS_MAX_DELAY allows ${Math.floor(this.#options.maxDelayMs / 1000)} s`));
    }
    return ok(at > now ? at : undefined);
  }

  /** Stores the messages to be appended at their times (all or none); `rows` already checked. */
  later(rows: readonly { row: PendingRow; at: number }[]): ResultAsync<Scheduled[], StorageError> {
    const now = this.#now();
    const records = rows.map(({ row, at }): ScheduleRecord => {
      const id = randomUUID();
      return {
        ...recordBase(id, 'once', row, now),
        messageId: row.messageId ?? `schedule:${id}:${at}`,
        nextAt: at,
      };
    });
    return this.#adds.write(records).map((added) => {
      const soonest = Math.min(...added.map((a) => a.nextAt));
      this.#scheduler.added(soonest);
      return added.map((a, i) => ({ scheduleId: a.id, deliverAt: a.nextAt, messageId: rows[i]!.row.messageId, duplicate: a.duplicate }));
    });
  }

  /** Creates or replaces the recurring schedule `id`. */
  put(id: string, input: RecurringInput): ResultAsync<ScheduleRecord, ScheduleError> {
    const record = this.#recurring(id, input);
    if (record.isErr()) return errAsync(record.error);
    return this.#store.put(record.value).map(() => {
      if (record.value.nextAt !== null) this.#scheduler.added(record.value.nextAt);
      return record.value;
    });
  }

  get(id: string): ResultAsync<ScheduleRecord, BrokerError<'UNKNOWN_SCHEDULE' | 'UNAVAILABLE'>> {
    return this.#store.get(id).andThen((s) => (s === undefined ? errAsync(unknown(id)) : okAsync(s)));
  }

  /** A page of schedules by id, from `from` on, and the id the next page starts at (null at the end); of one kind when given. */
  list(kind: ScheduleKind | undefined, from: string | undefined, limit: number): ResultAsync<{ schedules: ScheduleRecord[]; next: string | null }, BrokerError<'BAD_ARGS' | 'UNAVAILABLE'>> {
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LISTED) return errAsync(brokerError('BAD_ARGS', `limit must be a whole number from 1 to ${MAX_LISTED}`));
    return this.#store.list({ kind, from, limit: limit + 1 }).map((rows) => ({ schedules: rows.slice(0, limit), next: rows[limit]?.id ?? null }));
  }

  /** Cancels it: a delayed message not yet due is never appended, a recurring schedule fires no more. */
  remove(id: string): ResultAsync<void, BrokerError<'UNKNOWN_SCHEDULE' | 'UNAVAILABLE'>> {
    return this.#store.remove([id]).andThen((n) => (n === 0 ? errAsync(unknown(id)) : okAsync(undefined)));
  }

  /** No fires while paused; resumed, it fires from its next time after now (the ones passed are not made up). */
  setPaused(id: string, paused: boolean): ResultAsync<ScheduleRecord, BrokerError<'UNKNOWN_SCHEDULE' | 'UNAVAILABLE'>> {
    return this.get(id).andThen((s) => {
      const now = this.#now();
      const nextAt = paused || s.kind === 'once' ? s.nextAt : nextFire(s, now);
      return this.#store.setPaused(id, paused, nextAt, now).andThen((changed) => {
        if (changed === undefined) return errAsync(unknown(id));
        if (!paused && changed.nextAt !== null) this.#scheduler.added(changed.nextAt);
        return okAsync(changed);
      });
    });
  }

  #recurring(id: string, input: RecurringInput): Result<ScheduleRecord, ScheduleError> {
    if (!ID.test(id)) return err(brokerError('BAD_ARGS', 'a schedule id is 1 to 128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit'));
    const row = toPendingRow({ ...(input as PublishInput), messageId: undefined }, this.#options);
    if (row.isErr()) return err(row.error);
    const timezone = input.timezone ?? 'UTC';
    if (typeof timezone !== 'string' || !knownTimeZone(timezone)) return err(brokerError('BAD_ARGS', `unknown time zone ${JSON.stringify(timezone)}`));
    const { cron, everyMs } = input;
    if ((cron === undefined) === (everyMs === undefined)) return err(brokerError('BAD_ARGS', 'give cron or every_ms, one of them'));
    if (cron !== undefined) {
      const checked = typeof cron === 'string' ? checkCron(cron, timezone) : err(brokerError('BAD_ARGS', 'cron must be a string'));
      if (checked.isErr()) return err(checked.error);
    }
    if (everyMs !== undefined && (!Number.isSafeInteger(everyMs) || everyMs < MIN_EVERY_MS)) {
      return err(brokerError('BAD_ARGS', `every_ms must be a whole number of ms from ${MIN_EVERY_MS}`));
    }
    const startAt = input.startAt === undefined ? ok(null) : timeOf('start_at', input.startAt);
    const endAt = input.endAt === undefined ? ok(null) : timeOf('end_at', input.endAt);
    if (startAt.isErr()) return err(startAt.error);
    if (endAt.isErr()) return err(endAt.error);
    if (startAt.value !== null && endAt.value !== null && endAt.value < startAt.value) return err(brokerError('BAD_ARGS', 'end_at is before start_at'));
    const now = this.#now();
    const base = {
      ...recordBase(id, cron !== undefined ? 'cron' : 'every', row.value, now),
      cron: cron ?? null,
      everyMs: everyMs ?? null,
      timezone,
      startAt: startAt.value,
      endAt: endAt.value,
    };
    return ok({ ...base, nextAt: nextFire(base, now) });
  }
}

function recordBase(id: string, kind: ScheduleKind, row: PendingRow, now: number): Omit<ScheduleRecord, 'nextAt'> {
  return {
    id,
    kind,
    topic: row.topic,
    payload: row.payload,
    metadata: row.metadataTail,
    ttlSeconds: row.ttlSeconds,
    orderingKey: row.orderingKey,
    messageId: null,
    cron: null,
    everyMs: null,
    timezone: 'UTC',
    startAt: null,
    endAt: null,
    lastAt: null,
    fires: 0,
    missed: 0,
    paused: false,
    createdAt: now,
    updatedAt: now,
  };
}

const unknown = (id: string): BrokerError<'UNKNOWN_SCHEDULE'> => brokerError('UNKNOWN_SCHEDULE', `no schedule ${id}`);
