// The lag the broker reports, held to the SQL of docs/database.md on the database itself: as messages are
// published, acked out of order, dead-lettered, requeued, expired and removed by a rule, and after a rewind.
// The broker keeps each consumer's count and moves it rather than counting the backlog on every read
// (src/core/lag.ts), so every step here also checks that what it moved still agrees with a full count.
import { describe, expect, test } from 'vitest';
import type { Broker, BrokerConfig } from '../../src/core/broker.js';
import type { PublishInput } from '../../src/core/types.js';
import { topicMatches } from '../../src/protocol/topics.js';
import { onPostgres, type TestDb } from '../helpers/broker.js';
import { query, takeExactly, testScope } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const { dir, open, subscribe } = testScope();

interface Watched {
  readonly id: string;
  readonly patterns: readonly string[];
  /** A condition the SQL adds for the consumer's filter. */
  readonly where?: string;
}

const WATCHED: readonly Watched[] = [
  { id: 'orders', patterns: ['orders.*'] },
  { id: 'everything', patterns: ['#'] },
  { id: 'eu-and-refunds', patterns: ['orders.eu', 'refunds'] },
  // Its filter passes the payloads whose n is 2 or more; the payloads below are {"n":0} to {"n":3} only.
  { id: 'big', patterns: ['orders.#'], where: `m.payload NOT IN ('{"n":0}', '{"n":1}')` },
];

/** docs/database.md's query for one consumer, its topic list made from the topics the log holds. */
function sqlLag(db: TestDb, c: Watched): number {
  const topics = query<{ topic: string }>(db, 'SELECT DISTINCT topic FROM messages')
    .map((r) => r.topic)
    .filter((t) => c.patterns.some((p) => topicMatches(p, t)));
  if (topics.length === 0) return 0;
  const list = topics.map((t) => `'${t}'`).join(', ');
  const [row] = query<{ lag: number | string }>(
    db,
    `SELECT count(*) AS lag FROM messages m JOIN consumers c ON c.id = '${c.id}'
      WHERE m.topic IN (${list}) ${c.where === undefined ? '' : `AND ${c.where}`}
        AND (m.seq > c.position
             AND NOT EXISTS (SELECT 1 FROM processed_messages p WHERE p.consumer = c.id AND p.seq = m.seq AND p.processed_at > c.rewound_at)
             AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.consumer = c.id AND d.seq = m.seq AND d.dead_at > c.rewound_at)
          OR m.seq IN (SELECT r.seq FROM requeued_messages r WHERE r.consumer = c.id AND r.seq <= c.position))`,
  );
  return Number(row!.lag);
}

/** Every watched consumer's reported lag equals the SQL's, once the broker's writes (every 20 ms) are in. */
async function agrees(broker: Broker, db: TestDb, what: string): Promise<void> {
  let last = '';
  await until(
    () => `${what}: the reported lag to equal the SQL's (${last})`,
    async () => {
      const reported = Object.fromEntries((await broker.consumerReports())._unsafeUnwrap().map((r) => [r.id, r.lag]));
      const counted = Object.fromEntries(WATCHED.map((c) => [c.id, sqlLag(db, c)]));
      last = `reported ${JSON.stringify(reported)}, SQL ${JSON.stringify(counted)}`;
      return WATCHED.every((c) => reported[c.id] === counted[c.id]);
    },
  );
}

let n = 0;
const inputs = (topic: string, count: number, extra: Partial<PublishInput> = {}): PublishInput[] =>
  Array.from({ length: count }, () => ({ topic, payload: `{"n":${n++ % 4}}`, ...extra }));

async function publish(broker: Broker, ...batches: PublishInput[][]): Promise<number[]> {
  return (await broker.publishBatch(batches.flat()))._unsafeUnwrap().map((p) => p.seq);
}

async function withConsumers(overrides: Partial<BrokerConfig> = {}): Promise<{ broker: Broker; db: TestDb }> {
  const db = await dir();
  const broker = await open(db, { maxDeliveries: 1, ...overrides });
  for (const c of WATCHED) {
    const filter = c.where === undefined ? undefined : { 'payload.n': { $gte: 2 } };
    (await broker.saveConsumer({ id: c.id, address: null, patterns: [...c.patterns], filter }))._unsafeUnwrap();
  }
  return { broker, db };
}

