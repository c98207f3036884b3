// The schedules of the PostgreSQL store (PROTOCOL.md §11). Brokers sharing the database race for the same due
// rows; a fire's claim (append.ts, in the transaction of its append) holds only where the row still has
// the next_at it was read with, which the row lock decides.
import type { ResultAsync } from 'neverthrow';
import type pg from 'pg';
import type { ScheduleAdded, ScheduleRecord, ScheduleStore, StorageError } from '../../core/store-port.js';
import { SCHEDULE_COLUMNS, SCHEDULE_INSERT_COLUMNS, SCHEDULE_REPLACED, scheduleValues, toScheduleRecord, type ScheduleRow } from '../schedule-rows.js';
import { inTransaction } from './transaction.js';

const PLACEHOLDERS = SCHEDULE_INSERT_COLUMNS.split(',')
  .map((_, i) => `$${i + 1}`)
  .join(', ');

// The column types of SCHEDULE_INSERT_COLUMNS, in its order: a batch goes in as one array per column.
const COLUMN_TYPES = ['text', 'text', 'text', 'text', 'text', 'int4', 'text', 'text', 'text', 'int8', 'text', 'int8', 'int8', 'int8', 'int8', 'int8', 'int8', 'bool', 'int8', 'int8'];
// One statement for a batch; a message_id waiting already (or twice in the batch) is left out, and answered
// with the schedule that has it.
const INSERT_MANY = `INSERT INTO schedules (${SCHEDULE_INSERT_COLUMNS})
  SELECT * FROM unnest(${COLUMN_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})
  ON CONFLICT (message_id) WHERE message_id IS NOT NULL DO NOTHING RETURNING id`;
const WAITING = `SELECT id, next_at AS "nextAt", message_id AS "messageId" FROM schedules WHERE message_id = ANY($1::text[])`;
const UPSERT = `INSERT INTO schedules (${SCHEDULE_INSERT_COLUMNS}) VALUES (${PLACEHOLDERS}) ON CONFLICT (id) DO UPDATE SET ${SCHEDULE_REPLACED}`;
const GET = `SELECT ${SCHEDULE_COLUMNS} FROM schedules WHERE id = $1`;
const LIST = `SELECT ${SCHEDULE_COLUMNS} FROM schedules WHERE ($1::text IS NULL OR kind = $1) AND id >= $2 ORDER BY id LIMIT $3`;
const REMOVE = `DELETE FROM schedules WHERE id = ANY($1::text[])`;
const SET_PAUSED = `UPDATE schedules SET paused = $2, next_at = $3, updated_at = $4 WHERE id = $1 RETURNING ${SCHEDULE_COLUMNS}`;
const DUE = `SELECT ${SCHEDULE_COLUMNS} FROM schedules
  WHERE NOT paused AND next_at IS NOT NULL AND next_at <= $1 ORDER BY next_at LIMIT $2`;
const NEXT_DUE = `SELECT min(next_at) AS "nextAt" FROM schedules WHERE NOT paused AND next_at IS NOT NULL`;
const PENDING = `SELECT count(*)::int AS n FROM schedules WHERE next_at IS NOT NULL`;
export interface PgScheduleAccess {
  readonly pool: pg.Pool;
  readonly read: <T>(pending: Promise<T>) => ResultAsync<T, StorageError>;
  readonly write: <T>(write: () => Promise<T>) => ResultAsync<T, StorageError>;
}

export function postgresSchedules({ pool, read, write }: PgScheduleAccess): ScheduleStore {
  const rows = async (text: string, values: unknown[]): Promise<ScheduleRecord[]> => (await pool.query<ScheduleRow>(text, values)).rows.map(toScheduleRecord);
  return {
    add: (records) =>
      write(() =>
        inTransaction(pool, async (c) => {
          const rows = records.map((r) => scheduleValues(r, (b) => b));
          const columns = COLUMN_TYPES.map((_, i) => rows.map((row) => row[i]));
          const inserted = new Set((await c.query<{ id: string }>(INSERT_MANY, columns)).rows.map((r) => r.id));
          const left = records.filter((r) => !inserted.has(r.id)).map((r) => r.messageId);
          const waiting = new Map((await c.query<{ id: string; nextAt: number; messageId: string }>(WAITING, [left])).rows.map((w) => [w.messageId, w]));
          return records.map((r): ScheduleAdded => {
            if (inserted.has(r.id)) return { id: r.id, nextAt: r.nextAt!, duplicate: false };
            const w = waiting.get(r.messageId!)!;
            return { id: w.id, nextAt: w.nextAt, duplicate: true };
          });
        }),
      ),
    put: (record) =>
      write(async () => {
        await pool.query(UPSERT, scheduleValues(record, (b) => b));
      }),
    get: (scheduleId) => read(rows(GET, [scheduleId]).then((r) => r[0])),
    list: (l) => read(rows(LIST, [l.kind ?? null, l.from ?? '', l.limit])),
    remove: (ids) => write(async () => (await pool.query(REMOVE, [ids])).rowCount ?? 0),
    setPaused: (scheduleId, paused, nextAt, at) => write(async () => (await rows(SET_PAUSED, [scheduleId, paused, nextAt, at]))[0]),
    due: (dueBy, limit) => read(rows(DUE, [dueBy, limit])),
    nextDue: () => read(pool.query<{ nextAt: number | null }>(NEXT_DUE).then((r) => r.rows[0]?.nextAt ?? null)),
    pending: () => read(pool.query<{ n: number }>(PENDING).then((r) => r.rows[0]!.n)),
  };
}
