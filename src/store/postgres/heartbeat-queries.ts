// The cluster's heartbeat on PostgreSQL (src/core/cluster.ts): the statements of one beat, run in one
// transaction under the cluster's advisory lock, and its announcements on the cluster's channel. Beats of all
// brokers take turns under that lock: they touch the same lease rows in no fixed order, and would deadlock
// otherwise. Statements that only this beat runs, on tables as small as the cluster.
import type pg from 'pg';
import type { ClusterView, ConsumerMembers, Heartbeat } from '../../core/store-port.js';
import { CONSUMER_POSITIONS, LIST_CONSUMERS, LOCK_CONSUMERS, parseConsumer, type StoredConsumerRow } from './queries.js';

/** The channel heartbeats announce members that came or went, and partitions given up, on (Heartbeat.announce). */
export const clusterChannel = (schema: string): string => `eventbus_cluster_${schema}`;

/** The purpose of the cluster's advisory lock (connect.ts's lockKey). */
export const CLUSTER_LOCK = 'cluster';

const DB_NOW = `SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint AS now`;
const BEAT_NODE = `WITH old AS (SELECT instance, last_seen FROM nodes WHERE node_id = $1)
  INSERT INTO nodes (node_id, instance, last_seen) VALUES ($1, $2, $3)
  ON CONFLICT (node_id) DO UPDATE SET instance = excluded.instance, last_seen = excluded.last_seen
  RETURNING (SELECT instance FROM old) AS "oldInstance", (SELECT last_seen FROM old) AS "oldSeen"`;
const DROP_SILENT_NODES = `DELETE FROM nodes WHERE last_seen < $1`;
const CLEAR_MEMBERS = `DELETE FROM consumer_members WHERE node = $1 OR expires_at < $2`;
const SET_MEMBERS = `INSERT INTO consumer_members (consumer, node, members, in_flight, expires_at)
  SELECT r.c, $1, r.m, r.f, $2 FROM unnest($3::text[], $4::int[], $5::int[]) AS r(c, m, f)
  WHERE EXISTS (SELECT 1 FROM consumers WHERE id = r.c)`;
// A consumer's partitions start at its position.
const ADD_PARTITIONS = `INSERT INTO consumer_partitions (consumer, partition, position)
  SELECT c.id, p, c.position FROM consumers c CROSS JOIN generate_series(0, $2::int - 1) AS p WHERE c.id = ANY($1::text[])
  ON CONFLICT DO NOTHING`;
// Given up cleanly, every attempt count is written: the next holder has nothing to count again, unless
// part of a crash's range was never read here (keep).
const RELEASE = `UPDATE consumer_partitions cp SET node = NULL, expires_at = 0, reserved_seq = CASE WHEN r.k THEN cp.reserved_seq ELSE 0 END
  FROM unnest($2::text[], $3::int[], $4::boolean[]) AS r(c, p, k) WHERE cp.consumer = r.c AND cp.partition = r.p AND cp.node = $1`;
const RENEW = `UPDATE consumer_partitions SET expires_at = $2 WHERE node = $1`;
const ACQUIRE = `UPDATE consumer_partitions cp SET node = $1, expires_at = $2
  FROM unnest($4::text[], $5::int[]) AS r(c, p)
  WHERE cp.consumer = r.c AND cp.partition = r.p AND (cp.node IS NULL OR cp.expires_at < $3)`;
const DROP_LEASES = `DELETE FROM leases WHERE node = $1 AND NOT (name = ANY($2::text[]))`;
const TAKE_LEASES = `INSERT INTO leases (name, node, expires_at) SELECT n, $1, $2 FROM unnest($4::text[]) AS n
  ON CONFLICT (name) DO UPDATE SET node = excluded.node, expires_at = excluded.expires_at
  WHERE leases.node = excluded.node OR leases.expires_at < $3
  RETURNING name`;
const HELD = `SELECT consumer, partition, position, reserved_seq AS reserved FROM consumer_partitions WHERE node = $1`;
const MEMBERS = `SELECT consumer, node, members, in_flight AS "inFlight" FROM consumer_members ORDER BY consumer, node`;
const NODES = `SELECT node_id AS node, last_seen AS "lastSeen" FROM nodes ORDER BY node_id`;
const ANNOUNCE = `SELECT pg_notify($1, $2)`;
// PostgreSQL refuses a payload of 8,000 bytes or more; past this the consumers are left out, meaning any.
const MAX_ANNOUNCE_BYTES = 7000;

