// `npm run bench`: the broker's in-process figures beside the raw SQLite limit measured in the same run, so
// the result is a ratio, then telnet ingest and tcp push against the broker in its own process. A table for
// people on stdout, one JSON line last; progress on stderr.
//   --quick           smaller counts (about a minute)
//   --messages N      messages per publish workload (default 200,000)
//   --replay N        messages replayed (default 1,000,000)
//   --sync full|normal  EVENTBUS_SYNC for every workload and its limit (default full, the broker's default)
//   --pending N       delayed messages pending in the schedules' memory and publish-rate rows (default 1,000,000)
//   --only schedules  the rows of messages in time alone (bench/schedules.ts)
//   --only credentials  concurrent publish with and without a credential's decision before each, alternated
//                     over --rounds N (default 5), for the ratio PROTOCOL.md §12's cost is judged by
//   --only tracing    publish and deliver without spans and with them exported over OTLP/HTTP, alternated over
//                     --rounds N (bench/tracing.ts)
//   --only replay     the replay rows alone, each round on a fresh copy of the filled log (--rounds N, default 5)
//   --only scale      lag reads at 100k and --large N messages (default 3,000,000), the stats stream's CPU there,
//                     and publishing with 1, 100 and 1,000 consumers (bench/scale.ts); --rounds N repeats it
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { SyncMode } from '../src/config.js';
import { openSqliteBroker } from '../src/app.js';
import type { Broker, Principal } from '../src/core/broker.js';
import { silentLogger } from '../src/logger.js';
import { openDb } from '../src/store/sqlite/open.js';
import { messages } from '../src/store/sqlite/schema.js';
import { MESSAGES_PER_STATEMENT } from '../src/store/sqlite/write-queries.js';
import { testBrokerConfig } from '../test/helpers/broker.js';
import { BROKER_NODE_FLAGS, Latencies, must, now, Progress, rate, round, table, type Row } from './lib.js';
import { networkWorkloads } from './network.js';
import { scheduleWorkloads, type BenchConfig } from './schedules.js';
import { slowConsumers } from './slow-consumers.js';
import { scaleWorkloads, type ScaleTargets } from './scale.js';
import { tracingRounds } from './tracing.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    messages: { type: 'string' },
    replay: { type: 'string' },
    sync: { type: 'string', default: 'full' },
    pending: { type: 'string' },
    only: { type: 'string' },
    rounds: { type: 'string' },
    large: { type: 'string' },
  },
});
const quick = args.quick;
const N = Number(args.messages ?? (quick ? 50_000 : 200_000));
const REPLAY = Number(args.replay ?? (quick ? 200_000 : 1_000_000));
const SYNC = args.sync as SyncMode;
const PENDING = Number(args.pending ?? (quick ? 100_000 : 1_000_000));
const onlySchedules = args.only === 'schedules';
const onlyCredentials = args.only === 'credentials';
const onlyTracing = args.only === 'tracing';
const onlyScale = args.only === 'scale';
const onlyReplay = args.only === 'replay';
const LARGE = Number(args.large ?? (quick ? 500_000 : 3_000_000));
let scaleTargets: ScaleTargets[] | undefined;
let tracingRatios: number[] | undefined;
let sampledTracingRatios: number[] | undefined;
const ROUNDS = Number(args.rounds ?? 5);
const ROWS_PER_TXN = 256;
const LATENCY_RATE = 5000;
const LATENCY_SECONDS = quick ? 3 : 10;
const PAYLOAD = 'x'.repeat(100);
const TOPIC = 'bench.events';
// The broker's row, inserted by hand: what the raw limits write.
const RAW_INSERT = `INSERT INTO messages (message_id, topic, payload, metadata, ttl, status, ordering_key, created_at)
  VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`;

const dir = await mkdtemp(join(tmpdir(), 'eventbus-bench-'));
const rows: Row[] = [];
let scheduleTargetValues: Record<string, unknown> | undefined;
const log = (s: string) => process.stderr.write(`${s}\n`);

