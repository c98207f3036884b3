// `npm run soak -- --minutes N --store sqlite|postgres`: a long run of mixed load on every front-end with the
// broker killed (SIGKILL) every so often, then a verdict. Load: telnet publishers with and without message
// ids, WebSocket publishers (the TypeScript client, which resends what a kill left unanswered), HTTP
// publishers; a durable consumer that acks all but some poison messages, a slow one, one that drops its
// connection every few seconds, a live WebSocket subscriber, a Server-Sent Events tail and a tcp push
// consumer. On PostgreSQL three brokers serve the same database and one of them is killed at a time. Every
// ten seconds it samples each broker's RSS, open files, event-loop delay and the consumers' lag. At the end:
// acknowledged publishes, found in the log, lost (must be 0), stored twice (must be 0), the largest delivery
// count seen against EVENTBUS_MAX_DELIVERIES, gaps in the tails, RSS at start and end. A table on stdout, a
// JSON line last; progress on stderr. Exit 1 when anything was lost or stored twice.
//   --minutes N        how long the load runs (default 5)
//   --store S          sqlite (default) or postgres
//   --kill-every S     seconds between kills (default 30)
//   --rate N           messages a second per publisher (default 100)
//   --url URL          the PostgreSQL database (default the local server's postgres database)
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { connect, type EventBusClient } from '../src/client/index.js';
import { int8AsNumber } from '../src/store/postgres/connect.js';
import { BROKER_NODE_FLAGS, now, table, type Row } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    store: { type: 'string', default: 'sqlite' },
    'kill-every': { type: 'string', default: '30' },
    rate: { type: 'string', default: '100' },
    url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
  },
});
const MINUTES = Number(args.minutes);
const STORE = args.store === 'postgres' ? 'postgres' : 'sqlite';
const KILL_EVERY_MS = Number(args['kill-every']) * 1000;
const RATE = Number(args.rate);
const MAX_DELIVERIES = 5;
const ACK_TIMEOUT_MS = 2000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string): void => void process.stderr.write(`  ${line}\n`);

// ---- brokers ----

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

class Broker {
  readonly name: string;
  readonly ports: { transport: number; registration: number; http: number };
  readonly #env: Record<string, string>;
  child: ChildProcess | undefined;
  kills = 0;

  constructor(name: string, ports: Broker['ports'], env: Record<string, string>) {
    this.name = name;
    this.ports = ports;
    this.#env = env;
  }

  get ws(): string {
    return `ws://127.0.0.1:${this.ports.http}/ws`;
  }

