// The credentials and audit log of a SQLite store: read on the main thread's connection, written by the writer
// thread (credential-writes.ts), as the rest of the store is.
import type Database from 'better-sqlite3';
import type { ResultAsync } from 'neverthrow';
import type { AuditRow, CredentialStore, StorageError } from '../../core/store-port.js';
import { AUDIT_COLUMNS, CREDENTIAL_COLUMNS, toCredentialRecord, type CredentialRow } from '../credential-rows.js';
import type { Writer } from './write-queries.js';

export interface SqliteCredentialAccess {
  readonly sqlite: Database.Database;
  readonly read: <T>(query: () => T) => ResultAsync<T, StorageError>;
  readonly write: <K extends keyof Writer>(op: K, ...args: Parameters<Writer[K]>) => ResultAsync<ReturnType<Writer[K]>, StorageError>;
}

export function sqliteCredentials({ sqlite, read, write }: SqliteCredentialAccess): CredentialStore {
  const list = sqlite.prepare(`SELECT ${CREDENTIAL_COLUMNS} FROM credentials ORDER BY name`);
  const page = sqlite.prepare(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE at >= ? AND id > ? ORDER BY id LIMIT ?`);
  return {
    list: () => read(() => (list.all() as CredentialRow[]).map(toCredentialRecord)),
    add: (record) => write('addCredential', record),
    replace: (record) => write('replaceCredential', record),
    remove: (name) => write('removeCredential', name),
    used: (names, at) => write('credentialsUsed', names, at),
    audit: (entries) => write('appendAudit', entries),
    auditPage: (fromMs, afterId, limit) => read(() => page.all(fromMs, afterId, limit) as AuditRow[]),
    pruneAudit: (beforeMs, limit) => write('pruneAudit', beforeMs, limit),
  };
}
