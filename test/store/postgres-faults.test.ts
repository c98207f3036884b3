// Broker processes whose PostgreSQL connections are cut under them (pg_terminate_backend, as a failover or
// an administrator would): publishes in flight answer UNAVAILABLE or OK, and every OK is stored with its seq
// and payload (never a false OK); the brokers reconnect by themselves, later publishes succeed, and
// subscribers on the publishing broker and on another one see the whole stored log in order with no gap.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { EventBusError } from '../../src/client/index.js';
import { pgBrokers } from '../helpers/pg-brokers.js';
import { pgQuery } from '../helpers/postgres.js';
import { until } from '../helpers/until.js';

const cluster = pgBrokers();

/** Terminates every connection of the brokers named `<name>-<i>`; returns how many there were. */
async function cut(name: string): Promise<number> {
  const rows = await pgQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE starts_with(application_name, $1)', [`eventbus:${name}-`]);
  return rows.length;
}

describe('PostgreSQL connections cut under a broker', () => {
  test('publishes answer UNAVAILABLE or a true OK, the brokers reconnect by themselves, and no subscriber misses anything', async () => {
    const name = `cut-${randomBytes(4).toString('hex')}`;
    const { schema, nodes } = await cluster.start(2, {}, name);
    const publisher = await cluster.client(nodes[0]!);
    const received: number[][] = [];
    for (const node of nodes) {
      const seqs: number[] = [];
      received.push(seqs);
      const sub = await (await cluster.client(node)).subscribe('cut.>', { fromSeq: 1 });
      void (async () => {
        for await (const m of sub) seqs.push(m.seq);
      })().catch(() => undefined);
    }

    const answered = new Map<string, number>(); // message id → seq answered OK
    const refused: string[] = [];
    let cuts = 0;
    // Several publishes in flight at once, so that connections are cut while appends are on them.
    const publishAll = async (from: number, to: number): Promise<void> => {
      await Promise.all(
        Array.from({ length: to - from }, async (_, k) => {
          const id = `m${from + k}`;
          try {
            answered.set(id, await publisher.publish('cut.x', { i: from + k }, { messageId: id }));
          } catch (e) {
            expect(e).toBeInstanceOf(EventBusError);
            expect((e as EventBusError).code).toBe('UNAVAILABLE');
            refused.push(id);
          }
        }),
      );
    };
    await publishAll(0, 50);
    for (let round = 0; round < 3; round++) {
      const burst = publishAll(50 + round * 50, 100 + round * 50);
      cuts += await cut(name);
      await burst;
    }
    expect(cuts).toBeGreaterThan(0);
    const alive = (): void => {
      for (const node of nodes) expect(node.child.exitCode, `a broker ended when its connections were cut:\n${node.stderr().slice(-3000)}`).toBeNull();
    };
    alive();
    // Reconnected by itself: publishes succeed again without a restart. A probe can wait out the client's
    // request timeout (10 s) once, when it went to a connection that was being cut; give it room for two.
    await until('publishes succeed again', async () => {
      try {
        await publisher.publish('cut.probe', {});
        return true;
      } catch {
        return false;
      }
    }, 25_000, 100);
    await publishAll(200, 250);
    for (let i = 200; i < 250; i++) expect(answered.has(`m${i}`)).toBe(true);

    const stored = await pgQuery<{ seq: number; message_id: string; payload: string }>('SELECT seq, message_id, payload FROM messages ORDER BY seq', [], schema);
    const byId = new Map(stored.map((r) => [r.message_id, r]));
    for (const [id, seq] of answered) {
      expect(byId.get(id)?.seq).toBe(seq);
      expect(JSON.parse(byId.get(id)!.payload)).toEqual({ i: Number(id.slice(1)) });
    }
    // Each subscriber sees every stored message in seq order, no gap, no repeat.
    const all = stored.map((r) => r.seq);
    for (const [i, seqs] of received.entries()) {
      await until(() => `the subscriber on broker ${i} has the whole log (${seqs.length} of ${all.length}, last ${seqs.at(-1)} of ${all.at(-1)})`, () => seqs.length >= all.length, 15_000);
      expect(seqs).toEqual(all);
    }
    alive();
  }, 90_000);
});
