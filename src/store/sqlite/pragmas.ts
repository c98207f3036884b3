// The connection settings every broker connection uses, the main one and the writer thread's alike.
import type Database from 'better-sqlite3';
import type { SyncMode } from '../../config.js';

// A writer that finds the file locked (a user's long transaction in the sqlite3 shell, a checkpoint) waits
// this long before the write fails with UNAVAILABLE; long enough to ride out a checkpoint, short enough
// that a publisher gets an answer.
const BUSY_TIMEOUT_MS = 5000;

export function applyPragmas(sqlite: Database.Database, sync: SyncMode): void {
  sqlite.pragma('journal_mode = WAL'); // readers (users' SQL, catch-up reads) never block the writer
  sqlite.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
  sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // The WAL is checkpointed by SQLite every ~4 MB: bigger makes readers slower, smaller fsyncs the main file
  // more often under load.
  sqlite.pragma('wal_autocheckpoint = 1000');
}

/**
 * Writes one page that nothing reads (the schema version, rewritten unchanged): throws SQLITE_READONLY,
 * SQLITE_FULL, … when the file cannot be written. SQLite opens a read-only file without a word and reads
 * from it as usual; only a write tells.
 */
export function checkWritable(sqlite: Database.Database): void {
  const version = sqlite.pragma('user_version', { simple: true }) as number;
  sqlite.pragma(`user_version = ${version}`);
}
