// The schedules of a SQLite store: read on the main thread's connection, written by the writer thread
// (schedule-writes.ts), as the rest of the store is.
import type Database from 'better-sqlite3';
import type { ResultAsync } from 'neverthrow';
import type { ScheduleAdded, ScheduleListing, ScheduleRecord, ScheduleStore, StorageError } from '../../core/store-port.js';
import { SCHEDULE_COLUMNS, toScheduleRecord, type ScheduleRow } from '../schedule-rows.js';
import type { Writer } from './write-queries.js';

export interface SqliteScheduleAccess {
  readonly sqlite: Database.Database;
  readonly read: <T>(query: () => T) => ResultAsync<T, StorageError>;
  readonly write: <K extends keyof Writer>(op: K, ...args: Parameters<Writer[K]>) => ResultAsync<ReturnType<Writer[K]>, StorageError>;
}

export function sqliteSchedules(access: SqliteScheduleAccess): ScheduleStore {
  const { sqlite, read, write } = access;
  const get = sqlite.prepare(`SELECT ${SCHEDULE_COLUMNS} FROM schedules WHERE id = ?`);
  const list = sqlite.prepare(`SELECT ${SCHEDULE_COLUMNS} FROM schedules WHERE (@kind IS NULL OR kind = @kind) AND id >= @from ORDER BY id LIMIT @limit`);
  const due = sqlite.prepare(
    `SELECT ${SCHEDULE_COLUMNS} FROM schedules WHERE paused = 0 AND next_at IS NOT NULL AND next_at <= ? ORDER BY next_at LIMIT ?`,
  );
  const nextDue = sqlite.prepare(`SELECT min(next_at) FROM schedules WHERE paused = 0 AND next_at IS NOT NULL`).pluck();
  const pending = sqlite.prepare(`SELECT count(*) FROM schedules WHERE next_at IS NOT NULL`).pluck();
  const records = (rows: unknown[]): ScheduleRecord[] => (rows as ScheduleRow[]).map(toScheduleRecord);

  return {
    add: (rows: readonly ScheduleRecord[]): ResultAsync<ScheduleAdded[], StorageError> => write('addSchedules', rows),
    put: (record) => write('putSchedule', record),
    get: (id) =>
      read(() => {
        const row = get.get(id) as ScheduleRow | undefined;
        return row === undefined ? undefined : toScheduleRecord(row);
      }),
    list: (l: ScheduleListing) => read(() => records(list.all({ kind: l.kind ?? null, from: l.from ?? '', limit: l.limit }))),
    remove: (ids) => write('removeSchedules', ids),
    setPaused: (id, paused, nextAt, at) => write('setSchedulePaused', id, paused, nextAt, at),
    due: (dueBy, limit) => read(() => records(due.all(dueBy, limit))),
    nextDue: () => read(() => (nextDue.get() as number | null) ?? null),
    pending: () => read(() => pending.get() as number),
  };
}