try {
  log(`eventbus bench: ${N} msgs per publish workload, ${REPLAY} replayed, sync=${SYNC}, payload ${PAYLOAD.length} B`);
  if (onlyScale) {
    scaleTargets = [];
    for (let round = 1; round <= Number(args.rounds ?? 1); round++) {
      const scaled = await scaleWorkloads(dir, { sync: SYNC, large: LARGE, publish: N });
      rows.push(...scaled.rows);
      scaleTargets.push(scaled.targets);
    }
  } else if (onlyReplay) {
    await withBroker('bus.db', (broker) => fill(broker, REPLAY));
    for (let round = 1; round <= ROUNDS; round++) {
      const copy = join(dir, `replay-${round}.db`);
      await copyFile(join(dir, 'bus.db'), copy);
      rows.push(...(await replayRows(copy)));
      await rm(copy, { force: true });
    }
  } else if (onlyTracing) {
    const traced = await tracingRounds(dir, { messages: N, rounds: ROUNDS, sync: SYNC });
    rows.push(...traced.rows);
    tracingRatios = traced.ratios;
    sampledTracingRatios = traced.sampledRatios;
  } else if (onlyCredentials) {
    const insertLimit = rawInsert(join(dir, 'raw.db'));
    rows.push({ name: 'raw: prepared INSERT, 256/txn', msgs: N, msgPerSec: insertLimit, vsLimit: 1, note: 'the limit for publishing' });
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternated, so that a slow spell of the machine falls on both alike.
      rows.push(await withBroker(`plain-${round}.db`, (broker) => publishConcurrent(broker, insertLimit, 256)));
      rows.push(await withBroker(`checked-${round}.db`, async (broker) => publishConcurrent(broker, insertLimit, 256, await asCredential(broker))));
    }
  } else if (!onlySchedules) {
    const insertLimit = rawInsert(join(dir, 'raw.db'));
    rows.push({ name: 'raw: prepared INSERT, 256/txn', msgs: N, msgPerSec: insertLimit, vsLimit: 1, note: 'the limit for publishing' });
    const multiRow = rawInsert(join(dir, 'raw-multi.db'), MESSAGES_PER_STATEMENT);
    rows.push({ name: `raw: ${MESSAGES_PER_STATEMENT} rows per INSERT, 256/txn`, msgs: N, msgPerSec: multiRow, vsLimit: multiRow / insertLimit, note: "the statements the broker's writer uses" });
    const viaDrizzle = drizzleInsert(join(dir, 'drizzle.db'));
    rows.push({ name: 'raw: drizzle builder INSERT, 256/txn', msgs: N / 4, msgPerSec: viaDrizzle, vsLimit: viaDrizzle / insertLimit, note: 'why the hot path uses a prepared statement' });

    // Each workload gets a fresh broker and file, so none inherits another's heap, WAL or log size.
    rows.push(await withBroker('publish-1.db', (broker) => publishSequential(broker, insertLimit)));
    rows.push(await withBroker('publish-256.db', (broker) => publishConcurrent(broker, insertLimit, 256)));
    rows.push(await withBroker('publish-256-checked.db', async (broker) => publishConcurrent(broker, insertLimit, 256, await asCredential(broker))));
    rows.push(await withBroker('publish-batch.db', (broker) => publishBatches(broker, insertLimit)));
    rows.push(rawGroupCommitLatency(join(dir, 'raw-latency.db')));
    rows.push(await latencyInChild(join(dir, 'latency.db')));
    await withBroker('bus.db', (broker) => fill(broker, REPLAY));
    rows.push(...(await replayRows(join(dir, 'bus.db'))));
    const inProcess = rows.find((r) => r.name.startsWith('publish, 256 concurrent'))!.msgPerSec!;
    rows.push(...(await networkWorkloads(dir, { messages: N, sync: SYNC, inProcessPublish: inProcess })));
    rows.push(await slowConsumers(dir, SYNC));
  }
  // The latency floor of the disk, for the fire delay rows (in the full run, among the rows above already).
  if (onlySchedules) rows.push(rawGroupCommitLatency(join(dir, 'raw-latency.db')));
  if (!onlyCredentials && !onlyTracing && !onlyScale && !onlyReplay) await timeWorkloads();
} finally {
  await rm(dir, { recursive: true, force: true });
}

