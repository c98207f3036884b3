/* eslint-disable @typescript-eslint/unbound-method -- better-sqlite3's transaction variants (.immediate) are
   functions of their own that do not use `this`; its types declare them as methods. */
// The writer thread's writes to credentials and audit_log (PROTOCOL.md §12). Raw SQL only, as in
// write-queries.ts, whose writer merges these.
import type Database from 'better-sqlite3';
import type { AuditEntry, CredentialRecord } from '../../core/store-port.js';
import { CREDENTIAL_INSERT_COLUMNS, credentialValues } from '../credential-rows.js';

const bit = (b: boolean): number => (b ? 1 : 0);

export function makeCredentialWriter(sqlite: Database.Database) {
  const placeholders = CREDENTIAL_INSERT_COLUMNS.split(',')
    .map(() => '?')
    .join(', ');
  const insert = sqlite.prepare(`INSERT INTO credentials (${CREDENTIAL_INSERT_COLUMNS}) VALUES (${placeholders}) ON CONFLICT (name) DO NOTHING`);
  const replace = sqlite.prepare(
    `UPDATE credentials SET token_hash = ?, publish = ?, subscribe = ?, consumers = ?, monitor = ?, admin = ?, publish_rate = ?, updated_at = ?
     WHERE name = ?`,
  );
  const remove = sqlite.prepare(`DELETE FROM credentials WHERE name = ?`);
  const used = sqlite.prepare(`UPDATE credentials SET last_used_at = ? WHERE name = ?`);
  const insertAudit = sqlite.prepare(`INSERT INTO audit_log (at, credential, peer, action, target, outcome) VALUES (?, ?, ?, ?, ?, ?)`);
  // The oldest first, by id (the order they were written in), as many as the limit.
  const pruneAudit = sqlite.prepare(`DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? ORDER BY id LIMIT ?)`);

  return {
    addCredential: (c: CredentialRecord): boolean => insert.run(credentialValues(c, bit)).changes === 1,

    replaceCredential: (c: CredentialRecord): boolean => {
      const [, tokenHash, publish, subscribe, consumers, monitor, admin, publishRate] = credentialValues(c, bit);
      return replace.run(tokenHash, publish, subscribe, consumers, monitor, admin, publishRate, c.updatedAt, c.name).changes === 1;
    },

    removeCredential: (name: string): boolean => remove.run(name).changes === 1,

    credentialsUsed: sqlite.transaction((names: readonly string[], at: number): void => {
      for (const name of names) used.run(at, name);
    }).immediate,

    appendAudit: sqlite.transaction((entries: readonly AuditEntry[]): void => {
      for (const e of entries) insertAudit.run(e.at, e.credential, e.peer, e.action, e.target, e.outcome);
    }).immediate,

    pruneAudit: (beforeMs: number, limit: number): number => pruneAudit.run(beforeMs, limit).changes,
  };
}
