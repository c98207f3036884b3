// `npm run bench -- --only scale`: the figures that must not grow with the backlog or with the number of
// consumers, against the compiled broker in its own process, over its HTTP API as operators and publishers
// reach it:
// - reading the lag (GET /api/consumers, GET /metrics) of 20 durable consumers that acked nothing, at 100k
//   messages and at a few million: the ratio of the two, and the first read's, which counts in full;
// - the CPU a dashboard's stats stream costs the broker at that size, in % of one core;
// - publishing in HTTP batches over 1,000 topics with 1, 100 and 1,000 durable consumers, each on its own
//   topic, and GET /api/consumers with 1,000 consumers against one.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { Progress, now, rate, round, type Row } from './lib.js';
import { startBroker } from './network.js';

const LAG_CONSUMERS = 20;
const READS = 15;
const PUBLISH_BATCH = 500;
const STREAM_SECONDS = 10;
const PUBLISH_TOPICS = 1000;

export interface ScaleTargets {
  /** The median lag read at the large size ÷ at 100k, per route: at most 1.5. */
  readonly lagReadRatio: Record<string, number>;
  /** The stats stream's share of one core at the large size: under 2%. */
  readonly statsStreamCpuPercent: number;
  /** Publish with 1,000 consumers ÷ with one: at least 0.9. */
  readonly publishK1000VsK1: number;
  /** GET /api/consumers with 1,000 consumers ÷ with one: under 20. */
  readonly consumersReadK1000VsK1: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

function request(port: number, method: string, path: string, body?: unknown): Promise<string> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const headers = text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) };
    const req = http.request({ host: '127.0.0.1', port, path, method, agent, headers }, (res) => {
      let out = '';
      res.setEncoding('utf8').on('data', (d: string) => (out += d));
      res.once('end', () => (res.statusCode === 200 ? resolve(out) : reject(new Error(`${method} ${path} answered ${res.statusCode}: ${out}`))));
    });
    req.once('error', reject).end(text);
  });
}

/** CPU seconds the process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Publishes `count` messages in batches over `topics` (round robin); msg/s. */
async function publishBatches(port: number, count: number, topics: readonly string[], label: string): Promise<number> {
  const progress = new Progress(label, count);
  let next = 0;
  let done = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < count) {
        const n = Math.min(PUBLISH_BATCH, count - next);
        const first = next;
        next += n;
        const messages = Array.from({ length: n }, (_, i) => ({ topic: topics[(first + i) % topics.length]!, payload: 'x'.repeat(100) }));
        await request(port, 'POST', '/api/publish', { messages });
        progress.tick((done += n));
      }
    }),
  );
  const ms = now() - t0;
  progress.end(done);
  return rate(count, ms);
}

/** The first read's time and the median of READS more, in ms. */
async function timedReads(port: number, path: string): Promise<{ first: number; median: number }> {
  const time = async (): Promise<number> => {
    const t0 = now();
    await request(port, 'GET', path);
    return now() - t0;
  };
  const first = await time();
  const times: number[] = [];
  for (let i = 0; i < READS; i++) times.push(await time());
  times.sort((a, b) => a - b);
  return { first, median: times[Math.floor(times.length / 2)]! };
}

async function lagAt(dir: string, sync: string, messages: number): Promise<{ reads: Record<string, { first: number; median: number }>; streamCpu?: number }> {
  const broker = await startBroker(dir, sync, `scale-lag-${messages}.db`);
  try {
    for (let i = 0; i < LAG_CONSUMERS; i++) await request(broker.http, 'PUT', `/api/consumers/lagging-${i}`, { patterns: ['scale.#'] });
    await publishBatches(broker.http, messages, ['scale.a', 'scale.b', 'other'], `lag: filling ${messages.toLocaleString('en-US')} messages`);
    const reads = { '/api/consumers': await timedReads(broker.http, '/api/consumers'), '/metrics': await timedReads(broker.http, '/metrics') };
    return { reads, streamCpu: await statsStreamCpu(broker.http, broker.pid) };
  } finally {
    await broker.stop();
  }
}

