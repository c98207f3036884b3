// A disk that fills up under a running broker process (PROTOCOL.md §3, §8): publishes are answered
// UNAVAILABLE, /healthz and /readyz say 503 for as long as the database cannot be written and 200 again once it can,
// nothing already acknowledged is lost, and stopping the broker never ends in an unhandled rejection.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { killIfRunning, startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { lineClient, type LineClient } from '../helpers/line-client.js';
import { sleep } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { mountTmpfs, tmpfsAvailable, type Tmpfs } from '../helpers/tmpfs.js';

let disk: Tmpfs | undefined;
let bus: BrokerProcess | undefined;
afterEach(async () => {
  await killIfRunning(bus);
  bus = undefined;
  await disk?.unmount();
  disk = undefined;
});

async function healthz(port: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Polls /healthz until it answers `status`; resolves with that answer's body. */
async function untilHealth(port: number, status: number, timeoutMs = 5000): Promise<Record<string, unknown>> {
  let last: { status: number; body: Record<string, unknown> } | undefined;
  const answer = await until(
    () => `/healthz to answer ${status} (it answers ${last?.status}: ${JSON.stringify(last?.body)})`,
    async () => {
      last = await healthz(port);
      return last.status === status && last;
    },
    timeoutMs,
  );
  return answer.body;
}

/** Publishes until one is refused; returns the seqs acknowledged on the way and the refusal. */
async function publishUntilRefused(conn: LineClient, limit: number): Promise<{ acked: number[]; refusal: string }> {
  const acked: number[] = [];
  const payload = 'p'.repeat(2000);
  for (let i = 0; i < limit; i++) {
    const reply = await conn.send(`disk.fill:${i} ${payload}`);
    if (!reply.startsWith('OK ')) return { acked, refusal: reply };
    acked.push(Number(reply.split(' ')[1]));
  }
  throw new Error(`${limit} publishes on a full disk were all acknowledged`);
}

describe.skipIf(!tmpfsAvailable)('a full disk under a running broker (needs root to mount a tmpfs)', () => {
  test('disk full: publishes answer UNAVAILABLE and /healthz 503 until space is freed, then both recover by themselves', async () => {
    disk = await mountTmpfs(16 * 1024 * 1024);
    const dbPath = join(disk.dir, 'bus.db');
    bus = await startBrokerProcess({ EVENTBUS_DB: dbPath });
    const conn = await lineClient(bus.ports.transport);
    expect(await conn.send('disk.before:1')).toMatch(/^OK \d+$/);
    expect((await healthz(bus.ports.http)).status).toBe(200);

    await disk.fill();
    const { acked, refusal } = await publishUntilRefused(conn, 20_000);
    expect(refusal).toMatch(/^ERR UNAVAILABLE storage unavailable \(SQLITE_FULL/);
    const unhealthy = await healthz(bus.ports.http);
    expect(unhealthy).toMatchObject({ status: 503, body: { status: 'unavailable', code: 'UNAVAILABLE' } });
    expect(String(unhealthy.body.message)).toContain('SQLITE_FULL');
    // The probes: not ready while the database cannot be written, alive all the same.
    const probe = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${bus!.ports.http}${path}`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect(await probe('/readyz')).toEqual({ status: 503, body: { status: 'unavailable' } });
    expect(await probe('/livez')).toEqual({ status: 200, body: { status: 'ok' } });
    // The broker keeps trying the file on its own: while it is still full, that changes nothing.
    await sleep(1500);
    expect((await healthz(bus.ports.http)).status).toBe(503);

    await disk.free();
    expect(await untilHealth(bus.ports.http, 200)).toMatchObject({ status: 'ok' });
    expect(await probe('/readyz')).toEqual({ status: 200, body: { status: 'ok' } });
    const after = await conn.send('disk.after:1');
    expect(after).toMatch(/^OK \d+$/);
    conn.destroy();

    bus.signal('SIGTERM');
    expect(await bus.exited()).toEqual({ code: 0, signal: null });
    const db = new Database(dbPath, { readonly: true });
    const stored = new Set(db.prepare('SELECT seq FROM messages').pluck().all() as number[]);
    db.close();
    expect(acked.filter((seq) => !stored.has(seq))).toEqual([]);
    expect(stored.has(Number(after.split(' ')[1]))).toBe(true);
    expect(bus.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['the database cannot be written; publishes are answered UNAVAILABLE until it can', 'the database can be written again']));
  });

  test('disk full at SIGINT: the broker still stops cleanly, exit 0, no unhandled rejection, nothing acknowledged lost', async () => {
    disk = await mountTmpfs(16 * 1024 * 1024);
    const dbPath = join(disk.dir, 'bus.db');
    bus = await startBrokerProcess({ EVENTBUS_DB: dbPath });
    const conn = await lineClient(bus.ports.transport);
    await disk.fill();
    const { acked } = await publishUntilRefused(conn, 20_000);
    conn.destroy();
    bus.signal('SIGINT');
    expect(await bus.exited()).toEqual({ code: 0, signal: null });
    expect(bus.stderr()).not.toContain('unhandled rejection');
    expect(bus.stderr()).not.toContain('    at ');
    await disk.free();
    const db = new Database(dbPath, { readonly: true });
    const stored = new Set(db.prepare('SELECT seq FROM messages').pluck().all() as number[]);
    db.close();
    expect(acked.filter((seq) => !stored.has(seq))).toEqual([]);
  });
});
