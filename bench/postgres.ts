// `npm run bench:postgres`: one broker on the local PostgreSQL beside the raw limits measured in the same
// run through the same driver (bare unnest() INSERTs of 256 rows per transaction into the broker's own
// table, bare paged SELECTs), how long an append holds the log's head lock (the append statement's round
// trip, an upper bound), one and three broker processes over WebSocket (publish, replay with acks by a consumer shared among them, publish
// → delivery across brokers at 5,000 msg/s), and pg-boss on the same payloads. A table
// on stdout, one JSON line last; progress on stderr. Each workload runs in a schema of its own, dropped after.
//   --messages N   messages per workload (default 50,000)
//   --url URL      the database (default the local server's postgres database)
//   --quick        smaller counts for the rows of messages in time
//   --pending N    delayed messages pending in the schedules' memory and publish-rate rows (default 1,000,000)
//   --only schedules  the rows of messages in time alone (bench/schedules.ts)
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import PgBoss from 'pg-boss';
import { connect, type EventBusClient } from '../src/client/index.js';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openBroker } from '../src/app.js';
import type { Broker } from '../src/core/broker.js';
import { LogMessage } from '../src/core/store-port.js';
import { LocalSubscriber } from '../src/embed/local-subscriber.js';
import { silentLogger } from '../src/logger.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { int8AsNumber, openPool } from '../src/store/postgres/connect.js';
import { testBrokerConfig } from '../test/helpers/broker.js';
import { BROKER_NODE_FLAGS, Latencies, must, now, Progress, rate, round, table, type Row } from './lib.js';
import { scheduleWorkloads, type BenchConfig } from './schedules.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '50000' },
    url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    quick: { type: 'boolean', default: false },
    pending: { type: 'string' },
    only: { type: 'string' },
  },
});
const N = Number(args.messages);
const URL_ = args.url;
const PENDING = Number(args.pending ?? (args.quick ? 100_000 : 1_000_000));
const BATCH = 256;
const PAGE = 512;
const PAYLOAD = 'x'.repeat(100);
const schemas: string[] = [];
const schema = (): string => {
  const s = `bench_${randomBytes(4).toString('hex')}`;
  schemas.push(s);
  return s;
};

async function withClient<T>(s: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: URL_, options: `-c search_path=${s}`, types: int8AsNumber() });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

/**
 * Bare INSERTs of the broker's rows into its own table (the migrations' schema, with its indexes), 256 per
 * transaction, then bare paged SELECTs of them: the limits, as the SQLite bench measures its own.
 */
async function rawLimits(): Promise<{ insert: number; select: number }> {
  const s = schema();
  await must(await openPool({ url: URL_, schema: s })).end(); // the broker's schema, migrated
  return withClient(s, async (c) => {
    const topics = new Array<string>(BATCH).fill('bench.raw');
    const payloads = new Array<string>(BATCH).fill(PAYLOAD);
    const metas = new Array<string>(BATCH).fill('{"timestamp":1}');
    const progress = new Progress('raw insert', N);
    let t = now();
    for (let seq = 0; seq < N; seq += BATCH) {
      await c.query('BEGIN');
      await c.query({
        name: 'ins',
        text: `INSERT INTO messages (seq, topic, payload, metadata, ttl, status, created_at)
          SELECT $1::bigint + o, t, p, m, 0, 'pending', $5 FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS r(t, p, m, o)`,
        values: [seq, topics, payloads, metas, Date.now()],
      });
      await c.query('COMMIT');
      progress.tick(seq);
    }
    const insert = rate(N, now() - t);
    t = now();
    let read = 0;
    for (let from = 1; read < N; from += PAGE) {
      read += (await c.query({ name: 'sel', text: `SELECT seq, message_id, topic, payload, metadata, ttl, ordering_key, created_at FROM messages WHERE seq >= $1 ORDER BY seq LIMIT $2`, values: [from, PAGE], rowMode: 'array' })).rows.length;
    }
    return { insert, select: rate(N, now() - t) };
  });
}

async function broker(s: string): Promise<Broker> {
  const config = { ...testBrokerConfig(URL_), sync: 'full' as const, pgSchema: s, nodeId: 'bench' };
  return must(await openBroker(config, silentLogger));
}