async function timeWorkloads(): Promise<void> {
  const fresh = (file: string): BenchConfig => ({ ...testBrokerConfig(join(dir, file), { sync: SYNC, maxInFlight: 1000 }), pgSchema: 'eventbus', nodeId: 'bench' });
  const sched = await scheduleWorkloads({ fresh, messages: quick ? 20_000 : Math.min(N, 100_000), fireSeconds: LATENCY_SECONDS, burst: 10_000, pending: PENDING, pendingPublish: quick ? 20_000 : 50_000 });
  rows.push(...sched.rows);
  scheduleTargetValues = sched.targets;
}

process.stdout.write(`\n${table(rows)}\n\n`);
const find = (prefix: string) => rows.find((r) => r.name.startsWith(prefix));
/** Checked publish ÷ plain publish, each round's pair alike (one pair in the full run). */
const checkedRatios = rows.flatMap((r, i) => (r.name.includes('as a credential') && rows[i - 1]?.name.startsWith('publish, 256') ? [round(r.msgPerSec! / rows[i - 1]!.msgPerSec!, 3)] : []));
/** Every replay round's row (several with --only replay --rounds N). */
const replayRounds = rows.filter((r) => r.name.startsWith('replay from'));
const targets = {
  concurrent_publish_vs_limit: { value: round(find('publish, 256 concurrent')?.vsLimit ?? 0, 2), target: '>= 0.5' },
  concurrent_publish_vs_multi_row_insert: {
    value: round((find('publish, 256 concurrent')?.msgPerSec ?? 0) / (find(`raw: ${MESSAGES_PER_STATEMENT} rows`)?.msgPerSec ?? 1), 2),
  },
  replay_vs_limit: { value: replayRounds.map((r) => round(r.vsLimit ?? 0, 2)), target: '>= 0.65' },
  replay_vs_object_row_scan: { value: round((find('replay')?.msgPerSec ?? 0) / (find('raw: paged SELECT, object')?.msgPerSec ?? 1), 2) },
  p99_ms_at_5000: { value: find('latency')?.p99, target: '< 5' },
  raw_group_commit_p99_ms_at_5000: { value: find('raw: group commit')?.p99 },
  replay_rss_mb: { value: replayRounds.map((r) => r.rssMb), target: '< 120' },
  receiver_replay_vs_limit: { value: round(find('replay through the EventReceiver')?.vsLimit ?? 0, 2) },
  telnet_ingest_msg_per_sec: { value: find('ingest')?.msgPerSec, target: '>= 100000' },
  push_vs_ingest: { value: round(find('push to one tcp')?.vsLimit ?? 0, 2), target: '>= 1' },
  healthy_push_beside_broken_vs_alone: { value: round(find('push to 3 healthy')?.vsLimit ?? 0, 2), target: '>= 0.5' },
  ts_client_publish_vs_in_process: { value: round(find('publish, TypeScript client')?.vsLimit ?? 0, 2) },
  pull_consume_vs_websocket: { value: round(find('consume, HTTP pull')?.vsLimit ?? 0, 2) },
  pull_wake_p99_ms: { value: find('long-poll woken')?.p99, target: '< 50' },
  credential_checked_publish_vs_plain: { value: checkedRatios, target: '>= 0.97' },
  ...(tracingRatios === undefined ? {} : { traced_publish_deliver_vs_plain: { value: tracingRatios }, sampled_1pct_publish_deliver_vs_plain: { value: sampledTracingRatios } }),
  ...(scheduleTargetValues ?? {}),
  ...(scaleTargets === undefined
    ? {}
    : {
        lag_read_large_vs_100k: { value: scaleTargets.map((t) => t.lagReadRatio), target: '<= 1.5' },
        stats_stream_cpu_percent: { value: scaleTargets.map((t) => t.statsStreamCpuPercent), target: '< 2' },
        publish_1000_consumers_vs_1: { value: scaleTargets.map((t) => t.publishK1000VsK1), target: '>= 0.9' },
        consumers_read_1000_vs_1: { value: scaleTargets.map((t) => t.consumersReadK1000VsK1), target: '< 20' },
      }),
};
process.stdout.write(`${JSON.stringify({ bench: 'eventbus-core', version: 1, params: { messages: N, replay: REPLAY, sync: SYNC, payloadBytes: PAYLOAD.length, pending: PENDING, ...(onlyScale ? { large: LARGE } : {}) }, targets, results: rows })}\n`);

