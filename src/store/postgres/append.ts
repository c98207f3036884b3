// An append on PostgreSQL and the reconciliation of what its one statement answers (queries.ts's APPEND)
// into one Appended per row, in order: new rows, ids repeated within the batch, ids already stored, and ids
// another broker stored while the statement ran. Schedules' fires are claimed in the same transaction.
import type pg from 'pg';
import type { AppendRow, Appended, ScheduleClaim } from '../../core/store-port.js';
import { toColumns } from '../append-columns.js';
import * as q from './queries.js';
import { inTransaction } from './transaction.js';

/**
 * Takes fires ($1…$6 as ScheduleClaim's id, nextAt, firingAt, next, missed, at, one array each): a delayed
 * message's row is removed, a recurring one's moves on. Answers the ids taken. A row another broker is taking
 * at the same time (locked) is skipped rather than waited for, so no two appends wait on each other. next_at
 * is compared with IS NOT DISTINCT FROM (the same as = here: the values given are never null), which no index
 * serves: with `=`, the planner joins on the next_at index instead of the primary key, and when many rows share
 * one time (a burst due in the same ms) each row given walks all of them.
 */
const CLAIM_FIRES = `WITH c AS (
  SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[]) AS c(id, was, firing, next, missed, at)
),
l AS MATERIALIZED (
  SELECT c.*, s.kind FROM c JOIN schedules s ON s.id = c.id
  WHERE s.next_at IS NOT DISTINCT FROM c.was AND NOT s.paused FOR UPDATE OF s SKIP LOCKED
),
d AS (DELETE FROM schedules s USING l WHERE s.id = l.id AND l.kind = 'once' RETURNING s.id),
u AS (
  UPDATE schedules s SET next_at = l.next, last_at = l.firing, fires = s.fires + 1, missed = s.missed + l.missed, updated_at = l.at
  FROM l WHERE s.id = l.id AND l.kind <> 'once' RETURNING s.id
)
SELECT id FROM d UNION ALL SELECT id FROM u`;

/** A fire whose claim did not hold: nothing written. */
const NOT_TAKEN: Appended = { seq: 0, duplicate: true };

/**
 * appendRows for a group that holds schedules' fires (`claims`, by row index): the claims are made first, in
 * the same transaction, and a fire is appended only if its claim held. `assigned` hears after the commit: a
 * transaction rolled back gives its seqs out again.
 */
export async function appendClaimed(
  pool: pg.Pool,
  rows: readonly AppendRow[],
  claims: readonly (ScheduleClaim | undefined)[],
  channel: string,
  assigned: (seq: number) => void,
): Promise<Appended[]> {
  let last = 0;
  const appended = await inTransaction(pool, async (client) => {
    const given = claims.filter((c) => c !== undefined);
    const columns = [given.map((c) => c.id), given.map((c) => c.nextAt), given.map((c) => c.firingAt), given.map((c) => c.next), given.map((c) => c.missed), given.map((c) => c.at)];
    const taken = new Set((await client.query<{ id: string }>({ name: 'claimFires', text: CLAIM_FIRES, values: columns })).rows.map((r) => r.id));
    const kept: number[] = [];
    for (let i = 0; i < rows.length; i++) {
      const claim = claims[i];
      if (claim === undefined || taken.has(claim.id)) kept.push(i);
    }
    const out = new Array<Appended>(rows.length).fill(NOT_TAKEN);
    if (kept.length === 0) return out;
    const done = await appendRows(client, kept.map((i) => rows[i]!), channel, (seq) => (last = seq));
    for (let j = 0; j < kept.length; j++) out[kept[j]!] = done[j]!;
    return out;
  });
  if (last > 0) assigned(last);
  return appended;
}

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
export async function appendRows(pool: pg.Pool | pg.PoolClient, rows: readonly AppendRow[], channel: string, assigned: (seq: number) => void): Promise<Appended[]> {
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
async function seqsOfIds(pool: pg.Pool | pg.PoolClient, ids: readonly string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const found = await pool.query<{ message_id: string; seq: number }>({ name: 'seqsOfIds', text: q.SEQS_OF_IDS, values: [ids] });
  return new Map(found.rows.map((r) => [r.message_id, r.seq]));
}