/** The broker's CPU with a stats stream open, less its CPU idle, over as long, in % of one core. */
async function statsStreamCpu(port: number, pid: number): Promise<number> {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  let before = cpuSeconds(pid);
  await sleep(STREAM_SECONDS * 1000);
  const idle = cpuSeconds(pid) - before;
  const req = http.get({ host: '127.0.0.1', port, path: '/api/stats/stream' }, (res) => res.resume());
  await sleep(1500); // its first snapshot
  before = cpuSeconds(pid);
  await sleep(STREAM_SECONDS * 1000);
  const open = cpuSeconds(pid) - before;
  req.destroy();
  return (100 * Math.max(0, open - idle)) / STREAM_SECONDS;
}

async function publishWith(dir: string, sync: string, consumers: number, messages: number): Promise<{ msgPerSec: number; consumersRead: number }> {
  const broker = await startBroker(dir, sync, `scale-k${consumers}.db`);
  try {
    // The same topics whatever the number of consumers: spreading a batch over a thousand topics costs SQLite's
    // (topic, seq) index several times what one topic does, and that is not what this row is about.
    const topics = Array.from({ length: PUBLISH_TOPICS }, (_, i) => `scale.k.${i}`);
    for (let i = 0; i < consumers; i++) await request(broker.http, 'PUT', `/api/consumers/c-${i}`, { patterns: [topics[i]!] });
    const msgPerSec = await publishBatches(broker.http, messages, topics, `publish with ${consumers} consumers`);
    const { median } = await timedReads(broker.http, '/api/consumers');
    return { msgPerSec, consumersRead: median };
  } finally {
    await broker.stop();
  }
}

export async function scaleWorkloads(dir: string, options: { sync: string; large: number; publish: number }): Promise<{ rows: Row[]; targets: ScaleTargets }> {
  const rows: Row[] = [];
  const small = await lagAt(dir, options.sync, 100_000);
  const large = await lagAt(dir, options.sync, options.large);
  const lagReadRatio: Record<string, number> = {};
  for (const route of Object.keys(small.reads)) {
    const s = small.reads[route]!;
    const l = large.reads[route]!;
    lagReadRatio[route] = round(l.median / s.median, 2);
    const note = (r: { first: number; median: number }) => `median of ${READS} ${r.median.toFixed(1)} ms, first read ${r.first.toFixed(0)} ms`;
    rows.push({ name: `lag read ${route}, ${LAG_CONSUMERS} consumers, 100k`, msgs: 100_000, note: note(s) });
    rows.push({ name: `lag read ${route}, ${LAG_CONSUMERS} consumers, ${(options.large / 1e6).toFixed(1)}M`, msgs: options.large, vsLimit: lagReadRatio[route], note: `${note(l)}; vs limit = the 100k median ÷ this` });
  }
  const statsStreamCpuPercent = round(large.streamCpu ?? 0, 2);
  rows.push({ name: `stats stream open, ${(options.large / 1e6).toFixed(1)}M`, msgs: options.large, note: `${statsStreamCpuPercent}% of a core above idle` });

  const byK = new Map<number, { msgPerSec: number; consumersRead: number }>();
  for (const k of [1, 100, 1000]) byK.set(k, await publishWith(dir, options.sync, k, options.publish));
  const one = byK.get(1)!;
  for (const [k, r] of byK) {
    rows.push({ name: `publish, HTTP batches of ${PUBLISH_BATCH} over ${PUBLISH_TOPICS} topics, ${k} consumers`, msgs: options.publish, msgPerSec: r.msgPerSec, vsLimit: r.msgPerSec / one.msgPerSec, note: `vs limit = ÷ 1 consumer; GET /api/consumers ${r.consumersRead.toFixed(1)} ms` });
  }
  agent.destroy();
  return {
    rows,
    targets: {
      lagReadRatio,
      statsStreamCpuPercent,
      publishK1000VsK1: round(byK.get(1000)!.msgPerSec / one.msgPerSec, 3),
      consumersReadK1000VsK1: round(byK.get(1000)!.consumersRead / one.consumersRead, 2),
    },
  };
}
