// Several broker processes on one PostgreSQL log, as users run them: each its own ports, the same
// EVENTBUS_DB and EVENTBUS_PG_SCHEMA. What is published on one is replayed and followed live on another, in
// seq order with no gap; publishers on every broker get unique seqs; a broker killed with SIGKILL loses
// nothing it answered and leaves the others serving.
import { describe, expect, test } from 'vitest';
import type { BrokerProcess } from '../helpers/broker-process.js';
import { pgBrokers } from '../helpers/pg-brokers.js';
import { pgQuery } from '../helpers/postgres.js';
import { until } from '../helpers/until.js';

const cluster = pgBrokers();
const brokers = (n: number) => cluster.start(n);
const client = (node: BrokerProcess) => cluster.client(node);

/** The next `n` seqs a subscription receives. */
async function take(sub: { next(timeoutMs?: number): Promise<{ seq: number } | undefined> }, n: number): Promise<number[]> {
  const seqs: number[] = [];
  while (seqs.length < n) {
    const m = await sub.next(10_000);
    if (m === undefined) break;
    seqs.push(m.seq);
  }
  return seqs;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('brokers on one PostgreSQL log', () => {
  test('published on one broker, replayed and then followed live on another, in seq order with no gap', async () => {
    const { nodes } = await brokers(2);
    const [onA, onB] = [await client(nodes[0]!), await client(nodes[1]!)];
    for (let i = 0; i < 30; i++) await onA.publish('orders.created', { i });
    const sub = await onB.subscribe('orders.*', { fromSeq: 1 });
    expect(await take(sub, 30)).toEqual(range(1, 30));
    // Live now: publishes on A reach B's subscriber through the notification.
    await Promise.all(Array.from({ length: 30 }, (_, i) => onA.publish('orders.shipped', { i })));
    expect(await take(sub, 30)).toEqual(range(31, 60));
  });

  test('a broker nobody subscribes to follows the others lazily; a subscribe there starts after every broker\'s commits', async () => {
    const { nodes } = await brokers(2);
    const [onA, onB] = [await client(nodes[0]!), await client(nodes[1]!)];
    const before = await Promise.all(Array.from({ length: 50 }, (_, i) => onA.publish('quiet.a', { i })));
    // B has heard of them by now, but with nobody subscribed it has not read them yet.
    await new Promise((resolve) => setTimeout(resolve, 60));
    const sub = await onB.subscribe('quiet.*');
    const after = await onA.publish('quiet.a', { i: 50 });
    expect(Math.max(...before)).toBeLessThan(after);
    expect(await take(sub, 1)).toEqual([after]);
    expect(await sub.next(300)).toBeUndefined();
    await sub.close();
    // Nobody subscribed again: B still counts what A publishes and moves its head, a few times a second.
    const more = await Promise.all(Array.from({ length: 20 }, (_, i) => onA.publish('quiet.b', { i })));
    const metrics = async () => (await fetch(`http://127.0.0.1:${nodes[1]!.ports.http}/metrics`)).text();
    await until('B to count A\'s messages', async () => (await metrics()).includes('eventbus_topic_published_total{topic="quiet.b"} 20'));
    expect(await metrics()).toContain(`eventbus_head_seq ${Math.max(...more)}`);
  });

  test('publishers on three brokers at once: unique seqs, and every broker\'s subscriber sees the same log in order', async () => {
    const { nodes, schema } = await brokers(3);
    const pubs = await Promise.all(nodes.map((n) => client(n)));
    const subs = await Promise.all(pubs.map((c) => c.subscribe('load.>', { fromSeq: 1 })));
    const answered = (
      await Promise.all(pubs.map((c, b) => Promise.all(Array.from({ length: 60 }, (_, i) => c.publish(`load.b${b}`, { i }, { messageId: `b${b}-${i}` })))))
    ).flat();
    expect(new Set(answered).size).toBe(180);
    const stored = await pgQuery<{ seq: number }>('SELECT seq FROM messages ORDER BY seq', [], schema);
    expect(stored.map((r) => r.seq).sort((a, b) => a - b)).toEqual([...answered].sort((a, b) => a - b));
    for (const sub of subs) expect(await take(sub, 180)).toEqual(stored.map((r) => r.seq));
  });

  test('a broker killed with SIGKILL mid-stream: every publish it answered is stored; the other broker goes on serving', async () => {
    const { nodes, schema } = await brokers(2);
    const [onA, onB] = [await client(nodes[0]!), await client(nodes[1]!)];
    const answered: number[] = [];
    let stop = false;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        const seq = await onA.publish('crash.a', { i }).catch(() => undefined);
        if (seq === undefined) return;
        answered.push(seq);
      }
    })();
    while (answered.length < 50) await new Promise((r) => setTimeout(r, 10));
    nodes[0]!.signal('SIGKILL');
    await nodes[0]!.exited();
    stop = true;
    await load;
    const stored = new Set((await pgQuery<{ seq: number }>('SELECT seq FROM messages', [], schema)).map((r) => r.seq));
    expect(answered.filter((s) => !stored.has(s))).toEqual([]);
    const after = await onB.publish('crash.b', { after: true });
    expect(after).toBeGreaterThan(Math.max(...answered));
  });
});