async function withBroker<T>(file: string, run: (broker: Broker) => Promise<T>): Promise<T> {
  const opened = await openSqliteBroker(testBrokerConfig(join(dir, file), { sync: SYNC, maxInFlight: 1000 }), silentLogger);
  if (opened.isErr()) throw new Error(opened.error.message);
  try {
    return await run(opened.value.broker);
  } finally {
    await opened.value.broker.close();
  }
}

function metadata(t: number): string {
  return `{"timestamp":${t},"content_type":"text/plain"}`;
}

/**
 * Bare better-sqlite3: the same rows, schema and pragmas as the broker, 256 rows per transaction, one INSERT
 * per row, or `perStatement` rows per INSERT as the broker's writer does.
 */
function rawInsert(dbPath: string, perStatement = 1): number {
  const { sqlite, close } = must(openDb({ path: dbPath, sync: SYNC }));
  const insert = sqlite.prepare(`${RAW_INSERT}${", (?, ?, ?, ?, ?, 'pending', ?, ?)".repeat(perStatement - 1)}`);
  const tx = sqlite.transaction((t: number) => {
    const args = Array.from({ length: perStatement }, () => [null, TOPIC, PAYLOAD, metadata(t), 0, null, t]).flat();
    for (let i = 0; i < ROWS_PER_TXN; i += perStatement) insert.run(args);
  });
  const progress = new Progress(perStatement === 1 ? 'raw insert' : `raw insert, ${perStatement} rows per statement`, N);
  const t0 = now();
  for (let done = 0; done < N; done += ROWS_PER_TXN) {
    tx.immediate(Date.now());
    progress.tick(done);
  }
  const ms = now() - t0;
  close();
  return rate(N, ms);
}

/**
 * The latency floor of the disk: bare better-sqlite3 group commit of the latency workload's rows, one thread,
 * nothing else to do. Messages fall due at a steady rate; each pass commits every message due (one fsync)
 * and a message's latency runs from its due time to the end of its commit.
 */
function rawGroupCommitLatency(dbPath: string): Row {
  const { sqlite, close } = must(openDb({ path: dbPath, sync: SYNC }));
  const insert = sqlite.prepare(RAW_INSERT);
  const tx = sqlite.transaction((count: number, t: number) => {
    for (let i = 0; i < count; i++) insert.run(null, TOPIC, PAYLOAD, metadata(t), 0, null, t);
  });
  const total = LATENCY_RATE * LATENCY_SECONDS;
  const progress = new Progress(`raw group commit at ${LATENCY_RATE} msg/s`, total);
  const lat = new Latencies();
  const t0 = now();
  const dueAt = (i: number) => t0 + (i * 1000) / LATENCY_RATE;
  let committed = 0;
  while (committed < total) {
    const due = Math.min(total, Math.floor(((now() - t0) * LATENCY_RATE) / 1000) + 1);
    if (due === committed) continue; // the next message is not due yet
    tx.immediate(due - committed, Date.now());
    const end = now();
    for (let i = committed; i < due; i++) lat.add(end - dueAt(i));
    committed = due;
    progress.tick(committed);
  }
  close();
  return { name: `raw: group commit, ${LATENCY_RATE} msg/s`, msgs: total, msgPerSec: LATENCY_RATE, ...lat.summary(), note: 'the latency floor: due → committed, bare SQLite' };
}

function drizzleInsert(dbPath: string): number {
  const { db, sqlite, close } = must(openDb({ path: dbPath, sync: SYNC }));
  const n = N / 4;
  const tx = sqlite.transaction((t: number) => {
    for (let i = 0; i < ROWS_PER_TXN; i++) {
      db.insert(messages).values({ topic: TOPIC, payload: PAYLOAD, metadata: metadata(t), createdAt: t }).run();
    }
  });
  const t0 = now();
  for (let done = 0; done < n; done += ROWS_PER_TXN) tx.immediate(Date.now());
  const ms = now() - t0;
  close();
  return rate(n, ms);
}

