// Which PostgreSQL failures are storage failures a user can meet (the server down, a connection cut, a full
// disk, a read-only standby, a conflict to retry): UNAVAILABLE. Anything else, a syntax error say, is a bug
// and is thrown.
import { brokerError } from '../../errors.js';
import type { StorageError } from '../../core/store-port.js';

// SQLSTATE classes and codes: 08 connection exception, 53 insufficient resources (53100 disk full), 57
// operator intervention (57P01 terminated by pg_terminate_backend or shutdown), 58 system error, 40
// transaction rollback (serialization failure, deadlock), 25006 read-only transaction, 55P03 lock not available;
// and what an administrator does to a running broker's access: 28 the role may no longer log in (or its
// password changed), 3D000 the database is gone, 42501 a privilege revoked.
const STORAGE_SQLSTATE = /^(?:08|53|57|58|40|28)|^25006$|^55P03$|^3D000$|^42501$/;
// Node's socket errors, and node-postgres's own for a connection that went away or never came.
const STORAGE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const STORAGE_MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end/i;

export function isStorageFailure(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && (STORAGE_SQLSTATE.test(code) || STORAGE_CODES.has(code))) return true;
  return STORAGE_MESSAGES.test(e.message);
}

/** A storage failure as StorageError; anything else is rethrown. */
export function storageError(e: unknown): StorageError {
  if (!isStorageFailure(e)) throw e;
  const code = (e as { code?: unknown }).code;
  return brokerError('UNAVAILABLE', `storage unavailable (${typeof code === 'string' ? `PostgreSQL ${code}` : (e as Error).message})`, e);
}
