// An append on PostgreSQL and the reconciliation of what its one statement answers (queries.ts's APPEND)
// into one Appended per row, in order: new rows, ids repeated within the batch, ids already stored, and ids
// another broker stored while the statement ran.
import type pg from 'pg';
import type { AppendRow, Appended } from '../../core/store-port.js';
import { toColumns } from '../append-columns.js';
import * as q from './queries.js';

/** What the append statement answers: the seq before its rows (null if none was inserted), the seqs the
 * inserted rows got, and the positions (from 1) and seqs of the rows whose id was already stored. */
interface AppendResult {
  base: number | null;
  seqs: number[] | null;
  knownAt: number[] | null;
  knownSeqs: number[] | null;
}

/**
 * Appends `rows` on `pool`'s connection, notifying `channel` at commit. `assigned` hears the highest seq
 * the statement assigned as soon as it is known, before any further lookup, so that the store's last seq
 * is ahead of the notification of its own append.
 */
export async function appendRows(pool: pg.Pool, rows: readonly AppendRow[], channel: string, assigned: (seq: number) => void): Promise<Appended[]> {
  const appended = new Array<Appended | undefined>(rows.length);
  // A second row with an id of the same batch is answered with the first's seq; ids already stored are
  // answered by the statement with the original's seq; a publish of the same id racing on another broker
  // is caught by the unique index.
  const sent: number[] = [];
  const firstOf = new Map<string, number>();
  for (let i = 0; i < rows.length; i++) {
    const id = rows[i]!.messageId;
    if (id !== null && firstOf.has(id)) continue; // resolved below
    if (id !== null) firstOf.set(id, i);
    sent.push(i);
  }
  const c = toColumns(sent.length === rows.length ? rows : sent.map((i) => rows[i]!));
  const maxCreatedAt = c.createdAts.reduce((a, b) => Math.max(a, b), 0);
  const result = await pool.query<AppendResult>({ name: 'append', text: q.APPEND, values: [maxCreatedAt, c.messageIds, c.topics, c.payloads, c.metadata, c.ttls, c.orderingKeys, c.createdAts, channel] });
  const { base, seqs, knownAt, knownSeqs } = result.rows[0]!;
  const known = new Set<number>();
  if (knownAt !== null) {
    for (let k = 0; k < knownAt.length; k++) {
      const j = knownAt[k]! - 1; // ordinality counts from 1
      known.add(j);
      appended[sent[j]!] = { seq: knownSeqs![k]!, duplicate: true };
    }
  }
  if (base !== null) {
    const inserted = new Set(seqs ?? []);
    const lost: string[] = [];
    let seq = base;
    for (let j = 0; j < sent.length; j++) {
      if (known.has(j)) continue;
      seq++;
      if (inserted.has(seq)) appended[sent[j]!] = { seq, duplicate: false };
      else lost.push(rows[sent[j]!]!.messageId!); // another broker stored this id meanwhile
    }
    // Assigned, even where the index skipped a row: the last seq is the highest seq ever assigned.
    assigned(seq);
    for (const [id, lostSeq] of await seqsOfIds(pool, lost)) appended[firstOf.get(id)!] = { seq: lostSeq, duplicate: true };
  }
  for (let i = 0; i < rows.length; i++) {
    if (appended[i] !== undefined) continue;
    appended[i] = { seq: appended[firstOf.get(rows[i]!.messageId!)!]!.seq, duplicate: true };
  }
  return appended as Appended[];
}

/** The stored seq of each of `ids` that is stored. */
async function seqsOfIds(pool: pg.Pool, ids: readonly string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const found = await pool.query<{ message_id: string; seq: number }>({ name: 'seqsOfIds', text: q.SEQS_OF_IDS, values: [ids] });
  return new Map(found.rows.map((r) => [r.message_id, r.seq]));
}