async function concurrentPublish(): Promise<{ msgPerSec: number; p50: number; p99: number }> {
  const b = await broker(schema());
  const lat = new Latencies();
  const progress = new Progress('publish, 256 concurrent', N);
  let sent = 0;
  const t = now();
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (sent < N) {
        sent++;
        const t0 = now();
        must(await b.publish({ topic: 'bench.pub', payload: PAYLOAD }));
        lat.add(now() - t0);
        progress.tick(sent);
      }
    }),
  );
  const msgPerSec = rate(N, now() - t);
  await b.close();
  return { msgPerSec, ...lat.summary() };
}

async function replay(): Promise<number> {
  const s = schema();
  const b = await broker(s);
  for (let i = 0; i < N; i += BATCH) must(await b.publishBatch(Array.from({ length: Math.min(BATCH, N - i) }, () => ({ topic: 'bench.replay', payload: PAYLOAD }))));
  const sub = must(await LocalSubscriber.open(b, { pattern: 'bench.replay', consumer: 'replayer', start: { kind: 'seq', seq: 1 } }));
  const progress = new Progress('replay', N);
  const t = now();
  for (let got = 0; got < N; got++) {
    const d = await sub.next(10_000);
    if (d === undefined) throw new Error(`replay stalled at ${got}`);
    sub.ack(d.message.seq);
    progress.tick(got);
  }
  const r = rate(N, now() - t);
  sub.close();
  await b.close();
  return r;
}

/** The append statement alone, 256 rows each, one after another: its round trip bounds the head lock's hold. */
async function lockHold(): Promise<{ p50: number; p99: number }> {
  const store = must(await PostgresStore.open({ url: URL_, schema: schema(), nodeId: 'bench', logger: silentLogger }));
  const rows = Array.from({ length: BATCH }, () => new LogMessage(0, null, 'bench.lock', PAYLOAD, '{"timestamp":1}', 0, null, Date.now()));
  const lat = new Latencies();
  for (let i = 0; i < 200; i++) {
    const t0 = now();
    must(await store.append(rows));
    lat.add(now() - t0);
  }
  await store.close();
  return lat.summary();
}

interface Processes {
  /** A client connected to each broker. */
  readonly clients: EventBusClient[];
  /** One more client of broker `i`. */
  connect(i: number): Promise<EventBusClient>;
  stop(): Promise<void>;
}

/** `n` broker processes (`npm start`'s node flags, the built dist/) on one schema, a client connected to each. */
async function brokerProcesses(n: number, s: string): Promise<Processes> {
  const children: ChildProcess[] = [];
  const clients: EventBusClient[] = [];
  const ports: number[] = [];
  const open = async (i: number): Promise<EventBusClient> => {
    const c = await connect(`ws://127.0.0.1:${ports[i]!}/ws`, { requestTimeoutMs: 60_000 });
    clients.push(c);
    return c;
  };
  for (let i = 0; i < n; i++) {
    const child = spawn(process.execPath, [...BROKER_NODE_FLAGS, 'dist/main.js'], {
      cwd: ROOT,
      env: { ...process.env, EVENTBUS_DB: URL_, EVENTBUS_PG_SCHEMA: s, EVENTBUS_NODE_ID: `bench-${i}`, EVENTBUS_TRANSPORT_PORT: '0', EVENTBUS_REGISTRATION_PORT: '0', EVENTBUS_HTTP_PORT: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.once('exit', (code) => reject(new Error(`broker ${i} exited (${code}): ${out}`)));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const m = /"websocket":"ws:\/\/[^"]*:(\d+)\/ws"/.exec(out);
        if (m !== null) resolve(Number(m[1]));
      });
    });
    ports.push(port);
    await open(i);
  }
  return {
    clients: clients.slice(),
    connect: open,
    stop: async () => {
      for (const c of clients) c.close();
      await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(undefined) : (c.once('exit', resolve), c.kill('SIGTERM'))))));
    },
  };
}

/**
 * The same clients against one broker and against three: three connections with 256 publishes in flight
 * on each, all three to broker 0 or one to each broker.
 */
async function clusterPublish(n: number): Promise<number> {
  const p = await brokerProcesses(n, schema());
  const clients = [0, 1, 2].map((i) => p.clients[i % n]!);
  for (let i = n; i < clients.length; i++) clients[i] = await p.connect(0);
  const progress = new Progress(`publish on ${n} broker process${n > 1 ? 'es' : ''}`, N);
  let sent = 0;
  const t = now();
  await Promise.all(
    Array.from({ length: 256 * clients.length }, async (_, k) => {
      const c = clients[k % clients.length]!;
      while (sent < N) {
        sent++;
        await c.publish('bench.pub', PAYLOAD);
        progress.tick(sent);
      }
    }),
  );
  const r = rate(N, now() - t);
  await p.stop();
  return r;
}

