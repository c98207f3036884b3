// Durable and push consumers shared by broker processes on one PostgreSQL database: members on two brokers
// split a consumer's messages, each message to one member unless redelivered (delivery > 1), an ordering
// key's messages in order; a broker killed with SIGKILL hands its unacked deliveries and its push consumers
// to the others within EVENTBUS_ACK_TIMEOUT_MS; registrations and LIST are the same on every broker; members
// that join on two brokers at the same moment both get a share of a burst published right after, and a
// leaver's share goes to the other, each message once. The consumer's position is its partitions' lowest even
// when two brokers write their floors at once. An ack of a delivery from before a rewind made on another broker
// does not count for the copy the rewind sends.
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { afterEach, describe, expect, test } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { writeProgress } from '../../src/store/postgres/queries.js';
import { inTransaction } from '../../src/store/postgres/transaction.js';
import type { ProgressBatch } from '../../src/core/store-port.js';
import { PendingAcks } from '../../src/core/pending-acks.js';
import type { ReceivedMessage, Subscription } from '../../src/client/index.js';
import type { BrokerProcess } from '../helpers/broker-process.js';
import { pgBrokers } from '../helpers/pg-brokers.js';
import { startEndpoint, type Endpoint } from '../helpers/consumers.js';
import { lineClient } from '../helpers/line-client.js';
import { PG_URL, pgQuery, pgSchemas } from '../helpers/postgres.js';
import { until } from '../helpers/until.js';
import { wsConnect, type MessageFrame, type WsClient } from '../helpers/ws-client.js';

const ACK_TIMEOUT_MS = 2000;
const cluster = pgBrokers();
const brokers = (n: number) => cluster.start(n, { EVENTBUS_ACK_TIMEOUT_MS: String(ACK_TIMEOUT_MS) });
const client = (node: BrokerProcess) => cluster.client(node);
const endpoints: Endpoint[] = [];
const sockets: WsClient[] = [];

afterEach(async () => {
  for (const e of endpoints.splice(0)) await e.stop();
  for (const s of sockets.splice(0)) await s.close();
});

interface Got {
  readonly member: string;
  readonly seq: number;
  readonly delivery: number;
  readonly key: string | undefined;
}

/** Reads a subscription into `got` in the background, acking each message when `ack` says so. */
function drain(member: string, sub: Subscription, got: Got[], ack: (m: ReceivedMessage) => boolean = () => true): void {
  void (async () => {
    for await (const m of sub) {
      const key = m.json<{ key?: string }>().key;
      got.push({ member, seq: m.seq, delivery: m.delivery, key });
      if (ack(m)) m.ack();
    }
  })().catch(() => undefined);
}

/** A member of durable consumer `consumer` on the wire (WebSocket frames), acking each message as it comes. */
async function wireMember(member: string, node: BrokerProcess, consumer: string, pattern: string, got: Got[]): Promise<void> {
  const ws: WsClient = await wsConnect(node.ports.http, {
    consume: (f) => {
      if (f.type !== 'message') return false;
      const m = f as MessageFrame;
      got.push({ member, seq: m.seq, delivery: m.delivery, key: m.ordering_key });
      ws.send({ type: 'ack', subscription: m.subscription, seq: m.seq });
      return true;
    },
  });
  sockets.push(ws);
  await ws.subscribe({ pattern, consumer });
}

async function list(node: BrokerProcess): Promise<string[]> {
  const c = await lineClient(node.ports.registration);
  try {
    const lines = [await c.send('LIST')];
    while (lines.at(-1) !== 'END') lines.push(await c.readLine());
    return lines.slice(0, -1);
  } finally {
    c.destroy();
  }
}

