// Transactional consume (bus.consume, src/embed/transactional-consumer.ts) when things go wrong: a handler
// that always throws is retried EVENTBUS_MAX_DELIVERIES times and dead-lettered with nothing applied, a handler
// that returns a promise is rolled back, bus.close() ends a waiting consume loop cleanly, and a handler that
// closes its own consumer leaves every message applied exactly once for the consumer that takes over. Each
// test opens the bus on a database of its own, on either store.
import { describe, expect, it } from 'vitest';
import { onPostgres } from '../helpers/broker.js';
import { openTestEventBus, txSql } from '../helpers/embedded.js';
import { query, sleep, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();

describe('transactional consume: failing handlers and closing the bus', () => {
  it('a handler that throws on every delivery: called EVENTBUS_MAX_DELIVERIES times, spaced by retryDelayMs, then dead-lettered; nothing applied', async () => {
    const dir = await scope.dir();
    const { bus, exec, consume } = await openTestEventBus(dir, { maxDeliveries: 4 });
    scope.defer(() => bus.close());
    await exec('CREATE TABLE applied (seq INTEGER PRIMARY KEY)');
    const calls: { seq: number; delivery: number; at: number }[] = [];
    const consumer = (
      await consume({ pattern: 'poison.*', consumer: 'poison', retryDelayMs: 40 }, (m, tx, delivery) => {
        calls.push({ seq: m.seq, delivery, at: Date.now() });
        return txSql(tx, 'INSERT INTO applied (seq) VALUES (?)', [m.seq], () => {
          throw new Error('always fails');
        });
      })
    )._unsafeUnwrap();
    const ok = (await consume({ pattern: 'fine.*', consumer: 'fine' }, () => undefined))._unsafeUnwrap();
    const { seq } = (await bus.broker.publish({ topic: 'poison.pill', payload: 'x' }))._unsafeUnwrap();
    await until('dead letter', () => query<{ n: number }>(dir, 'SELECT count(*) AS n FROM dead_letters WHERE consumer = ?', 'poison')[0]!.n === 1);
    await sleep(200);
    expect(calls.map((c) => c.delivery)).toEqual([1, 2, 3, 4]);
    for (let i = 1; i < calls.length; i++) expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(30);
    expect(query(dir, 'SELECT count(*) AS n FROM applied')).toEqual([{ n: 0 }]);
    const dead = query<{ seq: number; deliveries: number }>(dir, 'SELECT seq, deliveries FROM dead_letters WHERE consumer = ?', 'poison');
    expect(dead).toEqual([{ seq, deliveries: 4 }]);
    await consumer.close();
    await ok.close();
  });

  // SQLite's: its transaction cannot stay open across an await. On PostgreSQL a handler awaits its queries
  // (test/embed/postgres-embed.test.ts).
  it.skipIf(onPostgres)('a handler that returns a promise is rolled back and retried (the rows it wrote synchronously are not kept)', async () => {
    const dir = await scope.dir();
    const { bus, exec, consume } = await openTestEventBus(dir, { maxDeliveries: 2 });
    scope.defer(() => bus.close());
    await exec('CREATE TABLE applied (seq INTEGER PRIMARY KEY)');
    let calls = 0;
    (
      await consume({ pattern: 'async.*', consumer: 'async', retryDelayMs: 10 }, async (m, tx) => {
        calls++;
        await txSql(tx, 'INSERT INTO applied (seq) VALUES (?)', [m.seq]);
      })
    )._unsafeUnwrap();
    (await bus.broker.publish({ topic: 'async.x', payload: 'x' }))._unsafeUnwrap();
    await until('two attempts', () => calls >= 2);
    await sleep(100);
    expect(query(dir, 'SELECT count(*) AS n FROM applied')).toEqual([{ n: 0 }]);
  });

  it('bus.close() while a consume loop waits: the loop ends, the consumer close() afterwards resolves, later publishes fail cleanly', async () => {
    const dir = await scope.dir();
    const { bus, exec, consume } = await openTestEventBus(dir);
    await exec('CREATE TABLE applied (seq INTEGER PRIMARY KEY)');
    let handled = 0;
    const consumer = (
      await consume({ pattern: 'live.*', consumer: 'live' }, (m, tx) => {
        handled++;
        return txSql(tx, 'INSERT INTO applied (seq) VALUES (?)', [m.seq]);
      })
    )._unsafeUnwrap();
    for (let i = 0; i < 50; i++) void bus.broker.publish({ topic: 'live.x', payload: String(i) }).mapErr(() => undefined);
    // Then the loop waits for more (on SQLite the handler runs as each commit lands; on PostgreSQL each takes
    // a few round trips, so the close would otherwise come mid-stream).
    await until('all handled', () => handled === 50);
    await bus.close();
    await Promise.race([consumer.close(), sleep(3000).then(() => Promise.reject(new Error('consumer.close() hung after bus.close()')))]);
    expect((await bus.broker.publish({ topic: 'live.x', payload: 'late' })).isErr()).toBe(true);
    // What was applied is exactly what was recorded as processed for the consumer.
    const applied = query<{ seq: number }>(dir, 'SELECT seq FROM applied ORDER BY seq').map((r) => r.seq);
    const processed = query<{ seq: number }>(dir, "SELECT seq FROM processed_messages WHERE consumer = 'live' ORDER BY seq").map((r) => r.seq);
    expect(processed).toEqual(expect.arrayContaining(applied));
    expect(applied.length).toBe(50);
  });
});

describe('transactional consume: close() from inside the handler', () => {
  it('each message is applied once even when the handler closes its consumer, and a new consumer of the same name takes over', async () => {
    const dir = await scope.dir();
    const { bus, exec, consume } = await openTestEventBus(dir);
    scope.defer(() => bus.close());
    await exec('CREATE TABLE applied (seq INTEGER NOT NULL, taker TEXT NOT NULL)');
    let closing: Promise<void> | undefined;
    const first: { close(): Promise<void> } = (
      await consume({ pattern: 'job.*', consumer: 'jobs' }, (m, tx) =>
        txSql(tx, 'INSERT INTO applied (seq, taker) VALUES (?, ?)', [m.seq, 'first'], () => {
          // "Stops after the message in hand": a handler that decides to stop (shutdown signal, poison message...).
          closing ??= first.close();
        }),
      )
    )._unsafeUnwrap();
    const published = (await bus.broker.publishBatch([1, 2, 3, 4, 5].map((i) => ({ topic: 'job.x', payload: String(i) }))))._unsafeUnwrap();
    await until('the first consumer to stop', () => closing !== undefined);
    await closing;
    // A new consumer of the same name (same process) takes over what the first one did not finish.
    (
      await consume({ pattern: 'job.*', consumer: 'jobs' }, (m, tx) => txSql(tx, 'INSERT INTO applied (seq, taker) VALUES (?, ?)', [m.seq, 'second']))
    )._unsafeUnwrap();
    await until('every message applied', () => query<{ n: number }>(dir, 'SELECT count(DISTINCT seq) AS n FROM applied')[0]!.n === published.length);
    await sleep(300);
    const rows = query<{ seq: number; n: number }>(dir, 'SELECT seq, count(*) AS n FROM applied GROUP BY seq ORDER BY seq');
    expect(rows.map((r) => r.seq)).toEqual(published.map((p) => p.seq));
    expect(rows.filter((r) => r.n > 1)).toEqual([]); // exactly-once effects: no message applied twice
  });
});
