// The schedules table (PROTOCOL.md §11) as both stores read it: one column list, aliased to the record's
// names, and the values a row is written with, in the order SCHEDULE_INSERT_COLUMNS names them.
import type { ScheduleRecord } from '../core/store-port.js';

export const SCHEDULE_COLUMNS = `id, kind, topic, payload, metadata, ttl AS "ttlSeconds", ordering_key AS "orderingKey",
  message_id AS "messageId", cron, every_ms AS "everyMs", timezone, start_at AS "startAt", end_at AS "endAt",
  next_at AS "nextAt", last_at AS "lastAt", fires, missed, paused,
  created_at AS "createdAt", updated_at AS "updatedAt"`;

export const SCHEDULE_INSERT_COLUMNS = `id, kind, topic, payload, metadata, ttl, ordering_key, message_id, cron, every_ms, timezone,
  start_at, end_at, next_at, last_at, fires, missed, paused, created_at, updated_at`;

/** Replaced by a PUT: everything but when it was first made. */
export const SCHEDULE_REPLACED = SCHEDULE_INSERT_COLUMNS.split(',')
  .map((c) => c.trim())
  .filter((c) => c !== 'id' && c !== 'created_at')
  .map((c) => `${c} = excluded.${c}`)
  .join(', ');

/** A row as read, with `paused` as the dialect has it (0/1 in SQLite). */
export type ScheduleRow = Omit<ScheduleRecord, 'paused'> & { readonly paused: boolean | number };

export function toScheduleRecord(row: ScheduleRow): ScheduleRecord {
  return { ...row, paused: row.paused === true || row.paused === 1 };
}

/** The values of SCHEDULE_INSERT_COLUMNS; `paused` as `bool` makes it for the dialect. */
export function scheduleValues(s: ScheduleRecord, bool: (b: boolean) => unknown): unknown[] {
  return [
    s.id,
    s.kind,
    s.topic,
    s.payload,
    s.metadata,
    s.ttlSeconds,
    s.orderingKey,
    s.messageId,
    s.cron,
    s.everyMs,
    s.timezone,
    s.startAt,
    s.endAt,
    s.nextAt,
    s.lastAt,
    s.fires,
    s.missed,
    bool(s.paused),
    s.createdAt,
    s.updatedAt,
  ];
}