/** A heartbeat's announcement: who sent it, and the consumers it concerns (undefined: any). */
export function announcement(from: string, consumers: readonly string[]): string {
  const payload = JSON.stringify({ from, consumers });
  return Buffer.byteLength(payload) <= MAX_ANNOUNCE_BYTES ? payload : JSON.stringify({ from });
}

export function parseAnnouncement(payload: string | undefined): { from: string; consumers: string[] | undefined } | undefined {
  try {
    const a = JSON.parse(payload ?? '') as { from?: unknown; consumers?: unknown } | null;
    if (typeof a?.from !== 'string') return undefined;
    const consumers = Array.isArray(a.consumers) && a.consumers.every((c) => typeof c === 'string') ? a.consumers : undefined;
    return { from: a.from, consumers };
  } catch {
    return undefined; // not ours
  }
}

export interface BeatResult {
  readonly view: ClusterView;
  /** Another process beat under this broker's name lately. */
  readonly clash: boolean;
}

/** One heartbeat, inside the caller's transaction (which holds the cluster lock); its announcement goes on `channel` at commit. */
export async function heartbeat(c: pg.PoolClient, node: string, instance: string, beat: Heartbeat, channel: string): Promise<BeatResult> {
  const now = (await c.query<{ now: number }>(DB_NOW)).rows[0]!.now;
  // The rows of the consumers whose partitions move before the partitions' rows, as a progress batch takes them.
  const moved = [...new Set(beat.release.map((r) => r.consumer))];
  if (moved.length > 0) await c.query(LOCK_CONSUMERS, [moved]);
  const until = now + beat.ttlMs;
  const seen = (await c.query<{ oldInstance: string | null; oldSeen: number | null }>(BEAT_NODE, [node, instance, now])).rows[0]!;
  const clash = seen.oldInstance !== null && seen.oldInstance !== instance && seen.oldSeen! >= now - beat.nodeTimeoutMs;
  await c.query(DROP_SILENT_NODES, [now - beat.nodeTimeoutMs]);
  await c.query(CLEAR_MEMBERS, [node, now]);
  const ids = beat.members.map((m) => m.consumer);
  if (ids.length > 0) {
    await c.query(SET_MEMBERS, [node, until, ids, beat.members.map((m) => m.members), beat.members.map((m) => m.inFlight)]);
    await c.query(ADD_PARTITIONS, [ids, beat.partitions]);
  }
  if (beat.release.length > 0) {
    const r = beat.release;
    await c.query(RELEASE, [node, r.map((x) => x.consumer), r.map((x) => x.partition), r.map((x) => x.keep === true)]);
  }
  await c.query(RENEW, [node, until]);
  if (beat.want.length > 0) await c.query(ACQUIRE, [node, until, now, beat.want.map((w) => w.consumer), beat.want.map((w) => w.partition)]);
  if (moved.length > 0) await c.query(CONSUMER_POSITIONS, [moved]);
  await c.query(DROP_LEASES, [node, beat.leases]);
  const taken = beat.leases.length === 0 ? [] : (await c.query<{ name: string }>(TAKE_LEASES, [node, until, now, beat.leases])).rows;
  const held = new Map<string, Map<number, number>>();
  const reserved = new Map<string, Map<number, number>>();
  for (const r of (await c.query<{ consumer: string; partition: number; position: number; reserved: number }>(HELD, [node])).rows) {
    let of = held.get(r.consumer);
    if (of === undefined) held.set(r.consumer, (of = new Map<number, number>()));
    of.set(r.partition, r.position);
    let marks = reserved.get(r.consumer);
    if (marks === undefined) reserved.set(r.consumer, (marks = new Map<number, number>()));
    marks.set(r.partition, r.reserved);
  }
  const members = new Map<string, ConsumerMembers[]>();
  for (const r of (await c.query<ConsumerMembers & { consumer: string }>(MEMBERS)).rows) {
    let of = members.get(r.consumer);
    if (of === undefined) members.set(r.consumer, (of = []));
    of.push({ node: r.node, members: r.members, inFlight: r.inFlight });
  }
  const nodes = (await c.query<{ node: string; lastSeen: number }>(NODES)).rows;
  if (beat.announce.length > 0) await c.query(ANNOUNCE, [channel, announcement(instance, beat.announce)]);
  const consumers = (await c.query<StoredConsumerRow>(LIST_CONSUMERS)).rows.map(parseConsumer);
  return { view: { consumers, held, reserved, members, leases: new Set(taken.map((t) => t.name)), nodes }, clash };
}