describe('durable consumers shared by brokers on one PostgreSQL database', () => {
  test('members on two brokers split the messages: each to one member, an ordering key in order, the position shared', async () => {
    const { nodes, schema } = await brokers(2);
    const [onA, onB] = [await client(nodes[0]!), await client(nodes[1]!)];
    const got: Got[] = [];
    drain('a', await onA.subscribe('jobs.>', { consumer: 'workers' }), got);
    drain('b', await onB.subscribe('jobs.>', { consumer: 'workers' }), got);
    // Both brokers hold some partitions before the publishing starts (a second member joins within a beat or two).
    await until('both brokers hold partitions of the consumer', async () => {
      const rows = await pgQuery<{ n: number }>(`SELECT count(DISTINCT node)::int AS n FROM consumer_partitions WHERE consumer = 'workers' AND node IS NOT NULL`, [], schema);
      return rows[0]!.n === 2;
    });
    const publisher = await client(nodes[0]!);
    const seqs: number[] = [];
    for (let i = 0; i < 300; i++) {
      const key = i % 3 === 0 ? `k${i % 7}` : undefined;
      seqs.push(await publisher.publish(`jobs.j${i % 5}`, { i, key }, key === undefined ? {} : { orderingKey: key }));
    }
    await until('every message received', () => new Set(got.map((g) => g.seq)).size === seqs.length);
    const firsts = got.filter((g) => g.delivery === 1).map((g) => g.seq);
    expect(new Set(firsts).size).toBe(firsts.length); // nothing delivered twice as a first delivery
    expect(new Set(got.filter((g) => g.member === 'a').map((g) => g.seq)).size).toBeGreaterThan(0);
    expect(new Set(got.filter((g) => g.member === 'b').map((g) => g.seq)).size).toBeGreaterThan(0);
    for (const key of new Set(got.flatMap((g) => (g.key === undefined ? [] : [g.key])))) {
      const order = got.filter((g) => g.key === key).map((g) => g.seq);
      expect(order).toEqual([...order].sort((x, y) => x - y));
      expect(new Set(got.filter((g) => g.key === key).map((g) => g.member)).size).toBe(1);
    }
    const head = Math.max(...seqs);
    await until('the shared position reaches the head', async () => {
      const rows = await pgQuery<{ position: number }>(`SELECT position FROM consumers WHERE id = 'workers'`, [], schema);
      return rows[0]!.position === head;
    }).catch(async (e: unknown) => {
      // The partitions' own positions say which one held it back, and on which broker.
      const parts = await pgQuery(`SELECT partition, node, position FROM consumer_partitions WHERE consumer = 'workers' ORDER BY partition`, [], schema);
      throw new Error(`${(e as Error).message}; head ${head}, partitions ${JSON.stringify(parts)}`);
    });
    // LIST says the same on both brokers: the consumer, its position and both members.
    await until('LIST is the same on both brokers', async () => {
      const [a, b] = [await list(nodes[0]!), await list(nodes[1]!)];
      return a.length === 1 && a[0] === b[0] && a[0]!.includes(` ${head}`) ? true : undefined;
    });
  });

  test('a broker killed with SIGKILL: its unacked deliveries go to the member on the other broker within the ack timeout', async () => {
    const { nodes, schema } = await brokers(2);
    const [onA, onB] = [await client(nodes[0]!), await client(nodes[1]!)];
    const atA: Got[] = [];
    const atB: Got[] = [];
    // A's member takes its share and never acks; B's acks everything.
    drain('a', await onA.subscribe('tasks', { consumer: 'crew' }), atA, () => false);
    drain('b', await onB.subscribe('tasks', { consumer: 'crew' }), atB);
    const publisher = await client(nodes[1]!);
    await until('both brokers take a share', async () => {
      await publisher.publish('tasks', { probe: true });
      return atA.length > 0 && atB.length > 0;
    }, 15_000, 200);
    const published: number[] = [];
    for (let i = 0; i < 100; i++) published.push(await publisher.publish('tasks', { i }));
    await until('A holds its share of the new ones', () => atA.some((g) => g.seq >= published[0]!));
    // An attempt is counted in the database once it has gone unacked for a moment (a kill loses the count of
    // deliveries younger than that, which then come again as first deliveries, as after a restart).
    let heldSeqs: number[] = [];
    await until('A\'s attempts are counted', async () => {
      heldSeqs = [...new Set(atA.map((g) => g.seq))];
      const rows = await pgQuery<{ seq: number }>(`SELECT seq FROM delivery_counts WHERE consumer = 'crew'`, [], schema);
      return heldSeqs.every((seq) => rows.some((r) => r.seq === seq));
    });
    const killedAt = Date.now();
    nodes[0]!.signal('SIGKILL');
    await nodes[0]!.exited();
    const heldByA = heldSeqs;
    await until('B has every message A held', () => heldByA.every((seq) => atB.some((g) => g.seq === seq)), 15_000);
    const tookMs = Date.now() - killedAt;
    // A's unacked deliveries are redeliveries at B; nothing else arrives twice.
    for (const seq of heldByA) expect(atB.find((g) => g.seq === seq)!.delivery).toBeGreaterThan(1);
    const firsts = atB.filter((g) => g.delivery === 1).map((g) => g.seq);
    expect(new Set(firsts).size).toBe(firsts.length);
    for (const seq of published) expect(atB.some((g) => g.seq === seq)).toBe(true);
    // The lease is half the ack timeout, renewed a few times per lease: the handover lands within the ack timeout.
    expect(tookMs).toBeLessThan(ACK_TIMEOUT_MS + 500);
    // B's log says it took crew's partitions: its own share first, A's after the kill.
    const taken = nodes[1]!.logs.filter((l) => l.msg === 'partitions taken' && l['consumer'] === 'crew');
    expect(taken.length).toBeGreaterThanOrEqual(2);
  });

  test('a rewind on one broker applies on both: every message from the seq is delivered again, once', async () => {
    const { nodes, schema } = await brokers(2);
    const publisher = await client(nodes[0]!);
    const got: Got[] = [];
    // On the wire, with the broker's own delivery numbers: the SDK marks a seq its caller has already seen as
    // a redelivery, which is what a rewind's copy is to that caller.
    await wireMember('a', nodes[0]!, 'auditors', 'audit', got);
    await wireMember('b', nodes[1]!, 'auditors', 'audit', got);
    const seqs: number[] = [];
    for (let i = 0; i < 60; i++) seqs.push(await publisher.publish('audit', { i }));
    await until('every message received', () => new Set(got.map((g) => g.seq)).size === seqs.length);
    const mark = got.length;
    const registration = await lineClient(nodes[1]!.ports.registration);
    expect(await registration.send(`REPLAY auditors ${seqs[20]}`)).toBe(`OK replaying auditors from ${seqs[20]}`);
    registration.destroy();
    const again = seqs.slice(20);
    // After the rewind, a copy of each rewound message, once as a first delivery at most. A redelivery (an ack
    // later than the ack timeout on a loaded machine, a partition handed over with deliveries in flight, or
    // reserved before the rewind) says so with delivery > 1, as at-least-once allows, and may be the only copy.
    const since = (seq: number): Got[] => got.slice(mark).filter((g) => g.seq === seq);
    await until(() => `the rewound messages received again: ${JSON.stringify(again.filter((seq) => since(seq).length === 0))}`, () => again.every((seq) => since(seq).length > 0));
    // The acks of the copies take every partition back to the last message, whoever holds it.
    const last = seqs.at(-1)!;
    const behind = (): Promise<{ partition: number; position: number }[]> =>
      pgQuery<{ partition: number; position: number }>(`SELECT partition, position::int AS position FROM consumer_partitions WHERE consumer = 'auditors' AND position < $1 ORDER BY partition`, [last], schema);
    let lagging: { partition: number; position: number }[] = [];
    await until(() => `every partition's position at ${last}, not ${JSON.stringify(lagging)}`, async () => (lagging = await behind()).length === 0);
    await new Promise((resolve) => setTimeout(resolve, 500)); // a second copy would have come by now
    const firsts = (seq: number): number => since(seq).filter((g) => g.delivery === 1).length;
    for (const seq of again) expect(firsts(seq), JSON.stringify(since(seq))).toBeLessThanOrEqual(1);
    for (const seq of seqs.slice(0, 20)) expect(firsts(seq), JSON.stringify(since(seq))).toBe(0);
  });

  test('an ack that reaches a broker after a rewind made on another, of a delivery from before it, does not count for the copy', async () => {
    const { nodes, schema } = await brokers(2);
    const publisher = await client(nodes[0]!);
    const got: Got[] = [];
    const held: { subscription: string; seq: number }[] = [];
    // A member on the first broker that acks every message but the last, which it holds until told.
    const ws: WsClient = await wsConnect(nodes[0]!.ports.http, {
      consume: (f) => {
        if (f.type !== 'message') return false;
        const m = f as MessageFrame;
        got.push({ member: 'a', seq: m.seq, delivery: m.delivery, key: m.ordering_key });
        if (m.payload === '{"i":4}' && m.delivery === 1 && held.length === 0) held.push({ subscription: m.subscription, seq: m.seq });
        else ws.send({ type: 'ack', subscription: m.subscription, seq: m.seq });
        return true;
      },
    });
    sockets.push(ws);
    await ws.subscribe({ pattern: 'late', consumer: 'late-acker' });
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) seqs.push(await publisher.publish('late', { i }));
    await until('every message received, the last held', () => new Set(got.map((g) => g.seq)).size === 5 && held.length === 1);
    const mark = got.length;
    const stored = async (): Promise<number> => (await pgQuery<{ rewound_at: number }>(`SELECT rewound_at::float8 AS rewound_at FROM consumers WHERE id = 'late-acker'`, [], schema))[0]!.rewound_at;
    const before = await stored();
    // Made on the first broker, the consumer is known on the second once it has heard (UNKNOWN_CONSUMER until then).
    const registration = await lineClient(nodes[1]!.ports.registration);
    let answer = '';
    await until(
      () => `REPLAY answered on the second broker (${answer})`,
      async () => (answer = await registration.send(`REPLAY late-acker ${seqs[0]}`)).startsWith('OK'),
    );
    expect(answer).toBe(`OK replaying late-acker from ${seqs[0]}`);
    registration.destroy();
    await until('the rewind stored', async () => (await stored()) > before);
    // The held delivery was made before the rewind: its ack, now, is not an ack of the copy the rewind sends.
    ws.send({ type: 'ack', subscription: held[0]!.subscription, seq: held[0]!.seq });
    await until(() => `every message delivered again (${JSON.stringify(got.slice(mark).map((g) => g.seq))})`, () => seqs.every((seq) => got.slice(mark).some((g) => g.seq === seq)));
  });

  test('a push consumer registered on one broker is delivered by one broker at a time, and taken over when it dies', async () => {
    const { nodes, schema } = await brokers(2);
    const sink = await startEndpoint('tcp');
    endpoints.push(sink);
    const registration = await lineClient(nodes[0]!.ports.registration);
    expect(await registration.send(`REGISTER hook ${sink.url} alerts.*`)).toBe('OK registered hook');
    registration.destroy();
    await until('B lists the consumer registered on A', async () => (await list(nodes[1]!)).some((l) => l.startsWith(`hook ${sink.url} alerts.*`)));
    const publisher = await client(nodes[1]!);
    for (let i = 0; i < 20; i++) await publisher.publish('alerts.cpu', `n${i}`);
    await sink.waitFor(20);
    await new Promise((resolve) => setTimeout(resolve, 300)); // a second pusher would have sent them again by now
    expect(sink.payloads()).toEqual(Array.from({ length: 20 }, (_, i) => `n${i}`));
    // Kill the broker that holds the push lease, then publish on the other one.
    const holder = (await pgQuery<{ node: string }>(`SELECT node FROM leases WHERE name = 'push:hook'`, [], schema))[0]!.node;
    const [dead, survivor] = holder === 'node-0' ? [nodes[0]!, nodes[1]!] : [nodes[1]!, nodes[0]!];
    dead.signal('SIGKILL');
    await dead.exited();
    const killedAt = Date.now();
    const onSurvivor = await client(survivor);
    for (let i = 0; i < 10; i++) await onSurvivor.publish('alerts.cpu', `after${i}`);
    await until('the survivor pushes what was published after the kill', () => sink.payloads().filter((p) => p.startsWith("after")).length === 10, 15_000);
    expect(Date.now() - killedAt).toBeLessThan(ACK_TIMEOUT_MS + 1500);
    const after = sink.payloads().filter((p) => p.startsWith("after"));
    expect(after).toEqual(Array.from({ length: 10 }, (_, i) => `after${i}`));
    // The survivor said so in its log: the dead broker seen gone, the push consumer taken over, one line each.
    const deadName = holder;
    await until('the survivor to log the dead broker gone', () => survivor.logs.some((l) => l.msg.startsWith('broker gone') && l['node'] === deadName), 15_000);
    expect(survivor.logs.filter((l) => l.msg.startsWith('broker gone')).map((l) => l['node'])).toEqual([deadName]);
    expect(survivor.logs.filter((l) => l.msg === 'push consumer taken: this broker delivers it').map((l) => l['consumer'])).toEqual(['hook']);
    expect(dead.logs.filter((l) => l.msg === 'push consumer taken: this broker delivers it').map((l) => l['consumer'])).toEqual(['hook']);
  });

  test("a push consumer's last failure is the same in LIST and GET /api/consumers on every broker, whichever pushes it", async () => {
    const { nodes } = await brokers(2);
    const refused = await startEndpoint('tcp');
    await refused.stop();
    const registration = await lineClient(nodes[0]!.ports.registration);
    expect(await registration.send(`REGISTER refused ${refused.url} alerts.*`)).toBe('OK registered refused');
    registration.destroy();
    const lastFailureOf = async (node: BrokerProcess): Promise<{ line: string | undefined; api: unknown }> => {
      const line = (await list(node)).find((l) => l.startsWith('refused '))?.replace(/^(\S+ \S+ \S+) \S+/, '$1 <state>');
      const api = ((await (await fetch(`http://127.0.0.1:${node.ports.http}/api/consumers/refused`)).json()) as { last_failure?: unknown }).last_failure;
      return { line, api };
    };
    // A new failure may land between two reads: wait for both brokers to say the same.
    const [a] = await until('both brokers show the same last failure', async () => {
      const both = [await lastFailureOf(nodes[0]!), await lastFailureOf(nodes[1]!)];
      return both[0]!.api != null && JSON.stringify(both[0]) === JSON.stringify(both[1]) && both;
    }, 15_000);
    expect(a!.line).toMatch(new RegExp(`last_failure=[^ ]*ECONNREFUSED%20127\\.0\\.0\\.1%3A${refused.port}$`));
    expect(a!.api).toEqual({ at: expect.any(Number), error: expect.stringContaining(`ECONNREFUSED 127.0.0.1:${refused.port}`) });
  });
});