/**
 * One durable consumer with a member on every broker, each message acked: the first member starts it at seq
 * 1, the others join it (a start on each would rewind it each time).
 */
async function clusterReplay(n: number): Promise<number> {
  const p = await brokerProcesses(n, schema());
  for (let i = 0; i < N; i += BATCH) await p.clients[0]!.publishBatch(Array.from({ length: Math.min(BATCH, N - i) }, () => ({ topic: 'bench.replay', payload: PAYLOAD })));
  const progress = new Progress(`replay on ${n} broker process${n > 1 ? 'es' : ''}`, N);
  const seen = new Set<number>();
  let duplicates = 0;
  const t = now();
  const subscriptions = [await p.clients[0]!.subscribe('bench.replay', { consumer: 'replayer', fromSeq: 1 })];
  for (const c of p.clients.slice(1)) subscriptions.push(await c.subscribe('bench.replay', { consumer: 'replayer' }));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replay stalled at ${seen.size}`)), 120_000);
    for (const sub of subscriptions) {
      void (async () => {
        for await (const m of sub) {
          m.ack();
          if (seen.has(m.seq)) duplicates++;
          seen.add(m.seq);
          progress.tick(seen.size);
          if (seen.size === N) {
            clearTimeout(timer);
            resolve();
          }
        }
      })();
    }
  });
  const r = rate(N, now() - t);
  if (duplicates > 0) throw new Error(`${duplicates} messages delivered twice`);
  await p.stop();
  return r;
}

/**
 * Publish on broker 0 at `perSec`, a subscriber on broker 1: publish → delivery, timed in this process, and
 * publish → answer beside it. The brokers are fresh processes: the first second (their code still being
 * compiled) is not counted.
 */
async function crossBrokerLatency(perSec: number, seconds: number): Promise<{ p50: number; p99: number; answerP50: number; answerP99: number }> {
  const p = await brokerProcesses(3, schema());
  const sub = await p.clients[1]!.subscribe('bench.lat');
  const warmUp = perSec;
  const total = warmUp + perSec * seconds;
  const lat = new Latencies();
  const answered = new Latencies();
  let got = 0;
  const done = (async () => {
    for await (const m of sub) {
      const { t, i } = m.json<{ t: number; i: number }>();
      if (i >= warmUp) lat.add(now() - t);
      if (++got >= total) return;
    }
  })();
  const progress = new Progress(`publish → delivery across brokers at ${perSec}/s`, total);
  const t0 = now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / perSec;
    const wait = due - now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const t = now();
    void p.clients[0]!.publish('bench.lat', { t, i }).then(() => {
      if (i >= warmUp) answered.add(now() - t);
    });
    progress.tick(i);
  }
  await done;
  await p.stop();
  const answer = answered.summary();
  return { ...lat.summary(), answerP50: answer.p50, answerP99: answer.p99 };
}

/** pg-boss, the Node queue teams run on PostgreSQL today: send, then fetch + complete, the same payloads. */
async function pgBoss(): Promise<{ send: number; consume: number }> {
  const boss = new PgBoss({ connectionString: URL_, schema: schema(), max: 10 });
  boss.on('error', (e) => console.error('pg-boss:', e.message));
  await boss.start();
  await boss.createQueue('bench');
  let sent = 0;
  const progress = new Progress('pg-boss send, 256 concurrent', N);
  let t = now();
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (sent < N) {
        sent++;
        await boss.send('bench', { payload: PAYLOAD });
        progress.tick(sent);
      }
    }),
  );
  const send = rate(N, now() - t);
  t = now();
  const fetched = new Progress('pg-boss fetch + complete, 256 a batch', N);
  for (let got = 0; got < N; ) {
    const jobs = await boss.fetch<{ payload: string }>('bench', { batchSize: BATCH });
    if (jobs.length === 0) throw new Error(`pg-boss fetch stalled at ${got}`);
    await boss.complete('bench', jobs.map((j) => j.id));
    got += jobs.length;
    fetched.tick(got);
  }
  const consume = rate(N, now() - t);
  await boss.stop({ graceful: false, wait: true });
  return { send, consume };
}

async function schedulesOnly(): Promise<void> {
  const sched = await scheduleRows();
  console.log(table(sched.rows));
  console.log(JSON.stringify({ bench: 'eventbus-postgres', version: 1, params: { messages: N, pending: PENDING }, targets: sched.targets, results: sched.rows }));
}

function scheduleRows(): ReturnType<typeof scheduleWorkloads> {
  const fresh = () => ({ ...testBrokerConfig(URL_), sync: 'full' as const, pgSchema: schema(), nodeId: 'bench' });
  // After a bulk insert, autovacuum would vacuum and analyse the table while the publish rounds run.
  const settle = (config: BenchConfig): Promise<void> =>
    withClient(config.pgSchema, async (c) => {
      await c.query('VACUUM ANALYZE schedules');
    });
  return scheduleWorkloads({ fresh, messages: args.quick ? 10_000 : N, fireSeconds: args.quick ? 3 : 10, burst: 10_000, pending: PENDING, pendingPublish: args.quick ? 10_000 : N, settle });
}

try {
  if (args.only === 'schedules') await schedulesOnly();
  else {
    const limits = await rawLimits();
    const pub = await concurrentPublish();
    const replayRate = await replay();
    const hold = await lockHold();
    const one = await clusterPublish(1);
    const three = await clusterPublish(3);
    const replayOne = await clusterReplay(1);
    const replayThree = await clusterReplay(3);
    const cross = await crossBrokerLatency(5000, 6);
    const boss = await pgBoss();
    const sched = await scheduleRows();
    const rows: Row[] = [
      { name: 'raw: unnest INSERT, 256/txn (pg)', msgs: N, msgPerSec: limits.insert, vsLimit: 1, note: 'the limit for publishing' },
      { name: 'publish, 256 concurrent awaited', msgs: N, msgPerSec: pub.msgPerSec, vsLimit: pub.msgPerSec / limits.insert, p50: pub.p50, p99: pub.p99, note: 'one broker; latency = publish → committed' },
      { name: 'raw: paged SELECT, 512/page (pg)', msgs: N, msgPerSec: limits.select, vsLimit: 1, note: 'the limit for replay' },
      { name: 'replay from seq 1, durable, ack each', msgs: N, msgPerSec: replayRate, vsLimit: replayRate / limits.select, note: 'one broker' },
      { name: 'append of 256 rows (head lock held)', msgs: 200 * BATCH, p50: hold.p50, p99: hold.p99, note: 'statement round trip: an upper bound of the lock hold' },
      { name: 'publish over WebSocket, 1 broker process', msgs: N, msgPerSec: one, vsLimit: one / limits.insert, note: '3 clients with 256 in flight each' },
      { name: 'publish over WebSocket, 3 broker processes', msgs: N, msgPerSec: three, vsLimit: three / limits.insert, note: `the same clients, one per broker; ${round(three / one, 2)}x one process` },
      { name: 'replay + ack, 1 broker process', msgs: N, msgPerSec: replayOne, vsLimit: replayOne / limits.select, note: 'one durable member' },
      { name: 'replay + ack, 3 broker processes', msgs: N, msgPerSec: replayThree, vsLimit: replayThree / limits.select, note: `a member on each, sharing one consumer; ${round(replayThree / replayOne, 2)}x one` },
      { name: 'publish → delivery across brokers, 5,000/s', msgs: 30_000, p50: cross.p50, p99: cross.p99, note: 'published on broker 0, subscribed on broker 1 (of 3); after 1 s' },
      { name: 'publish → answer, same run', msgs: 30_000, p50: cross.answerP50, p99: cross.answerP99, note: 'the commit on broker 0, as its client sees it' },
      { name: 'pg-boss send, 256 concurrent', msgs: N, msgPerSec: boss.send, vsLimit: boss.send / limits.insert, note: `eventbus publish (one broker) is ${round(pub.msgPerSec / boss.send, 1)}x` },
      { name: 'pg-boss fetch + complete, 256 a batch', msgs: N, msgPerSec: boss.consume, vsLimit: boss.consume / limits.select, note: `eventbus replay + ack is ${round(replayRate / boss.consume, 1)}x` },
      ...sched.rows,
    ];
    console.log(table(rows));
    console.log(JSON.stringify({ bench: 'eventbus-postgres', version: 1, params: { messages: N }, targets: {
          concurrent_publish_vs_limit: { value: round(pub.msgPerSec / limits.insert, 2), target: '>= 0.5' },
          publish_vs_pg_boss_send: { value: round(pub.msgPerSec / boss.send, 2), target: '>= 3' },
          three_brokers_vs_one: { value: round(three / one, 2), target: '>= 1' },
          cross_broker_p99_ms: { value: round(cross.p99, 1), target: '< 20' },
          lock_hold_p99_ms: { value: hold.p99 },
          ...sched.targets,
        }, results: rows }));
  }
} finally {
  await withClient('public', async (c) => {
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  });
}
