// Opens the SQLite file: directory, single-opener lock, pragmas, migrations. A failure here is a start-up
// failure with one clear line (StoreOpenError, open-error.ts), never a half-open database.
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { err, ok, type Result } from 'neverthrow';
import type { SyncMode } from '../../config.js';
import { foreignTablesProblem } from '../foreign-tables.js';
import { storeOpenError, type StoreOpenError } from '../open-error.js';
import { applyPragmas, checkWritable } from './pragmas.js';
import * as schema from './schema.js';

export type Db = BetterSQLite3Database<typeof schema>;

export interface OpenedDb {
  readonly db: Db;
  readonly sqlite: Database.Database;
  readonly path: string;
  readonly close: () => void;
}

export interface OpenOptions {
  readonly path: string;
  readonly sync: SyncMode;
}

// Resolves to <repo>/drizzle/sqlite from both src/store/sqlite (tsx, tests) and dist/store/sqlite (npm start).
const MIGRATIONS = fileURLToPath(new URL('../../../drizzle/sqlite', import.meta.url));

export function openDb(options: OpenOptions): Result<OpenedDb, StoreOpenError> {
  const path = resolve(options.path);
  const made = makeDirectory(dirname(path));
  if (made.isErr()) return err(storeOpenError('unwritable', `EVENTBUS_DB: cannot create the directory of ${path}: ${made.error}`));
  const lock = acquireLock(`${path}.lock`);
  if (lock.isErr()) return err(lock.error);
  let sqlite: Database.Database | undefined;
  try {
    sqlite = new Database(path);
    const tables = sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").pluck().all() as string[];
    const foreign = foreignTablesProblem(tables, path);
    if (foreign !== undefined) {
      sqlite.close();
      lock.value.close();
      return err(storeOpenError('foreign', foreign));
    }
    applyPragmas(sqlite, options.sync);
    const db = drizzle(sqlite, { schema });
    migrate(db, { migrationsFolder: MIGRATIONS });
    checkWritable(sqlite);
    const opened = sqlite;
    return ok({
      db,
      sqlite: opened,
      path,
      close: () => {
        try {
          if (opened.open) opened.pragma('wal_checkpoint(TRUNCATE)');
        } catch {
          // The disk went full or read-only meanwhile: the WAL stays in place and the next open reads it, so
          // closing anyway loses nothing.
        }
        opened.close();
        lock.value.close();
      },
    });
  } catch (e) {
    sqlite?.close();
    lock.value.close();
    const message = (e as Error).message;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_READONLY')) {
      return err(storeOpenError('unwritable', `EVENTBUS_DB: ${path} is read-only (${code}); the broker must be able to write the file and its directory`, e));
    }
    const kind = /not a database|malformed|corrupt/i.test(message) ? 'corrupt' : 'unwritable';
    return err(storeOpenError(kind, `EVENTBUS_DB: cannot open ${path}: ${message}`, e));
  }
}

/**
 * `dir` and its missing parents, one level at a time from the first that exists. Not mkdir's recursive
 * option: under a directory where mkdir fails with ENOENT though the parent exists (/proc/x), Node 20's
 * loops for ever, deaf to signals, as it takes ENOENT for a missing parent and tries again.
 */
function makeDirectory(dir: string): Result<void, string> {
  const missing: string[] = [];
  for (let at = dir; ; at = dirname(at)) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(at).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || dirname(at) === at) return err((e as Error).message);
      missing.push(at);
      continue;
    }
    if (!isDirectory) return err(`${at} is not a directory`);
    break;
  }
  for (const at of missing.reverse()) {
    try {
      mkdirSync(at);
    } catch (e) {
      // Made meanwhile by someone else: as good.
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && statSync(at, { throwIfNoEntry: false })?.isDirectory() === true) continue;
      return err((e as Error).message);
    }
  }
  return ok(undefined);
}

/**
 * One broker per database: a small side file held under an exclusive SQLite lock for the broker's
 * lifetime. The OS drops the lock when the process dies, so a crash (even SIGKILL) leaves nothing stale,
 * and SQLite's in-process lock table makes a second opener in the same process fail too. The main file
 * itself stays readable by any SQLite client.
 */
function acquireLock(lockPath: string): Result<Database.Database, StoreOpenError> {
  let lockDb: Database.Database | undefined;
  try {
    lockDb = new Database(lockPath);
    lockDb.pragma('busy_timeout = 0');
    lockDb.pragma('locking_mode = EXCLUSIVE');
    lockDb.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER)');
    lockDb.exec('BEGIN EXCLUSIVE');
    lockDb.prepare('DELETE FROM holder').run();
    lockDb.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
    return ok(lockDb);
  } catch (e) {
    lockDb?.close();
    const message = (e as Error).message;
    if (/locked|busy/i.test(message)) {
      return err(storeOpenError('locked', `EVENTBUS_DB: ${lockPath.slice(0, -5)} is already open in another eventbus broker; stop it first`, e));
    }
    return err(storeOpenError('unwritable', `EVENTBUS_DB: cannot create the lock file ${lockPath}: ${message}`, e));
  }
}
