// The credentials and audit log of the PostgreSQL store (PROTOCOL.md §12), shared by every broker on the
// database.
import type { ResultAsync } from 'neverthrow';
import type pg from 'pg';
import type { AuditRow, CredentialStore, StorageError } from '../../core/store-port.js';
import { signalPayload } from './consumer-queries.js';
import { AUDIT_COLUMNS, CREDENTIAL_COLUMNS, CREDENTIAL_INSERT_COLUMNS, credentialValues, toCredentialRecord, type CredentialRow } from '../credential-rows.js';

const LIST = `SELECT ${CREDENTIAL_COLUMNS} FROM credentials ORDER BY name`;
// Each change tells the other brokers in the statement that makes it (the last two parameters: the channel and
// the payload), so they hear of it as it commits.
const notifying = (change: string, channelParam: number): string =>
  `WITH changed AS (${change} RETURNING name) SELECT pg_notify($${channelParam}, $${channelParam + 1}) FROM changed`;
const ADD = notifying(
  `INSERT INTO credentials (${CREDENTIAL_INSERT_COLUMNS})
  VALUES (${CREDENTIAL_INSERT_COLUMNS.split(',')
    .map((_, i) => `$${i + 1}`)
    .join(', ')}) ON CONFLICT (name) DO NOTHING`,
  CREDENTIAL_INSERT_COLUMNS.split(',').length + 1,
);
const REPLACE = notifying(
  `UPDATE credentials SET token_hash = $2, publish = $3, subscribe = $4, consumers = $5, monitor = $6, admin = $7,
  publish_rate = $8, updated_at = $9 WHERE name = $1`,
  10,
);
const REMOVE = notifying(`DELETE FROM credentials WHERE name = $1`, 2);
const USED = `UPDATE credentials SET last_used_at = $2 WHERE name = ANY($1::text[])`;
const AUDIT = `INSERT INTO audit_log (at, credential, peer, action, target, outcome)
  SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`;
const AUDIT_PAGE = `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE at >= $1 AND id > $2 ORDER BY id LIMIT $3`;
const PRUNE_AUDIT = `DELETE FROM audit_log WHERE id = ANY(ARRAY(SELECT id FROM audit_log WHERE at < $1 ORDER BY id LIMIT $2))`;

export interface PgCredentialAccess {
  readonly pool: pg.Pool;
  readonly read: <T>(pending: Promise<T>) => ResultAsync<T, StorageError>;
  readonly write: <T>(write: () => Promise<T>) => ResultAsync<T, StorageError>;
  /** The consumers' notification channel and this store's name in it. */
  readonly notify: { readonly channel: string; readonly from: string };
}

export function postgresCredentials({ pool, read, write, notify }: PgCredentialAccess): CredentialStore {
  const signal = signalPayload(notify.from, { kind: 'credentials' });
  const changed = async (text: string, values: unknown[]): Promise<boolean> => ((await pool.query(text, [...values, notify.channel, signal])).rowCount ?? 0) === 1;
  return {
    list: () => read(pool.query<CredentialRow>(LIST).then((r) => r.rows.map(toCredentialRecord))),
    add: (record) => write(() => changed(ADD, credentialValues(record, (b) => b))),
    replace: (record) => write(() => changed(REPLACE, [...credentialValues(record, (b) => b).slice(0, 8), record.updatedAt])),
    remove: (name) => write(() => changed(REMOVE, [name])),
    used: (names, at) =>
      write(async () => {
        await pool.query(USED, [names, at]);
      }),
    audit: (entries) =>
      write(async () => {
        const columns = [entries.map((e) => e.at), entries.map((e) => e.credential), entries.map((e) => e.peer), entries.map((e) => e.action), entries.map((e) => e.target), entries.map((e) => e.outcome)];
        await pool.query(AUDIT, columns);
      }),
    auditPage: (fromMs, afterId, limit) => read(pool.query<AuditRow>(AUDIT_PAGE, [fromMs, afterId, limit]).then((r) => r.rows)),
    pruneAudit: (beforeMs, limit) => write(async () => (await pool.query(PRUNE_AUDIT, [beforeMs, limit])).rowCount ?? 0),
  };
}
