/* eslint-disable @typescript-eslint/unbound-method -- better-sqlite3's transaction variants (.immediate) are
   functions of their own that do not use `this`; its types declare them as methods. */
// The writer thread's writes to the schedules table (PROTOCOL.md §11). Raw SQL only, as in write-queries.ts,
// whose writer merges these.
import type Database from 'better-sqlite3';
import type { ScheduleAdded, ScheduleClaim, ScheduleRecord } from '../../core/store-port.js';
import { SCHEDULE_COLUMNS, SCHEDULE_INSERT_COLUMNS, SCHEDULE_REPLACED, scheduleValues, toScheduleRecord, type ScheduleRow } from '../schedule-rows.js';

const PLACEHOLDERS = SCHEDULE_INSERT_COLUMNS.split(',')
  .map(() => '?')
  .join(', ');
const bit = (b: boolean): number => (b ? 1 : 0);

export function makeScheduleWriter(sqlite: Database.Database) {
  const waiting = sqlite.prepare(`SELECT id, next_at AS "nextAt" FROM schedules WHERE message_id = ?`);
  const insert = sqlite.prepare(`INSERT INTO schedules (${SCHEDULE_INSERT_COLUMNS}) VALUES (${PLACEHOLDERS})`);
  const upsert = sqlite.prepare(`INSERT INTO schedules (${SCHEDULE_INSERT_COLUMNS}) VALUES (${PLACEHOLDERS}) ON CONFLICT (id) DO UPDATE SET ${SCHEDULE_REPLACED}`);
  const remove = sqlite.prepare(`DELETE FROM schedules WHERE id = ?`);
  const setPaused = sqlite.prepare(`UPDATE schedules SET paused = ?, next_at = ?, updated_at = ? WHERE id = ? RETURNING ${SCHEDULE_COLUMNS}`);

  return {
    addSchedules: sqlite.transaction((rows: readonly ScheduleRecord[]): ScheduleAdded[] =>
      rows.map((row) => {
        const before = row.messageId === null ? undefined : (waiting.get(row.messageId) as { id: string; nextAt: number } | undefined);
        if (before !== undefined) return { id: before.id, nextAt: before.nextAt, duplicate: true };
        insert.run(scheduleValues(row, bit));
        return { id: row.id, nextAt: row.nextAt!, duplicate: false };
      }),
    ).immediate,

    putSchedule: (row: ScheduleRecord): void => {
      upsert.run(scheduleValues(row, bit));
    },

    removeSchedules: (ids: readonly string[]): number => ids.reduce((n, id) => n + remove.run(id).changes, 0),

    setSchedulePaused: (id: string, paused: boolean, nextAt: number | null, at: number): ScheduleRecord | undefined => {
      const row = setPaused.get(bit(paused), nextAt, at, id) as ScheduleRow | undefined;
      return row === undefined ? undefined : toScheduleRecord(row);
    },
  };
}

/** Takes a fire for the append that is under way (ScheduleClaim): whether the claim held. */
export function makeFireClaimer(sqlite: Database.Database): (claim: ScheduleClaim) => boolean {
  // Only where the row still has the next_at it was read with: the broker is the file's only writer, but a
  // schedule may have been removed, paused or replaced since it was read.
  const removeOnce = sqlite.prepare(`DELETE FROM schedules WHERE id = ? AND next_at = ? AND paused = 0`);
  const moveOn = sqlite.prepare(
    `UPDATE schedules SET next_at = ?, last_at = ?, fires = fires + 1, missed = missed + ?, updated_at = ?
     WHERE id = ? AND next_at = ? AND paused = 0`,
  );
  return (c) =>
    (c.kind === 'once' ? removeOnce.run(c.id, c.nextAt) : moveOn.run(c.next, c.firingAt, c.missed, c.at, c.id, c.nextAt)).changes === 1;
}