  get http(): string {
    return `http://127.0.0.1:${this.ports.http}`;
  }

  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts it on its ports; resolves once it listens on all three. */
  async start(): Promise<void> {
    const child = spawn(process.execPath, [...BROKER_NODE_FLAGS, 'dist/main.js'], {
      cwd: ROOT,
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EVENTBUS_'))),
        ...this.#env,
        EVENTBUS_NODE_ID: this.name,
        EVENTBUS_TRANSPORT_PORT: String(this.ports.transport),
        EVENTBUS_REGISTRATION_PORT: String(this.ports.registration),
        EVENTBUS_HTTP_PORT: String(this.ports.http),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${this.name} exited (${code}) while starting: ${seen.slice(-2000)}`)));
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        if (seen.length < 100_000) seen += chunk;
        if ((seen.match(/"msg":"listening"/g) ?? []).length >= 3) resolve();
      });
    });
  }

  kill(): Promise<void> {
    this.kills++;
    return this.#end('SIGKILL');
  }

  stop(): Promise<void> {
    return this.#end('SIGTERM');
  }

  #end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.alive) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}

// ---- what the clients saw ----

const answered = new Map<number, string>();
let conflicts = 0;
function answer(seq: number, payload: string): void {
  const before = answered.get(seq);
  if (before !== undefined && before !== payload) conflicts++;
  answered.set(seq, payload);
}
let nextPayload = 0;
const fresh = (kind: string): string => `${kind}-${nextPayload++}`;

interface ConsumerStats {
  deliveries: number;
  redeliveries: number;
  maxDelivery: number;
}
const consumerStats = new Map<string, ConsumerStats>();
function delivered(consumer: string, delivery: number): void {
  let s = consumerStats.get(consumer);
  if (s === undefined) consumerStats.set(consumer, (s = { deliveries: 0, redeliveries: 0, maxDelivery: 0 }));
  s.deliveries++;
  if (delivery > 1) s.redeliveries++;
  s.maxDelivery = Math.max(s.maxDelivery, delivery);
}

/** A tail's seqs: each must come after the one before. */
class Tail {
  last = 0;
  received = 0;
  outOfOrder = 0;
  seqs: number[] = [];
  take(seq: number): void {
    if (seq <= this.last) this.outOfOrder++;
    this.last = Math.max(this.last, seq);
    this.received++;
    this.seqs.push(seq);
  }
}

// ---- load ----

let running = true;

/** Calls `step` until the run ends, at about `perSecond`. */
async function paced(perSecond: number, step: () => Promise<void>): Promise<void> {
  const start = now();
  for (let i = 0; running; i++) {
    await step();
    const due = start + ((i + 1) * 1000) / perSecond;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
  }
}

/** A telnet publisher that reconnects after a kill; with ids, what was left unanswered is sent again. */
async function telnetPublisher(brokers: Broker[], withIds: boolean): Promise<void> {
  const unanswered = new Map<string, string>(); // id → line
  let k = 0;
  while (running) {
    const b = brokers[k++ % brokers.length]!;
    const socket = net.connect(b.ports.transport, '127.0.0.1');
    let buffer = '';
    const replies: string[] = [];
    let wake: (() => void) | undefined;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      buffer += d;
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      replies.push(...lines);
      wake?.();
    });
    const closed = new Promise<void>((resolve) => {
      socket.once('close', () => {
        wake?.();
        resolve();
      });
    });
    socket.on('error', () => undefined);
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      // What a kill left unanswered, again (with its id), then new messages, ten at a time.
      const again = [...unanswered.values()];
      await paced(RATE / 10, async () => {
        const batch: { payload: string; id?: string; line: string }[] = again.splice(0, 10).map((line) => {
          const o = JSON.parse(line) as { msg: string; message_id: string };
          return { payload: o.msg, id: o.message_id, line };
        });
        while (batch.length < 10) {
          const payload = fresh(withIds ? 'tel-id' : 'tel');
          const line = withIds ? JSON.stringify({ event_name: 'soak.telnet', msg: payload, message_id: payload }) : `soak.telnet:${payload}`;
          if (withIds) unanswered.set(payload, line);
          batch.push(withIds ? { payload, id: payload, line } : { payload, line });
        }
        socket.write(batch.map((b) => `${b.line}\n`).join(''));
        while (replies.length < batch.length) {
          if (socket.closed) throw new Error('closed');
          await new Promise<void>((resolve) => (wake = resolve));
        }
        for (const b of batch) {
          const m = /^OK (\d+)/.exec(replies.shift()!);
          if (m === null) continue;
          answer(Number(m[1]), b.payload);
          if (b.id !== undefined) unanswered.delete(b.id);
        }
      });
    } catch {
      // killed: connect again
    }
    socket.destroy();
    await closed;
    if (running) await sleep(200);
  }
}

/** A WebSocket publisher (the TypeScript client: it resends after a kill), with batches now and then. */
async function wsPublisher(client: EventBusClient): Promise<void> {
  let i = 0;
  await paced(RATE, async () => {
    try {
      if (i++ % 10 === 0) {
        const payloads = Array.from({ length: 10 }, () => fresh('ws-batch'));
        const seqs = await client.publishBatch(payloads.map((payload) => ({ topic: 'soak.ws', payload })));
        seqs.forEach((seq, j) => answer(seq, payloads[j]!));
      } else {
        const payload = fresh('ws');
        answer(await client.publish('soak.ws', payload), payload);
      }
    } catch {
      // gave up after the client's own retries: not answered
    }
  });
}

/** An HTTP publisher: a failed request is sent again with its message id until it is answered. */
async function httpPublisher(brokers: Broker[]): Promise<void> {
  let k = 0;
  await paced(RATE, async () => {
    const payload = fresh('http');
    for (let attempt = 0; running || attempt === 0; attempt++) {
      const b = brokers[k++ % brokers.length]!;
      try {
        const res = await fetch(`${b.http}/api/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ topic: 'soak.http', payload, message_id: payload }),
          signal: AbortSignal.timeout(5000),
        });
        if (res.ok) {
          answer(((await res.json()) as { seq: number }).seq, payload);
          return;
        }
        await res.body?.cancel();
      } catch {
        // the broker is away: the next one, or this one again soon
      }
      await sleep(200);
    }
  });
}

/** A durable consumer over the TypeScript client; `ack` says whether (and after how long) to ack. */
async function consumer(client: EventBusClient, name: string, maxInFlight: number, ack: (payload: string) => number | undefined): Promise<void> {
  try {
    const sub = await client.subscribe('soak.>', { consumer: name, maxInFlight });
    for await (const m of sub) {
      delivered(name, m.delivery);
      const delay = ack(m.payload);
      if (delay === undefined) continue;
      if (delay > 0) await sleep(delay);
      m.ack();
      if (!running && name !== 'soak-main') break;
    }
  } catch {
    // closed at the end
  }
}

