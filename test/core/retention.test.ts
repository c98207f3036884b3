// Retention on a real database, driven by a controllable clock instead of sleeping: TTL expiry, the
// default TTL, max-age and max-messages rules per pattern, large removals done in bounded batches, the acks of
// removed messages and consumers, and the age limit of the push failure log.
import { describe, expect, test } from 'vitest';
import type { Broker, BrokerConfig } from '../../src/core/broker.js';
import type { PublishInput } from '../../src/core/types.js';
import type { TestDb } from '../helpers/broker.js';
import { positionReaches, query, sleep, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const scope = testScope();

/** The wall clock plus an offset the test moves forward. Commit times (created_at) stay on the wall clock. */
interface Clock {
  now(): number;
  advance(ms: number): void;
  /** Pins the clock to `ms` (ms since the epoch). */
  set(ms: number): void;
}

function clock(): Clock {
  let offset = 0;
  let pinned: number | undefined;
  return {
    now: () => pinned ?? Date.now() + offset,
    advance: (ms) => {
      offset += ms;
    },
    set: (ms) => {
      pinned = ms;
    },
  };
}

async function start(overrides: Partial<BrokerConfig> = {}): Promise<{ broker: Broker; db: TestDb; clock: Clock }> {
  const c = clock();
  return { ...(await scope.start(overrides, () => c.now())), clock: c };
}

async function publishAll(broker: Broker, inputs: readonly PublishInput[]): Promise<number[]> {
  const seqs: number[] = [];
  // publishBatch commits at most a few thousand rows per transaction anyway; chunks keep each call small.
  for (let i = 0; i < inputs.length; i += 1000) {
    const out = (await broker.publishBatch(inputs.slice(i, i + 1000)))._unsafeUnwrap();
    seqs.push(...out.map((p) => p.seq));
  }
  return seqs;
}

const many = (n: number, topic: string, extra: Partial<PublishInput> = {}): PublishInput[] =>
  Array.from({ length: n }, (_, i) => ({ topic, payload: `${topic}#${i}`, ...extra }));

const storedSeqs = (db: TestDb): number[] => query<{ seq: number }>(db, 'SELECT seq FROM messages ORDER BY seq').map((r) => r.seq);
const storedTopics = (db: TestDb): string[] =>
  query<{ topic: string }>(db, 'SELECT topic FROM messages ORDER BY seq').map((r) => r.topic);

function storedByTopic(broker: Broker): Record<string, number> {
  return Object.fromEntries(broker.stats().topics.filter((t) => t.stored > 0).map((t) => [t.topic, t.stored]));
}

describe('TTL', () => {
  test('expired messages are removed, unexpired ones kept, and topic counts follow', async () => {
    const { broker, db, clock } = await start();
    const short = await publishAll(broker, many(3, 'short', { ttlSeconds: 10 }));
    const forever = await publishAll(broker, many(2, 'forever', { ttlSeconds: 0 }));
    const long = await publishAll(broker, many(1, 'long', { ttlSeconds: 60 }));
    expect(storedByTopic(broker)).toEqual({ short: 3, forever: 2, long: 1 });

    clock.advance(5_000);
    expect(await broker.runRetention()).toBe(0);
    expect(storedSeqs(db)).toEqual([...short, ...forever, ...long]);

    clock.advance(5_000); // now >= created_at + 10 s
    expect(await broker.runRetention()).toBe(3);
    expect(storedSeqs(db)).toEqual([...forever, ...long]);
    expect(storedByTopic(broker)).toEqual({ forever: 2, long: 1 });

    clock.advance(50_000);
    expect(await broker.runRetention()).toBe(1);
    expect(storedSeqs(db)).toEqual(forever);
    expect(storedByTopic(broker)).toEqual({ forever: 2 });

    clock.advance(365 * 24 * 3_600_000);
    expect(await broker.runRetention()).toBe(0);
    expect(storedSeqs(db)).toEqual(forever);
  });

  test('an expired message that retention has not removed yet is not delivered', async () => {
    const { broker, clock } = await start();
    await publishAll(broker, [
      { topic: 'e', payload: 'expires', ttlSeconds: 1 },
      { topic: 'e', payload: 'stays' },
    ]);
    clock.advance(1_000);
    const sub = await scope.subscribe(broker, { pattern: 'e', start: { kind: 'seq', seq: 1 } });
    const got = [];
    for (let d = await sub.next(150); d !== undefined; d = await sub.next(150)) got.push(d.message.payload);
    expect(got).toEqual(['stays']);
  });

  test('defaultTtlSeconds applies when the publisher gives no TTL', async () => {
    const { broker, db, clock } = await start({ defaultTtlSeconds: 30 });
    const [defaulted, explicitZero, explicitShort, explicitLong] = await publishAll(broker, [
      { topic: 'd', payload: 'default' },
      { topic: 'd', payload: 'zero', ttlSeconds: 0 },
      { topic: 'd', payload: 'short', ttlSeconds: 5 },
      { topic: 'd', payload: 'long', ttlSeconds: 120 },
    ]);
    expect(query(db, 'SELECT seq, ttl FROM messages ORDER BY seq')).toEqual([
      { seq: defaulted, ttl: 30 },
      { seq: explicitZero, ttl: 0 },
      { seq: explicitShort, ttl: 5 },
      { seq: explicitLong, ttl: 120 },
    ]);
    clock.advance(10_000);
    expect(await broker.runRetention()).toBe(1);
    expect(storedSeqs(db)).toEqual([defaulted, explicitZero, explicitLong]);
    clock.advance(20_000);
    expect(await broker.runRetention()).toBe(1);
    expect(storedSeqs(db)).toEqual([explicitZero, explicitLong]);
  });
});

describe('retention rules', () => {
  test('a max-age rule removes only its pattern’s messages older than the age', async () => {
    const { broker, db, clock } = await start({ retention: [{ pattern: 'logs.#', maxAgeMs: 60_000 }] });
    const oldLogs = await publishAll(broker, [
      { topic: 'logs', payload: 'old' },
      { topic: 'logs.app', payload: 'old' },
      { topic: 'logs.app.debug', payload: 'old' },
    ]);
    const oldMetrics = await publishAll(broker, many(2, 'metrics.cpu'));
    await sleep(20);
    const newLogs = await publishAll(broker, many(2, 'logs.app'));
    const newestOld = Math.max(...query<{ c: number }>(db, `SELECT created_at AS c FROM messages WHERE seq <= ?`, oldMetrics[1]).map((r) => r.c));
    const oldestNew = query<{ c: number }>(db, `SELECT created_at AS c FROM messages WHERE seq = ?`, newLogs[0])[0]!.c;
    expect(oldestNew).toBeGreaterThan(newestOld);

    // Everything committed before oldestNew is now more than 60 s old; oldestNew itself is exactly 60 s old.
    clock.set(oldestNew + 60_000);
    expect(await broker.runRetention()).toBe(3);
    expect(storedSeqs(db)).toEqual([...oldMetrics, ...newLogs]);
    expect(storedByTopic(broker)).toEqual({ 'metrics.cpu': 2, 'logs.app': 2 });
    expect(oldLogs).toHaveLength(3);

    clock.set(oldestNew + 3_600_000);
    expect(await broker.runRetention()).toBe(2);
    expect(storedTopics(db)).toEqual(['metrics.cpu', 'metrics.cpu']);
  });

  test('a max-messages rule keeps the newest messages of its pattern and removes the oldest first', async () => {
    const { broker, db } = await start({ retention: [{ pattern: 'metrics.*', maxMessages: 3 }] });
    const inputs: PublishInput[] = [];
    for (let i = 0; i < 6; i++) {
      inputs.push({ topic: i % 2 === 0 ? 'metrics.cpu' : 'metrics.mem', payload: `m${i}` });
      inputs.push({ topic: 'logs.app', payload: `l${i}` });
    }
    inputs.push({ topic: 'metrics.cpu.core0', payload: 'deeper: not matched by metrics.*' });
    const seqs = await publishAll(broker, inputs);
    expect(await broker.runRetention()).toBe(3);
    const remaining = query<{ seq: number; payload: string }>(db, 'SELECT seq, payload FROM messages ORDER BY seq');
    expect(remaining.map((r) => r.payload)).toEqual([
      'l0', 'l1', 'l2', 'm3', 'l3', 'm4', 'l4', 'm5', 'l5', 'deeper: not matched by metrics.*',
    ]);
    expect(remaining.map((r) => r.seq)).toEqual(seqs.filter((_, i) => ![0, 2, 4].includes(i)));
    expect(storedByTopic(broker)).toEqual({ 'metrics.cpu': 1, 'metrics.mem': 2, 'logs.app': 6, 'metrics.cpu.core0': 1 });
    expect(await broker.runRetention()).toBe(0);

    await publishAll(broker, [{ topic: 'metrics.mem', payload: 'm6' }]);
    expect(await broker.runRetention()).toBe(1);
    expect(query<{ payload: string }>(db, `SELECT payload FROM messages WHERE topic LIKE 'metrics.%' AND topic NOT LIKE 'metrics.%.%' ORDER BY seq`).map((r) => r.payload)).toEqual([
      'm4', 'm5', 'm6',
    ]);
  });

  test('several rules each apply to their own pattern', async () => {
    const { broker, db } = await start({
      retention: [
        { pattern: 'a.*', maxMessages: 2 },
        { pattern: 'b.#', maxMessages: 1 },
      ],
    });
    await publishAll(broker, [
      { topic: 'a.x', payload: 'a1' },
      { topic: 'b', payload: 'b1' },
      { topic: 'c.x', payload: 'c1' },
      { topic: 'a.y', payload: 'a2' },
      { topic: 'b.z.z', payload: 'b2' },
      { topic: 'a.x', payload: 'a3' },
      { topic: 'c.x', payload: 'c2' },
    ]);
    expect(await broker.runRetention()).toBe(2);
    expect(query<{ payload: string }>(db, 'SELECT payload FROM messages ORDER BY seq').map((r) => r.payload)).toEqual([
      'c1', 'a2', 'b2', 'a3', 'c2',
    ]);
  });

  test('a max-messages rule reaches its topic even behind more than 10,000 older messages of other topics', async () => {
    const { broker, db } = await start({ retention: [{ pattern: 'capped', maxMessages: 2 }] });
    await publishAll(broker, many(10_500, 'bulk'));
    const capped = await publishAll(broker, many(5, 'capped'));
    for (let i = 0; i < 5; i++) await broker.runRetention();
    expect(query<{ seq: number }>(db, `SELECT seq FROM messages WHERE topic = 'capped' ORDER BY seq`).map((r) => r.seq)).toEqual(
      capped.slice(3),
    );
    expect(storedByTopic(broker)).toEqual({ bulk: 10_500, capped: 2 });
  });
});

describe('batches', () => {
  test('1,500 expired rows are removed in bounded passes and nothing else is touched', async () => {
    const { broker, db, clock } = await start();
    const kept = await publishAll(broker, many(10, 'keep'));
    await publishAll(broker, many(1_500, 'temp', { ttlSeconds: 1 }));
    const keptAfter = await publishAll(broker, many(5, 'keep'));
    clock.advance(1_000);

    const removedPerCall: number[] = [];
    for (let i = 0; i < 20; i++) {
      const removed = await broker.runRetention();
      if (removed === 0) break;
      removedPerCall.push(removed);
    }
    expect(removedPerCall.length).toBeGreaterThan(0);
    expect(removedPerCall.every((n) => n > 0 && n <= 10_000)).toBe(true);
    expect(removedPerCall.reduce((a, b) => a + b, 0)).toBe(1_500);
    expect(storedSeqs(db)).toEqual([...kept, ...keptAfter]);
    expect(storedByTopic(broker)).toEqual({ keep: 15 });
  });

  test('publishes go on while a large removal runs', async () => {
    const { broker, db, clock } = await start();
    await publishAll(broker, many(12_000, 'temp', { ttlSeconds: 1 }));
    clock.advance(1_000);
    const retention = broker.runRetention();
    const published = await publishAll(broker, many(3, 'fresh'));
    const first = await retention;
    expect(first).toBeLessThanOrEqual(10_000);
    let total = first;
    for (let i = 0; i < 10 && total < 12_000; i++) total += await broker.runRetention();
    expect(total).toBe(12_000);
    expect(storedSeqs(db)).toEqual(published);
  });
});

describe('acks of removed messages', () => {
  /** Every (consumer, seq) in processed_messages. */
  const acks = (db: TestDb): string[] =>
    query<{ consumer: string; seq: number }>(db, 'SELECT consumer, seq FROM processed_messages ORDER BY consumer, seq').map((r) => `${r.consumer}:${r.seq}`);

  /** Subscribes `consumer` to `topic`, takes `count` deliveries, acking the seqs `ack` picks; waits for the acks to be stored. */
  async function consumeAndAck(db: TestDb, broker: Broker, consumer: string, topic: string, count: number, ack: (seq: number) => boolean): Promise<void> {
    const sub = await scope.subscribe(broker, { pattern: topic, consumer, start: { kind: 'seq', seq: 1 } });
    let acked = 0;
    for (let i = 0; i < count; i++) {
      const d = await sub.next(2000);
      expect(d).toBeDefined();
      if (ack(d!.message.seq)) {
        sub.ack(d!.message.seq);
        acked++;
      }
    }
    await until(`${acked} acks of ${consumer} written`, () => query<{ n: number }>(db, 'SELECT count(*) AS n FROM processed_messages WHERE consumer = ?', consumer)[0]!.n === acked);
  }

  test('go once the messages are gone and the consumer is past them; acks of stored messages and above the position stay', async () => {
    const { broker, db, clock } = await start();
    const short = await publishAll(broker, many(6, 'jobs', { ttlSeconds: 10 }));
    const kept = await publishAll(broker, many(2, 'jobs'));
    expect([...short, ...kept]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // 5 is not acked: the position stops at 4, and 6 is acked above it.
    await consumeAndAck(db, broker, 'audit', 'jobs', 8, (seq) => seq !== 5);
    await positionReaches(broker, 'audit', 4);
    expect(acks(db)).toEqual(['audit:1', 'audit:2', 'audit:3', 'audit:4', 'audit:6', 'audit:7', 'audit:8']);

    expect(await broker.runRetention()).toBe(0);
    expect(acks(db)).toHaveLength(7); // every message is still stored

    clock.advance(10_000);
    expect(await broker.runRetention()).toBe(6);
    expect(acks(db)).toEqual(['audit:6', 'audit:7', 'audit:8']);
  });

  test('many acks of several consumers go in bounded batches within one pass', async () => {
    const { broker, db, clock } = await start();
    await publishAll(broker, many(1_300, 'jobs', { ttlSeconds: 10 }));
    await publishAll(broker, many(1, 'jobs'));
    await consumeAndAck(db, broker, 'a', 'jobs', 1_301, () => true);
    await consumeAndAck(db, broker, 'b', 'jobs', 1_301, () => true);
    await positionReaches(broker, 'a', 1_301);
    await positionReaches(broker, 'b', 1_301);
    expect(acks(db)).toHaveLength(2_602);

    clock.advance(10_000);
    expect(await broker.runRetention()).toBe(1_300);
    expect(acks(db)).toEqual(['a:1301', 'b:1301']);
  });
});

describe('the push failure log', () => {
  /** Rows as the broker records them, written here through a connection of the test's own. */
  function recordFailures(db: TestDb, failedAts: readonly number[]): void {
    const row = `('hook', 'http://127.0.0.1:9/x', NULL, 1, ?, 3, 'ECONNREFUSED', NULL)`;
    query(
      db,
      `INSERT INTO delivery_failures (consumer, address, seq, attempt, failed_at, latency_ms, error, http_status) VALUES ${failedAts.map(() => row).join(', ')}`,
      ...failedAts,
    );
  }
  const failureTimes = (db: TestDb): number[] =>
    query<{ failed_at: number }>(db, 'SELECT failed_at FROM delivery_failures ORDER BY id').map((r) => r.failed_at);

  test('rows older than EVENTBUS_FAILURE_LOG_MAX_AGE go, in bounded batches within one pass; newer ones stay', async () => {
    const { broker, db, clock } = await start({ failureLogMaxAgeMs: 60_000 });
    clock.set(10_000_000);
    const old = Array.from({ length: 1_200 }, (_, i) => 9_000_000 + i); // more than two batches
    recordFailures(db, [...old, 9_940_001, 9_999_999]);

    await broker.runRetention();
    expect(failureTimes(db)).toEqual([9_940_001, 9_999_999]);
    clock.set(10_060_000);
    await broker.runRetention();
    expect(failureTimes(db)).toEqual([]);
  });

  test('0 keeps every row', async () => {
    const { broker, db, clock } = await start({ failureLogMaxAgeMs: 0 });
    clock.set(10_000_000_000);
    recordFailures(db, [1, 2, 3]);
    await broker.runRetention();
    expect(failureTimes(db)).toEqual([1, 2, 3]);
  });
});