async function publishSequential(broker: Broker, limit: number): Promise<Row> {
  const seconds = quick ? 2 : 5;
  const progress = new Progress('publish, 1 awaited publisher', 0);
  const lat = new Latencies();
  const t0 = now();
  let n = 0;
  while (now() - t0 < seconds * 1000) {
    const s = now();
    must(await broker.publish({ topic: TOPIC, payload: PAYLOAD }));
    lat.add(now() - s);
    progress.tick(++n);
  }
  const ms = now() - t0;
  const r = rate(n, ms);
  return { name: 'publish, 1 awaited publisher', msgs: n, msgPerSec: r, vsLimit: r / limit, ...lat.summary(), note: 'one commit (fsync) per message' };
}

/** A credential allowed the bench's topic among others, as a front-end holds it for a connection. */
async function asCredential(broker: Broker): Promise<Principal> {
  const { token } = must(await broker.access.create('bench', { publish: ['audit.#', 'bench.*', 'orders.eu.#'], subscribe: ['bench.#'] }));
  return must(broker.gate.enter(token, { front: 'bench', peer: 'in-process' }));
}

/** `principal`: each publish is first checked as a front-end checks it (PROTOCOL.md §12). */
async function publishConcurrent(broker: Broker, limit: number, publishers: number, principal?: Principal): Promise<Row> {
  const checked = principal === undefined ? '' : ', as a credential';
  const progress = new Progress(`publish, ${publishers} concurrent${checked}`, N);
  const lat = new Latencies();
  let next = 0;
  const t0 = now();
  async function loop(): Promise<void> {
    while (next < N) {
      next++;
      const s = now();
      if (principal !== undefined) must(principal.publish([TOPIC]));
      must(await broker.publish({ topic: TOPIC, payload: PAYLOAD }));
      lat.add(now() - s);
      progress.tick(next);
    }
  }
  await Promise.all(Array.from({ length: publishers }, loop));
  const ms = now() - t0;
  progress.end(N);
  const r = rate(N, ms);
  const note = principal === undefined ? 'group commit; latency = publish → durable ack' : "each publish checked against the credential's patterns first, as the front-ends do";
  return { name: `publish, ${publishers} concurrent awaited${checked}`, msgs: N, msgPerSec: r, vsLimit: r / limit, ...lat.summary(), note };
}

async function publishBatches(broker: Broker, limit: number): Promise<Row> {
  const progress = new Progress('publishBatch(256)', N);
  const batch = Array.from({ length: ROWS_PER_TXN }, () => ({ topic: TOPIC, payload: PAYLOAD }));
  const lat = new Latencies();
  const t0 = now();
  for (let done = 0; done < N; done += ROWS_PER_TXN) {
    const s = now();
    must(await broker.publishBatch(batch));
    lat.add(now() - s);
    progress.tick(done);
  }
  const ms = now() - t0;
  const r = rate(N, ms);
  return { name: 'publishBatch of 256, awaited', msgs: N, msgPerSec: r, vsLimit: r / limit, ...lat.summary(), note: 'latency per batch' };
}

async function fill(broker: Broker, count: number): Promise<void> {
  const progress = new Progress('filling the log for replay', count);
  const batch = Array.from({ length: 1024 }, () => ({ topic: 'bench.replay', payload: PAYLOAD }));
  for (let done = 0; done < count; done += batch.length) {
    must(await broker.publishBatch(count - done < batch.length ? batch.slice(0, count - done) : batch));
    progress.tick(done);
  }
}

/** Every column of the log's rows, paged as a catch-up pages them, with nothing done per row: in raw (array)
 * mode as the broker reads, or in better-sqlite3's default object mode. The broker's read of one topic leaves
 * the topic column out (it knows it); the limit reads it all the same. */