async function liveTail(client: EventBusClient, tail: Tail): Promise<void> {
  try {
    for await (const m of await client.subscribe('soak.>')) tail.take(m.seq);
  } catch {
    // closed at the end
  }
}

/** A Server-Sent Events tail that reconnects with Last-Event-ID. */
async function sseTail(brokers: Broker[], tail: Tail): Promise<void> {
  let k = 0;
  while (running) {
    const b = brokers[k++ % brokers.length]!;
    const controller = new AbortController();
    const stop = setInterval(() => running || controller.abort(), 500);
    try {
      const res = await fetch(`${b.http}/api/subscribe?pattern=soak.>`, {
        headers: tail.last > 0 ? { 'last-event-id': String(tail.last) } : {},
        signal: controller.signal,
      });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const events = buffer.split('\n\n');
        buffer = events.pop()!;
        for (const event of events) {
          const id = /^id: (\d+)$/m.exec(event);
          if (id !== null) tail.take(Number(id[1]));
        }
      }
    } catch {
      // killed, or the end
    } finally {
      clearInterval(stop);
    }
    if (running) await sleep(200);
  }
}

/** A tcp push endpoint; counts the lines it receives. */
async function pushEndpoint(): Promise<{ port: number; received: () => number; close: () => Promise<void> }> {
  let received = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.setEncoding('utf8').on('data', (d: string) => (received += d.split('\n').length - 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => received,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function register(b: Broker, line: string): Promise<void> {
  const socket = net.connect(b.ports.registration, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`${line}\nQUIT\n`);
  await new Promise((resolve) => socket.once('close', resolve).resume());
}

// ---- samples ----

interface Sample {
  readonly broker: string;
  readonly rssMb: number;
  readonly fds: number;
  readonly loopP99Ms: number;
  readonly lag: Record<string, number>;
}

async function sample(b: Broker): Promise<Sample | undefined> {
  const pid = b.child?.pid;
  if (!b.alive || pid === undefined) return undefined;
  try {
    const rssMb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    const metrics = await (await fetch(`${b.http}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const loop = /^eventbus_process_nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(metrics);
    const lag: Record<string, number> = {};
    for (const m of metrics.matchAll(/^eventbus_consumer_lag\{consumer="([^"]+)"\} (\S+)$/gm)) lag[m[1]!] = Number(m[2]);
    return { broker: b.name, rssMb, fds, loopP99Ms: loop === null ? NaN : Number(loop[1]) * 1000, lag };
  } catch {
    return undefined; // killed meanwhile
  }
}

// ---- the run ----

interface Store {
  readonly env: Record<string, string>;
  count(sql: string): Promise<number>;
  rows(sql: string): Promise<{ seq: number; payload: string }[]>;
  cleanup(): Promise<void>;
}

function openStore(): Store {
  if (STORE === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'eventbus-soak-'));
    const path = join(dir, 'soak.db');
    const read = <T>(sql: string): T[] => {
      const db = new Database(path, { readonly: true, fileMustExist: true });
      try {
        return db.prepare(sql).all() as T[];
      } finally {
        db.close();
      }
    };
    return {
      env: { EVENTBUS_DB: path },
      count: (sql) => Promise.resolve(read<{ n: number }>(sql)[0]!.n),
      rows: (sql) => Promise.resolve(read(sql)),
      cleanup: () => {
        rmSync(dir, { recursive: true, force: true });
        return Promise.resolve();
      },
    };
  }
  const schema = `soak_${randomBytes(4).toString('hex')}`;
  const query = async <T extends pg.QueryResultRow>(sql: string): Promise<T[]> => {
    const c = new pg.Client({ connectionString: args.url, options: `-c search_path=${schema}`, types: int8AsNumber() });
    await c.connect();
    try {
      return (await c.query<T>(sql)).rows;
    } finally {
      await c.end();
    }
  };
  return {
    env: { EVENTBUS_DB: args.url, EVENTBUS_PG_SCHEMA: schema },
    count: async (sql) => (await query<{ n: number }>(sql))[0]!.n,
    rows: (sql) => query(sql),
    cleanup: async () => {
      await query(`DROP SCHEMA ${schema} CASCADE`);
    },
  };
}

const store = openStore();
const brokers: Broker[] = [];
const env = { ...store.env, EVENTBUS_ACK_TIMEOUT_MS: String(ACK_TIMEOUT_MS), EVENTBUS_MAX_DELIVERIES: String(MAX_DELIVERIES) };
for (let i = 0; i < (STORE === 'postgres' ? 3 : 1); i++) {
  brokers.push(new Broker(`soak-${i}`, { transport: await freePort(), registration: await freePort(), http: await freePort() }, env));
}
// Stopped early (Ctrl-C, a timeout), the soak takes its brokers with it rather than leave them running.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const b of brokers) b.child?.kill('SIGKILL');
    process.exit(130);
  });
}
for (const b of brokers) await b.start();
log(`${brokers.length} broker${brokers.length > 1 ? 's' : ''} on ${STORE}; load for ${MINUTES} min, a kill every ${KILL_EVERY_MS / 1000} s`);

const push = await pushEndpoint();
await register(brokers[0]!, `REGISTER soak-push tcp://127.0.0.1:${push.port} soak.>`);
const clientOptions = { reconnectIntervalMs: 100, maxReconnectIntervalMs: 1000, maxRetries: 10_000, requestTimeoutMs: 60_000 };
const clients: EventBusClient[] = [];
const client = async (b: Broker): Promise<EventBusClient> => {
  const c = await connect(b.ws, clientOptions);
  clients.push(c);
  return c;
};
const on = (i: number): Broker => brokers[i % brokers.length]!;
const live = new Tail();
const sse = new Tail();
// Poison: published now and then, never acked by soak-main: dead-lettered after EVENTBUS_MAX_DELIVERIES.
const isPoison = (payload: string): boolean => payload.startsWith('poison');
const crasher = await client(on(2));
const consumers = [
  consumer(await client(on(0)), 'soak-main', 256, (p) => (isPoison(p) ? undefined : 0)),
  consumer(await client(on(1)), 'soak-slow', 16, () => 20),
  consumer(crasher, 'soak-crash', 64, () => 0),
  liveTail(await client(on(1)), live),
];
const publishers = [
  telnetPublisher(brokers, false),
  telnetPublisher(brokers, true),
  wsPublisher(await client(on(0))),
  wsPublisher(await client(on(1))),
  httpPublisher(brokers),
  sseTail(brokers, sse),
];
const poisoner = await client(on(0));
const samples: Sample[] = [];
const startRss = new Map<string, number>();
const t0 = now();
let nextKill = t0 + KILL_EVERY_MS;
let nextCrash = t0 + 7000;
let nextPoison = t0 + 5000;
while (now() - t0 < MINUTES * 60_000) {
  await sleep(10_000);
  for (const b of brokers) {
    const s = await sample(b);
    if (s === undefined) continue;
    samples.push(s);
    if (!startRss.has(b.name)) startRss.set(b.name, s.rssMb);
  }
  const recent = samples.slice(-brokers.length);
  log(
    `${((now() - t0) / 60_000).toFixed(1)} min: ${answered.size} answered, main ${consumerStats.get('soak-main')?.deliveries ?? 0} deliveries, ` +
      `kills ${brokers.reduce((n, b) => n + b.kills, 0)}; ` +
      recent.map((s) => `${s.broker} ${s.rssMb.toFixed(0)} MB ${s.fds} fds loop p99 ${s.loopP99Ms.toFixed(1)} ms lag ${JSON.stringify(s.lag)}`).join('; '),
  );
  if (now() >= nextPoison) {
    nextPoison += 60_000;
    const payload = fresh('poison');
    try {
      answer(await poisoner.publish('soak.poison', payload), payload);
    } catch {
      // a kill: not answered
    }
  }
  if (now() >= nextCrash) {
    nextCrash += 7000;
    crasher.reconnect(); // the crashing consumer drops its connection, as a killed process would
  }
  if (now() >= nextKill) {
    nextKill += KILL_EVERY_MS;
    const b = brokers[Math.floor(Math.random() * brokers.length)]!;
    log(`SIGKILL ${b.name}`);
    await b.kill();
    await sleep(1000 + Math.random() * 2000);
    await b.start();
  }
}

log('stopping the load; waiting for soak-main to ack everything it was sent, and the poison to be dead-lettered');
running = false;
await Promise.all(publishers);
const stored = await store.rows("SELECT seq, payload FROM messages WHERE topic LIKE 'soak.%' ORDER BY seq");
const poisoned = stored.filter((r) => isPoison(r.payload)).length;
const drainStart = now();
let acked = 0;
let dead = 0;
while (now() - drainStart < 120_000) {
  acked = await store.count("SELECT count(*) AS n FROM processed_messages WHERE consumer = 'soak-main'");
  dead = await store.count("SELECT count(*) AS n FROM dead_letters WHERE consumer = 'soak-main'");
  if (acked >= stored.length - poisoned && dead >= poisoned) break;
  await sleep(1000);
}
for (const c of clients) c.close();
await Promise.all(consumers);
const endSamples = (await Promise.all(brokers.map((b) => sample(b)))).filter((s) => s !== undefined);
for (const b of brokers) await b.stop();
await push.close();

// ---- the verdict ----
const bySeq = new Map(stored.map((r) => [r.seq, r.payload]));
const lost = [...answered].filter(([seq, payload]) => bySeq.get(seq) !== payload).length;
const payloads = stored.map((r) => r.payload);
const duplicates = payloads.length - new Set(payloads).size;
const storedSeqs = stored.map((r) => r.seq);
const gapsIn = (t: Tail): number => {
  if (t.seqs.length === 0) return 0;
  const got = new Set(t.seqs);
  return storedSeqs.filter((s) => s > t.seqs[0]! && s < t.last && !got.has(s)).length;
};
const main = consumerStats.get('soak-main');
const maxRss = new Map<string, number>();
for (const s of samples) maxRss.set(s.broker, Math.max(maxRss.get(s.broker) ?? 0, s.rssMb));
const loopMax = Math.max(...samples.map((s) => s.loopP99Ms).filter(Number.isFinite));
const lagMax = Math.max(0, ...samples.flatMap((s) => Object.values(s.lag)));
const rows: Row[] = [
  { name: 'publishes answered OK', msgs: answered.size, note: 'telnet (with and without ids), WebSocket, HTTP' },
  { name: 'found in the log as answered', msgs: answered.size - lost, note: 'same seq, same payload' },
  { name: 'lost (must be 0)', msgs: lost, note: conflicts > 0 ? `${conflicts} seqs answered for two payloads` : '' },
  { name: 'stored twice (must be 0)', msgs: duplicates, note: `of ${stored.length} stored` },
  { name: 'soak-main deliveries', msgs: main?.deliveries ?? 0, note: `${main?.redeliveries ?? 0} with delivery > 1; max delivery ${main?.maxDelivery ?? 0} (cap ${MAX_DELIVERIES})` },
  { name: 'soak-main acked at the end', msgs: acked, note: `of ${stored.length - poisoned} to ack; ${dead} of ${poisoned} poison dead-lettered` },
  { name: 'live WebSocket tail', msgs: live.received, note: `${live.outOfOrder} out of order, ${gapsIn(live)} gaps` },
  { name: 'SSE tail (Last-Event-ID)', msgs: sse.received, note: `${sse.outOfOrder} out of order, ${gapsIn(sse)} gaps` },
  { name: 'tcp push consumer lines', msgs: push.received(), note: 'at least once' },
  ...brokers.map((b) => ({
    name: `${b.name}: RSS start / max / end MB`,
    msgs: b.kills,
    note: `${(startRss.get(b.name) ?? NaN).toFixed(0)} / ${(maxRss.get(b.name) ?? NaN).toFixed(0)} / ${(endSamples.find((s) => s.broker === b.name)?.rssMb ?? NaN).toFixed(0)} (msgs = SIGKILLs)`,
  })),
  { name: 'event-loop delay p99, worst sample', msgs: samples.length, note: `${loopMax.toFixed(1)} ms (msgs = samples)` },
  { name: 'consumer lag, worst sample', msgs: lagMax, note: 'eventbus_consumer_lag' },
];
console.log(table(rows));
console.log(
  JSON.stringify({
    soak: 'eventbus',
    store: STORE,
    minutes: MINUTES,
    brokers: brokers.length,
    kills: brokers.reduce((n, b) => n + b.kills, 0),
    answered: answered.size,
    found: answered.size - lost,
    lost,
    duplicates,
    conflicts,
    main: { ...main, acked, toAck: stored.length - poisoned, poison: poisoned, dead },
    maxDeliverySeen: Math.max(0, ...[...consumerStats.values()].map((s) => s.maxDelivery)),
    cap: MAX_DELIVERIES,
    live: { received: live.received, outOfOrder: live.outOfOrder, gaps: gapsIn(live) },
    sse: { received: sse.received, outOfOrder: sse.outOfOrder, gaps: gapsIn(sse) },
    push: push.received(),
    rss: brokers.map((b) => ({ broker: b.name, start: startRss.get(b.name), max: maxRss.get(b.name), end: endSamples.find((s) => s.broker === b.name)?.rssMb })),
    loopP99MaxMs: loopMax,
    lagMax,
  }),
);
await store.cleanup();
process.exit(lost > 0 || duplicates > 0 || conflicts > 0 ? 1 : 0);