describe('the lag a broker reports agrees with the SQL of docs/database.md', () => {
  test('through publishes, out-of-order acks, dead letters, requeues, expiry, a count rule and a rewind', async () => {
    const { broker, db } = await withConsumers({ retention: [{ pattern: 'refunds', maxMessages: 5 }] });
    await agrees(broker, db, 'no messages');
    await publish(broker, inputs('orders.eu', 20), inputs('orders.us', 10), inputs('refunds', 12), inputs('audit', 5));
    await agrees(broker, db, 'a backlog');
    await publish(broker, inputs('orders.eu', 3));
    await agrees(broker, db, 'the head moved');

    // Acks out of order above the position, and the first nacked (maxDeliveries 1: a dead letter).
    const sub = await subscribe(broker, { pattern: 'orders.*', consumer: 'orders', maxInFlight: 10 });
    const got = await takeExactly(sub, 10);
    await agrees(broker, db, 'delivered, none acked');
    // Acks that leave the position and the head where they were: the figures read before must not be reused.
    for (const d of got.slice(1, 5)) sub.ack(d.message.seq);
    await agrees(broker, db, 'some acks above the position');
    for (const d of got.slice(5)) sub.ack(d.message.seq);
    await agrees(broker, db, 'acks above the position');
    sub.nack(got[0]!.message.seq);
    await until('a dead letter', async () => (await broker.consumerReport('orders'))._unsafeUnwrap().deadLetters === 1);
    await agrees(broker, db, 'acks above the position and a dead letter');
    for (const d of await takeExactly(sub, 10)) sub.ack(d.message.seq);
    await agrees(broker, db, 'the position moved');
    sub.close();

    expect((await broker.requeueDeadLetters('orders', {}))._unsafeUnwrap()).toBe(1);
    await agrees(broker, db, 'a requeued dead letter below the position');

    // Expiry inside every consumer's backlog, and a count rule on refunds.
    await publish(broker, inputs('orders.eu', 4, { ttlSeconds: 1 }), inputs('refunds', 3, { ttlSeconds: 1 }));
    await agrees(broker, db, 'messages that will expire');
    await until('the expired ones to be removed', async () => {
      await broker.runRetention();
      return query<{ n: number | string }>(db, 'SELECT count(*) AS n FROM messages WHERE ttl > 0').map((r) => Number(r.n))[0] === 0;
    });
    await agrees(broker, db, 'after expiry and the count rule');
    expect(Number(query<{ n: number | string }>(db, "SELECT count(*) AS n FROM messages WHERE topic = 'refunds'")[0]!.n)).toBeLessThanOrEqual(5);

    (await broker.replay('everything', 3))._unsafeUnwrap();
    (await broker.replay('big', 1))._unsafeUnwrap();
    await agrees(broker, db, 'after rewinds');
    await publish(broker, inputs('orders.us', 6), inputs('refunds', 2));
    await broker.runRetention();
    await agrees(broker, db, 'after the rewinds, more messages and the count rule again');
  });

  test.runIf(onPostgres)('on two brokers: each agrees after the other published, acked and removed messages', async () => {
    const { broker: first, db } = await withConsumers({ retention: [{ pattern: 'refunds', maxMessages: 4 }] });
    const second = await open(db, { maxDeliveries: 1 });
    await publish(first, inputs('orders.eu', 10), inputs('refunds', 3));
    await agrees(first, db, 'first, a backlog');
    await agrees(second, db, 'second, a backlog');
    await publish(second, inputs('orders.us', 5), inputs('refunds', 6));
    await agrees(second, db, 'second, after its publishes');
    // The retention pass runs on the broker that leads it; whichever it is, the other hears of the removal.
    await until('the count rule to be applied', async () => {
      await Promise.all([first.runRetention(), second.runRetention()]);
      return query<{ n: number | string }>(db, "SELECT count(*) AS n FROM messages WHERE topic = 'refunds'").map((r) => Number(r.n))[0] === 4;
    });
    await agrees(first, db, 'first, after the count rule');
    await agrees(second, db, 'second, after the count rule');
    const sub = await subscribe(second, { pattern: 'orders.*', consumer: 'orders', maxInFlight: 100 });
    for (const d of await takeExactly(sub, 15)) sub.ack(d.message.seq);
    await agrees(first, db, 'first, after the acks on second');
    await agrees(second, db, 'second, after its acks');
  });
});