describe('members of one consumer on two brokers, joining at the same moment', () => {
  // The default ack timeout, so a heartbeat a second: the share must come before the next tick, not at it.
  test('both get a share of a burst published on a third broker 200 ms after they subscribed; a leaver\'s share goes to the other', async () => {
    const { nodes } = await cluster.start(3);
    const [onA, onB, onC] = [await client(nodes[0]!), await client(nodes[1]!), await client(nodes[2]!)];
    const got: Got[] = [];
    const [subA, subB] = await Promise.all([onA.subscribe('burst', { consumer: 'pool' }), onB.subscribe('burst', { consumer: 'pool' })]);
    drain('a', subA, got);
    drain('b', subB, got);
    // The bound the share is promised within, not a wait for it.
    await delay(200);
    const burst = await onC.publishBatch(Array.from({ length: 2000 }, (_, i) => ({ topic: 'burst', payload: { i } })));
    const received = (seqs: readonly number[]) => got.filter((g) => seqs.includes(g.seq));
    await until(() => `all 2,000 received (${new Set(received(burst).map((g) => g.seq)).size} so far)`, () => new Set(received(burst).map((g) => g.seq)).size === burst.length, 20_000);
    // Each once, both members acking at once: nothing to redeliver.
    expect(received(burst).map((g) => g.seq).sort((x, y) => x - y)).toEqual(burst);
    const share = { a: received(burst).filter((g) => g.member === 'a').length, b: received(burst).filter((g) => g.member === 'b').length };
    // Half each once the partitions are shared out; a quarter leaves room for a share that came with the burst.
    expect(share.a, JSON.stringify(share)).toBeGreaterThanOrEqual(burst.length / 4);
    expect(share.b, JSON.stringify(share)).toBeGreaterThanOrEqual(burst.length / 4);

    // A's member leaves: B takes A's partitions from where A's acks left them, and nothing is lost or doubled.
    await subA.close();
    const after = await onC.publishBatch(Array.from({ length: 500 }, (_, i) => ({ topic: 'burst', payload: { after: i } })));
    await until(() => `the 500 after the leave received (${new Set(received(after).map((g) => g.seq)).size} so far)`, () => new Set(received(after).map((g) => g.seq)).size === after.length, 20_000);
    expect(received(after).map((g) => g.seq).sort((x, y) => x - y)).toEqual(after);
    expect(received(after).every((g) => g.member === 'b')).toBe(true);
    expect(got.filter((g) => g.delivery > 1)).toEqual([]);
    expect(got.length).toBe(burst.length + after.length);
  }, 90_000);
});

