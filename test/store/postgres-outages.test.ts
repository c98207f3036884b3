// A broker whose PostgreSQL goes away for a while, in the two ways a server does: it refuses connections
// (a restart, a failover, max_connections), or it takes them but cannot write (a standby promoted late, a
// database set read-only, a full disk). Each test gives the broker a role of its own, so that the outage is
// the broker's alone: the role is refused login, or made read-only, and its connections are cut. Publishes
// answer UNAVAILABLE or a true OK, /healthz says 503 while the database cannot be written, and once it is
// back the broker serves again by itself, its subscriber seeing every stored message in order with no gap.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { connect, EventBusError, type EventBusClient } from '../../src/client/index.js';
import { killIfRunning, startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { PG_URL } from '../helpers/postgres.js';
import { sleep } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

// Roles are made and altered by the machine's superuser, on the tests' database.
const ADMIN_URL = (() => {
  const u = new URL(process.env.EVENTBUS_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  u.pathname = new URL(PG_URL).pathname;
  return u.toString();
})();

async function admin<T extends pg.QueryResultRow = Record<string, unknown>>(text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    // Several statements in one text answer a result each: the last one's rows are the answer.
    const results = ([] as pg.QueryResult<T>[]).concat(await client.query<T>(text));
    return results[results.length - 1]!.rows;
  } finally {
    await client.end();
  }
}

const roles: string[] = [];
let bus: BrokerProcess | undefined;
let client: EventBusClient | undefined;
afterEach(async () => {
  client?.close();
  await killIfRunning(bus);
});
afterAll(async () => {
  for (const role of roles) await admin(`DROP OWNED BY ${role} CASCADE; DROP ROLE ${role}`);
});

/** A broker on a schema of its own, connected as a role of its own; a subscriber from seq 1. */
async function start(env: Record<string, string> = {}): Promise<{ role: string; seen: number[] }> {
  const role = `eb_outage_${randomBytes(4).toString('hex')}`;
  roles.push(role);
  const database = new URL(PG_URL).pathname.slice(1);
  await admin(`CREATE ROLE ${role} LOGIN; GRANT CONNECT, CREATE ON DATABASE ${database} TO ${role}`);
  const url = new URL(PG_URL);
  url.username = role;
  bus = await startBrokerProcess({ EVENTBUS_DB: url.toString(), EVENTBUS_PG_SCHEMA: role, ...env });
  client = await connect(`ws://127.0.0.1:${bus.ports.http}/ws`, { reconnectIntervalMs: 50, maxRetries: 3, requestTimeoutMs: 10_000 });
  const seen: number[] = [];
  const sub = await client.subscribe('outage.>', { fromSeq: 1 });
  void (async () => {
    for await (const m of sub) seen.push(m.seq);
  })().catch(() => undefined);
  return { role, seen };
}

async function health(): Promise<number> {
  return (await fetch(`http://127.0.0.1:${bus!.ports.http}/healthz`)).status;
}

/** Publishes `count` messages a few at a time; answers the seqs answered OK and how many were refused. */
async function publishSome(count: number, tag: string): Promise<{ ok: Map<string, number>; refused: number }> {
  const ok = new Map<string, number>();
  let refused = 0;
  for (let i = 0; i < count; i += 5) {
    await Promise.all(
      Array.from({ length: 5 }, async (_, k) => {
        const id = `${tag}-${i + k}`;
        try {
          ok.set(id, await client!.publish('outage.x', { id }, { messageId: id }));
        } catch (e) {
          // Never a false OK, and never anything but UNAVAILABLE.
          expect(e).toBeInstanceOf(EventBusError);
          expect((e as EventBusError).code).toBe('UNAVAILABLE');
          refused++;
        }
      }),
    );
  }
  return { ok, refused };
}

/** The role's connections cut, as a server restart or a failover cuts them. */
async function cut(role: string): Promise<void> {
  await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`);
}

async function expectAllStored(role: string, answered: Map<string, number>[], seen: number[]): Promise<void> {
  const stored = await admin<{ seq: string; message_id: string }>(`SELECT seq, message_id FROM ${role}.messages WHERE topic = 'outage.x' ORDER BY seq`);
  const byId = new Map(stored.map((r) => [r.message_id, Number(r.seq)]));
  for (const ok of answered) for (const [id, seq] of ok) expect(byId.get(id), id).toBe(seq);
  const all = stored.map((r) => Number(r.seq));
  await until('the subscriber to see every stored message', () => seen.length >= all.length, 10_000);
  expect(seen).toEqual(all);
}

describe('PostgreSQL unavailable for a while', () => {
  test('refusing connections: publishes answer UNAVAILABLE, /healthz 503, and the broker serves again once PostgreSQL takes connections', async () => {
    const { role, seen } = await start();
    const before = await publishSome(20, 'before');
    expect(before.refused).toBe(0);

    await admin(`ALTER ROLE ${role} NOLOGIN`);
    await cut(role);
    const during = await publishSome(20, 'during');
    expect(during.refused).toBeGreaterThan(0);
    await until('/healthz to answer 503', async () => (await health()) === 503, 15_000);
    // Still refused a while later: the broker keeps trying without giving up or exiting.
    await sleep(1500);
    expect(await health()).toBe(503);

    await admin(`ALTER ROLE ${role} LOGIN`);
    await until('/healthz to answer 200', async () => (await health()) === 200, 20_000, 100);
    await until('publishes to succeed again', async () => (await publishSome(5, `probe-${Date.now()}`)).refused === 0, 20_000, 200);
    const after = await publishSome(20, 'after');
    expect(after.refused).toBe(0);
    await expectAllStored(role, [before.ok, during.ok, after.ok], seen);
  });

  test('taking connections but unable to write (read-only): publishes answer UNAVAILABLE, /healthz 503, then both recover', async () => {
    const { role, seen } = await start();
    const before = await publishSome(20, 'before');
    expect(before.refused).toBe(0);

    await admin(`ALTER ROLE ${role} SET default_transaction_read_only = on`);
    await cut(role);
    await until('a publish to be refused', async () => (await publishSome(5, `ro-${Date.now()}`)).refused > 0, 15_000, 100);
    const during = await publishSome(20, 'during');
    expect(during.ok.size).toBe(0);
    await until('/healthz to answer 503', async () => (await health()) === 503, 15_000);

    await admin(`ALTER ROLE ${role} RESET default_transaction_read_only`);
    await cut(role);
    await until('/healthz to answer 200', async () => (await health()) === 200, 20_000, 100);
    await until('publishes to succeed again', async () => (await publishSome(5, `probe-${Date.now()}`)).refused === 0, 20_000, 200);
    const after = await publishSome(20, 'after');
    expect(after.refused).toBe(0);
    await expectAllStored(role, [before.ok, after.ok], seen);
  });

  test('a lock held by another session (a transaction left open on log_head): publishes answer UNAVAILABLE after EVENTBUS_PG_LOCK_TIMEOUT_MS, not never', async () => {
    const { role, seen } = await start({ EVENTBUS_PG_LOCK_TIMEOUT_MS: '300' });
    const before = await publishSome(5, 'before');
    expect(before.refused).toBe(0);
    const holder = new pg.Client({ connectionString: ADMIN_URL });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT * FROM ${role}.log_head FOR UPDATE`);
      const t = performance.now();
      const during = await publishSome(5, 'during');
      expect(during.refused).toBe(5);
      // Well before the client's own request timeout (10 s): the broker answered.
      expect(performance.now() - t).toBeLessThan(5000);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    await until('publishes to succeed again', async () => (await publishSome(5, `probe-${Date.now()}`)).refused === 0, 20_000, 200);
    const after = await publishSome(10, 'after');
    expect(after.refused).toBe(0);
    await expectAllStored(role, [before.ok, after.ok], seen);
  });
});