function rawScan(dbPath: string, mode: 'array' | 'object'): number {
  const { sqlite, close } = must(openDb({ path: dbPath, sync: SYNC }));
  const select = sqlite.prepare(
    `SELECT seq, message_id, topic, payload, metadata, ttl, ordering_key, created_at
     FROM messages WHERE topic = ? AND seq >= ? ORDER BY seq LIMIT 512`,
  );
  if (mode === 'array') select.raw();
  const lastSeq = mode === 'array' ? (page: unknown[]) => (page.at(-1) as [number])[0] : (page: unknown[]) => (page.at(-1) as { seq: number }).seq;
  const t0 = now();
  let from = 0;
  let n = 0;
  for (;;) {
    const page = select.all('bench.replay', from);
    if (page.length === 0) break;
    n += page.length;
    from = lastSeq(page) + 1;
  }
  const ms = now() - t0;
  close();
  return rate(n, ms);
}

/**
 * Runs a bench/*-child.mjs script on the compiled broker in a fresh process with the broker's node flags;
 * resolves with its JSON line.
 */
function runChild<T>(name: string, args: readonly (string | number)[]): Promise<T> {
  const script = fileURLToPath(new URL(`./${name}`, import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...BROKER_NODE_FLAGS, script, ...args.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`${name} exited with ${code}`))));
  });
}

/**
 * The replay rows of the filled log at `dbPath`: the raw scan, right before the replay and again right after it
 * (the limit is the mean of the two, so that a slow spell of the machine during the one falls on the other
 * alike), the replay by a subscriber acking each, and by an EventReceiver.
 */
async function replayRows(dbPath: string): Promise<Row[]> {
  const before = rawScan(dbPath, 'array');
  const objectScan = rawScan(dbPath, 'object');
  const replay = await replayInChild(dbPath);
  const after = rawScan(dbPath, 'array');
  const scanLimit = (before + after) / 2;
  const receiver = await replayInChild(dbPath, 'receiver');
  return [
    { name: 'raw: paged SELECT, array rows', msgs: REPLAY, msgPerSec: scanLimit, vsLimit: 1, note: `the limit for replay: every column, array rows as the broker reads them (mean of ${Math.round(before)} before the replay and ${Math.round(after)} after)` },
    { name: 'raw: paged SELECT, object rows', msgs: REPLAY, msgPerSec: objectScan, vsLimit: objectScan / scanLimit, note: "better-sqlite3's default row objects" },
    { ...replay, vsLimit: replay.msgPerSec! / scanLimit, note: `${replay.note}; ${(replay.msgPerSec! / objectScan).toFixed(2)}x of the object-row scan` },
    { ...receiver, vsLimit: receiver.msgPerSec! / scanLimit },
  ];
}

/** Replay in a fresh process, so its RSS is the broker's alone; the caller sets vsLimit. */
async function replayInChild(dbPath: string, api: 'subscriber' | 'receiver' = 'subscriber'): Promise<Row> {
  const { received, ms, rssMb, cpu } = await runChild<{ received: number; ms: number; rssMb: number; cpu: { main: number; writer: number } }>('replay-child.mjs', [dbPath, REPLAY, SYNC, api]);
  const r = rate(received, ms);
  const name = api === 'subscriber' ? 'replay from seq 1, durable, ack each' : 'replay through the EventReceiver interface';
  const what = api === 'subscriber' ? 'peak RSS of the broker process' : 'receiveMessages(256), then acknowledgeMessages of them';
  const note = `${what}; CPU ${(cpu.main / 1000).toFixed(2)} s main thread, ${(cpu.writer / 1000).toFixed(2)} s writer thread`;
  return { name, msgs: received, msgPerSec: r, rssMb, note };
}

/** Publisher, broker and subscriber in one fresh process: the harness's own heap stays out of the figures. */
async function latencyInChild(dbPath: string): Promise<Row> {
  const r = await runChild<{ received: number; p50: number; p99: number; max: number }>('latency-child.mjs', [dbPath, LATENCY_RATE, LATENCY_SECONDS, SYNC]);
  return { name: `latency, ${LATENCY_RATE} msg/s, durable + ack`, msgs: r.received, msgPerSec: LATENCY_RATE, p50: round(r.p50), p99: round(r.p99), note: 'publish call → delivered to subscriber' };
}
