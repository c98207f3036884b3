// Credentials and the audit log (PROTOCOL.md §12) as the store keeps them, and the port the core reaches them
// through: one row per credential in `credentials` (its token only as a hash), one per administrative action
// or refusal in `audit_log`.
import type { ResultAsync } from 'neverthrow';
import type { BrokerError } from '../errors.js';
import type { Permissions } from './credentials.js';

/** As store-port.ts's StorageError, which re-exports these types. */
type StorageError = BrokerError<'UNAVAILABLE'>;

export interface CredentialRecord extends Permissions {
  readonly name: string;
  /** tokenHash() of its token. */
  readonly tokenHash: string;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When a broker last let it in (ms), kept to the minute; null if never. */
  readonly lastUsedAt: number | null;
}

export interface AuditEntry {
  readonly at: number;
  /** The credential that acted or was refused; null for a token that is none of them. */
  readonly credential: string | null;
  /** The peer's address and port. */
  readonly peer: string;
  /** What was done or asked, as `<front-end> <operation>` (`http PUT /api/consumers`, `ws subscribe`). */
  readonly action: string;
  /** What it was on: a topic, pattern, consumer, schedule or credential; null if nothing in particular. */
  readonly target: string | null;
  /** `ok`, or the refusal's code and reason. */
  readonly outcome: string;
}

export interface AuditRow extends AuditEntry {
  readonly id: number;
}

export interface CredentialStore {
  /** Every credential, by name. */
  list(): ResultAsync<CredentialRecord[], StorageError>;
  /** Stores a new credential; false (and nothing stored) when one has its name already. */
  add(record: CredentialRecord): ResultAsync<boolean, StorageError>;
  /** Replaces the stored one of its name (permissions, token hash, updated_at); false when there is none. */
  replace(record: CredentialRecord): ResultAsync<boolean, StorageError>;
  /** Removes it; false when there was none. */
  remove(name: string): ResultAsync<boolean, StorageError>;
  /** Sets last_used_at of those named. */
  used(names: readonly string[], at: number): ResultAsync<void, StorageError>;
  /** Appends the entries, in order. */
  audit(entries: readonly AuditEntry[]): ResultAsync<void, StorageError>;
  /** Up to `limit` entries at or after `fromMs` with an id above `afterId`, oldest first. */
  auditPage(fromMs: number, afterId: number, limit: number): ResultAsync<AuditRow[], StorageError>;
  /** Removes up to `limit` of the oldest entries from before `beforeMs`; how many went. */
  pruneAudit(beforeMs: number, limit: number): ResultAsync<number, StorageError>;
}
