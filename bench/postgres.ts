// `npm run bench:postgres`: one broker on the local PostgreSQL beside the raw limits measured in the same
// run through the same driver (bare unnest() INSERTs of 256 rows per transaction, bare paged SELECTs), and
// how long an append holds the log's head lock (the append statement's round trip, an upper bound). A table
// on stdout, one JSON line last; progress on stderr. Each workload runs in a schema of its own, dropped after.
//   --messages N   messages per workload (default 50,000)
//   --url URL      the database (default the local server's postgres database)
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openBroker } from '../src/app.js';
import type { Broker } from '../src/core/broker.js';
import { LogMessage } from '../src/core/store-port.js';
import { LocalSubscriber } from '../src/embed/local-subscriber.js';
import { silentLogger } from '../src/logger.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { int8AsNumber } from '../src/store/postgres/connect.js';
import { testBrokerConfig } from '../test/helpers/broker.js';
import { Latencies, now, Progress, rate, round, table, type Row } from './lib.js';

const { values: args } = parseArgs({ options: { messages: { type: 'string', default: '50000' }, url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' } } });
const N = Number(args.messages);
const URL_ = args.url;
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

/** Bare INSERTs of the broker's rows, 256 per transaction, then bare paged SELECTs of them: the limits. */
async function rawLimits(): Promise<{ insert: number; select: number }> {
  const s = schema();
  return withClient(s, async (c) => {
    await c.query(`CREATE SCHEMA ${s}; CREATE TABLE messages (seq bigint PRIMARY KEY, message_id text, topic text NOT NULL, payload text NOT NULL,
      metadata text NOT NULL, ttl integer NOT NULL DEFAULT 0, status text NOT NULL DEFAULT 'pending', ordering_key text, created_at bigint NOT NULL)`);
    const topics = new Array<string>(BATCH).fill('bench.raw');
    const payloads = new Array<string>(BATCH).fill(PAYLOAD);
    const metas = new Array<string>(BATCH).fill('{"timestamp":1}');
    const progress = new Progress('raw insert', N);
    let t = now();
    for (let seq = 0; seq < N; seq += BATCH) {
      await c.query('BEGIN');
      await c.query({
        name: 'ins',
        text: `INSERT INTO messages (seq, topic, payload, metadata, created_at) SELECT $1::bigint + o, t, p, m, $5 FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS r(t, p, m, o)`,
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
  return (await openBroker(config, silentLogger))._unsafeUnwrap();
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
        (await b.publish({ topic: 'bench.pub', payload: PAYLOAD }))._unsafeUnwrap();
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
  for (let i = 0; i < N; i += BATCH) (await b.publishBatch(Array.from({ length: Math.min(BATCH, N - i) }, () => ({ topic: 'bench.replay', payload: PAYLOAD }))))._unsafeUnwrap();
  const sub = (await LocalSubscriber.open(b, { pattern: 'bench.replay', consumer: 'replayer', start: { kind: 'seq', seq: 1 } }))._unsafeUnwrap();
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
  const store = (await PostgresStore.open({ url: URL_, schema: schema(), nodeId: 'bench', logger: silentLogger }))._unsafeUnwrap();
  const rows = Array.from({ length: BATCH }, () => new LogMessage(0, null, 'bench.lock', PAYLOAD, '{"timestamp":1}', 0, null, Date.now()));
  const lat = new Latencies();
  for (let i = 0; i < 200; i++) {
    const t0 = now();
    (await store.append(rows))._unsafeUnwrap();
    lat.add(now() - t0);
  }
  await store.close();
  return lat.summary();
}

try {
  const limits = await rawLimits();
  const pub = await concurrentPublish();
  const replayRate = await replay();
  const hold = await lockHold();
  const rows: Row[] = [
    { name: 'raw: unnest INSERT, 256/txn (pg)', msgs: N, msgPerSec: limits.insert, vsLimit: 1, note: 'the limit for publishing' },
    { name: 'publish, 256 concurrent awaited', msgs: N, msgPerSec: pub.msgPerSec, vsLimit: pub.msgPerSec / limits.insert, p50: pub.p50, p99: pub.p99, note: 'one broker; latency = publish → committed' },
    { name: 'raw: paged SELECT, 512/page (pg)', msgs: N, msgPerSec: limits.select, vsLimit: 1, note: 'the limit for replay' },
    { name: 'replay from seq 1, durable, ack each', msgs: N, msgPerSec: replayRate, vsLimit: replayRate / limits.select, note: 'one broker' },
    { name: 'append of 256 rows (head lock held)', msgs: 200 * BATCH, p50: hold.p50, p99: hold.p99, note: 'statement round trip: an upper bound of the lock hold' },
  ];
  console.log(table(rows));
  console.log(JSON.stringify({ bench: 'eventbus-postgres', version: 1, params: { messages: N }, targets: { concurrent_publish_vs_limit: { value: round(pub.msgPerSec / limits.insert, 2), target: '>= 0.5' }, lock_hold_p99_ms: { value: hold.p99 } }, results: rows }));
} finally {
  await withClient('public', async (c) => {
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  });
}
