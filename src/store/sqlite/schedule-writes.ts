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
  // Only where the row still has the next_at it was read with, and no fire claimed: one broker takes it.
  const claim = sqlite.prepare(
    `UPDATE schedules SET next_at = ?, firing_at = ?, last_at = ?, fires = fires + 1, missed = missed + ?, updated_at = ?
     WHERE id = ? AND next_at = ? AND firing_at IS NULL AND paused = 0`,
  );
  const removeFired = sqlite.prepare(`DELETE FROM schedules WHERE id = ? AND kind = 'once' AND firing_at = ?`);
  const clearFired = sqlite.prepare(`UPDATE schedules SET firing_at = NULL WHERE id = ? AND firing_at = ?`);

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

    claimSchedules: sqlite.transaction((claims: readonly ScheduleClaim[]): string[] =>
      claims.filter((c) => claim.run(c.next, c.firingAt, c.firingAt, c.missed, c.at, c.id, c.nextAt).changes === 1).map((c) => c.id),
    ).immediate,

    firedSchedules: sqlite.transaction((fires: readonly { id: string; firingAt: number }[]): void => {
      for (const { id, firingAt } of fires) if (removeFired.run(id, firingAt).changes === 0) clearFired.run(id, firingAt);
    }).immediate,
  };
}
