// The credentials and audit_log tables (PROTOCOL.md §12) as both stores read them: one column list, aliased to
// the records' names, and the values a credential is written with, in CREDENTIAL_INSERT_COLUMNS' order.
import type { CredentialRecord } from '../core/store-port.js';

export const CREDENTIAL_COLUMNS = `name, token_hash AS "tokenHash", publish, subscribe, consumers, monitor, admin,
  publish_rate AS "publishRate", created_at AS "createdAt", updated_at AS "updatedAt", last_used_at AS "lastUsedAt"`;

export const CREDENTIAL_INSERT_COLUMNS = `name, token_hash, publish, subscribe, consumers, monitor, admin, publish_rate, created_at, updated_at, last_used_at`;

export const AUDIT_COLUMNS = `id, at, credential, peer, action, target, outcome`;

/** A row as read: the lists as JSON text, the flags as the dialect has them (0/1 in SQLite). */
export interface CredentialRow {
  readonly name: string;
  readonly tokenHash: string;
  readonly publish: string;
  readonly subscribe: string;
  readonly consumers: string;
  readonly monitor: boolean | number;
  readonly admin: boolean | number;
  readonly publishRate: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly lastUsedAt: number | null;
}

export function toCredentialRecord(row: CredentialRow): CredentialRecord {
  return {
    ...row,
    publish: JSON.parse(row.publish) as string[],
    subscribe: JSON.parse(row.subscribe) as string[],
    consumers: JSON.parse(row.consumers) as string[],
    monitor: row.monitor === true || row.monitor === 1,
    admin: row.admin === true || row.admin === 1,
  };
}

/** The values of CREDENTIAL_INSERT_COLUMNS; `bool` makes a flag for the dialect. */
export function credentialValues(c: CredentialRecord, bool: (b: boolean) => unknown): unknown[] {
  return [
    c.name,
    c.tokenHash,
    JSON.stringify(c.publish),
    JSON.stringify(c.subscribe),
    JSON.stringify(c.consumers),
    bool(c.monitor),
    bool(c.admin),
    c.publishRate,
    c.createdAt,
    c.updatedAt,
    c.lastUsedAt,
  ];
}