describe('the shared position written by two brokers at once', () => {
  const schemas = pgSchemas();
  const batch = (over: Partial<ProgressBatch>): ProgressBatch => ({
    acks: new PendingAcks().take(), deadLetters: [], positions: new Map(), dead: [], rewinds: new Map(), deliveryCounts: [], floors: [], reservations: new Map(), partitionReservations: [], ...over,
  });
  const setUp = async (partitions: string): Promise<string> => {
    const schema = schemas.schema();
    await (await PostgresStore.open({ url: PG_URL, schema, nodeId: 'setup', logger: silentLogger }))._unsafeUnwrap().close();
    await pgQuery(`INSERT INTO consumers (id, created_at, updated_at) VALUES ('c', 0, 0); INSERT INTO consumer_partitions (consumer, partition, node, position) VALUES ${partitions}`, [], schema);
    return schema;
  };

  test('is the lowest of the partitions once both have committed, though each wrote its floor before the other committed', async () => {
    const schema = await setUp(`('c', 0, 'a', 0), ('c', 1, 'b', 0)`);
    const pool = new pg.Pool({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    const [a, b] = [await pool.connect(), await pool.connect()];
    try {
      await a.query('BEGIN');
      await b.query('BEGIN');
      // Each broker's progress batch moves its own partition and sets the position: b's must not go by what it
      // saw before a committed.
      await writeProgress(a, batch({ floors: [{ consumer: 'c', partition: 0, floor: 10 }] }), 'a');
      const bWrote = writeProgress(b, batch({ floors: [{ consumer: 'c', partition: 1, floor: 10 }] }), 'b');
      await delay(100);
      await a.query('COMMIT');
      await bWrote;
      await b.query('COMMIT');
    } finally {
      a.release();
      b.release();
      await pool.end();
    }
    expect(await pgQuery(`SELECT position FROM consumers WHERE id = 'c'`, [], schema)).toEqual([{ position: 10 }]);
  });

  test('a rewind on one broker while another writes its partitions\' progress: both go through, every time', async () => {
    const schema = await setUp(`('c', 0, 'a', 0), ('c', 1, 'a', 0), ('c', 2, 'a', 0), ('c', 3, 'a', 0)`);
    const [a, b] = await Promise.all(['a', 'b'].map(async (nodeId) => (await PostgresStore.open({ url: PG_URL, schema, nodeId, logger: silentLogger }))._unsafeUnwrap()));
    try {
      const record = (await b!.listConsumers())._unsafeUnwrap()[0]!;
      const partitions = [0, 1, 2, 3];
      for (let i = 1; i <= 100; i++) {
        await pgQuery(`UPDATE consumer_partitions SET node = 'a', expires_at = $1 WHERE consumer = 'c'`, [Date.now() + 60_000], schema);
        const progress = batch({
          partitionReservations: partitions.map((partition) => ({ consumer: 'c', partition, upTo: i * 10 })),
          floors: partitions.map((partition) => ({ consumer: 'c', partition, floor: i })),
        });
        const [wrote, rewound] = await Promise.all([a!.recordProgress(progress), b!.saveConsumer({ ...record, position: 0, rewoundAt: record.rewoundAt + i })]);
        expect(wrote.isOk() && rewound.isOk(), JSON.stringify([wrote, rewound])).toBe(true);
      }
    } finally {
      await a!.close();
      await b!.close();
    }
  });

  test('a store transaction that PostgreSQL picks as a deadlock\'s victim runs again; a caller\'s own work does not', async () => {
    const schema = schemas.schema();
    await pgQuery(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.t (id int PRIMARY KEY, v int); INSERT INTO ${schema}.t VALUES (1, 0), (2, 0)`);
    const pool = new pg.Pool({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    const other = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await other.connect();
    // The store's side waits first, so its deadlock_timeout runs out first: it finds the deadlock and is the
    // one rolled back.
    const crossing = async (conflictRetries?: number): Promise<number> => {
      let attempts = 0;
      await other.query('BEGIN');
      await other.query('UPDATE t SET v = v + 1 WHERE id = 1');
      let otherDone: Promise<unknown> = Promise.resolve();
      const run = inTransaction(
        pool,
        async (c) => {
          attempts += 1;
          await c.query('UPDATE t SET v = v + 1 WHERE id = 2');
          if (attempts === 1) otherDone = delay(100).then(() => other.query('UPDATE t SET v = v + 1 WHERE id = 2')).then(() => other.query('COMMIT'));
          await c.query('UPDATE t SET v = v + 1 WHERE id = 1');
        },
        conflictRetries === undefined ? {} : { conflictRetries },
      );
      try {
        await run;
      } finally {
        await otherDone;
      }
      return attempts;
    };
    try {
      expect(await crossing()).toBe(2);
      await expect(crossing(0)).rejects.toMatchObject({ code: '40P01' });
    } finally {
      await other.end();
      await pool.end();
    }
  });
});
