// Messages in time (PROTOCOL.md §11) for `npm run bench` and `npm run bench:postgres`, on whichever store the
// caller's configs name: delayed publish beside ordinary publish on fresh databases in the same run; fire delay
// (due → appended: the appended message's created_at less its deliver_at) at a steady rate due, and for a burst
// due in the same millisecond, and overdue when the broker starts; and a broker with a large number of delayed
// messages pending against one without, each in a fresh process (bench/pending-child.mjs) so its RSS is the
// broker's alone.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openBroker, type SqliteBrokerConfig } from '../src/app.js';
import type { Config } from '../src/config.js';
import type { Broker } from '../src/core/broker.js';
import { LocalSubscriber } from '../src/embed/local-subscriber.js';
import { silentLogger } from '../src/logger.js';
import { BROKER_NODE_FLAGS, Latencies, must, now, Progress, rate, round, type Row } from './lib.js';

export type BenchConfig = SqliteBrokerConfig & Pick<Config, 'pgSchema' | 'nodeId'>;

export interface ScheduleBenchOptions {
  /** A broker config on a database of its own, new for each name. */
  readonly fresh: (name: string) => BenchConfig;
  /** Messages per publish workload (ordinary and delayed alike). */
  readonly messages: number;
  /** Seconds of messages falling due at FIRE_RATE. */
  readonly fireSeconds: number;
  /** Delayed messages in the same millisecond. */
  readonly burst: number;
  /** Delayed messages pending for the memory and publish-rate rows. */
  readonly pending: number;
  /** Messages per publish round in the pending rows' child processes. */
  readonly pendingPublish: number;
  /**
   * Brings a database just filled with the pending messages to the state it settles in (PostgreSQL: vacuumed
   * and analysed, as autovacuum leaves it), so that the rounds do not race the database's own upkeep.
   */
  readonly settle?: (config: BenchConfig) => Promise<void>;
}

export const FIRE_RATE = 5000;
const PAYLOAD = 'x'.repeat(100);
// Far enough that nothing the throughput and pending rows schedule falls due while they run.
const FAR_MS = 24 * 3600 * 1000;
const BATCH = 1000;

async function withBroker<T>(config: BenchConfig, run: (broker: Broker) => Promise<T>): Promise<T> {
  const broker = must(await openBroker(config, silentLogger));
  try {
    return await run(broker);
  } finally {
    await broker.close();
  }
}

/** 256 publishers awaiting each answer, ordinary or delayed by FAR_MS. */
async function publish256(broker: Broker, n: number, delayed: boolean): Promise<{ msgPerSec: number; p50: number; p99: number }> {
  const progress = new Progress(delayed ? 'delayed publish, 256 concurrent' : 'publish, 256 concurrent', n);
  const lat = new Latencies();
  let next = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < n) {
        next++;
        const s = now();
        if (delayed) must(await broker.publishLater({ topic: 'bench.later', payload: PAYLOAD }, { delayMs: FAR_MS }));
        else must(await broker.publish({ topic: 'bench.now', payload: PAYLOAD }));
        lat.add(now() - s);
        progress.tick(next);
      }
    }),
  );
  return { msgPerSec: rate(n, now() - t0), ...lat.summary() };
}

/**
 * Schedules `count` messages, the i-th due at `dueAt(i)` (all in the future once stored, or the run stops),
 * then collects each appended message's created_at less its due time.
 */
async function fireDelays(broker: Broker, label: string, count: number, dueAt: (i: number) => number): Promise<{ lat: Latencies; lastMs: number }> {
  const sub = must(await LocalSubscriber.open(broker, { pattern: 'bench.fire' }, count + 1));
  await scheduleFires(broker, label, count, dueAt);
  const lat = new Latencies();
  const progress = new Progress(`${label}: fired`, count);
  let lastMs = 0;
  for (let got = 0; got < count; got++) {
    const d = await sub.next(Math.max(30_000, dueAt(count - 1) - Date.now() + 30_000));
    if (d === undefined) throw new Error(`${label}: stalled at ${got} of ${count}`);
    const late = d.message.createdAt - dueAt(Number(d.message.messageId!.slice(1)));
    lat.add(late);
    lastMs = Math.max(lastMs, late);
    progress.tick(got);
  }
  sub.close();
  return { lat, lastMs };
}

/** Schedules `count` messages on bench.fire with message ids f<i>, the i-th due at `dueAt(i)`, all in the future. */
async function scheduleFires(broker: Broker, label: string, count: number, dueAt: (i: number) => number): Promise<void> {
  const filling = new Progress(`${label}: scheduling`, count);
  for (let i = 0; i < count; i += BATCH) {
    const items = Array.from({ length: Math.min(BATCH, count - i) }, (_, k) => ({ input: { topic: 'bench.fire', payload: PAYLOAD, messageId: `f${i + k}` }, time: { deliverAt: dueAt(i + k) } }));
    const answers = must(await broker.publishBatchLater(items));
    if (answers.some((a) => !('scheduleId' in a))) throw new Error(`${label}: due before it was stored; give the schedule more lead time`);
    filling.tick(i);
  }
}

/**
 * Schedules `count` messages due at one time, closes the broker before it, and opens it again once they are
 * overdue: the ms from the start of the open until the last of them is appended (the log holds nothing else).
 */
async function overdueAtStart(config: BenchConfig, count: number, leadMs: number): Promise<number> {
  const at = Date.now() + leadMs;
  await withBroker(config, (b) => scheduleFires(b, `${count} overdue at start`, count, () => at));
  while (Date.now() <= at) await new Promise((resolve) => setTimeout(resolve, at + 1 - Date.now()));
  const t0 = now();
  const broker = must(await openBroker(config, silentLogger));
  try {
    const progress = new Progress(`${count} overdue at start: appended`, count);
    while (broker.headSeq() < count) {
      if (now() - t0 > 60_000) throw new Error(`overdue at start: ${broker.headSeq()} of ${count} appended after a minute`);
      await new Promise((resolve) => setTimeout(resolve, 1));
      progress.tick(broker.headSeq());
    }
    return now() - t0;
  } finally {
    await broker.close();
  }
}

/** Runs bench/pending-child.mjs on `config`'s database: publish rate (best of three rounds) and RSS. */
function pendingChild(config: BenchConfig, messages: number): Promise<{ msgPerSec: number; rssMb: number }> {
  const script = fileURLToPath(new URL('./pending-child.mjs', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...BROKER_NODE_FLAGS, script, JSON.stringify(config), String(messages)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { msgPerSec: number; rssMb: number }) : reject(new Error(`pending-child exited with ${code}`))));
  });
}

export async function scheduleWorkloads(o: ScheduleBenchOptions): Promise<{ rows: Row[]; targets: ReturnType<typeof scheduleTargets> }> {
  const rows: Row[] = [];
  const ordinary = await withBroker(o.fresh('sched-publish.db'), (b) => publish256(b, o.messages, false));
  const delayed = await withBroker(o.fresh('sched-later.db'), (b) => publish256(b, o.messages, true));
  rows.push({ name: 'publish, 256 concurrent (beside delayed)', msgs: o.messages, msgPerSec: ordinary.msgPerSec, vsLimit: 1, p50: ordinary.p50, p99: ordinary.p99, note: 'the limit for delayed publish: a fresh database, same run' });
  rows.push({
    name: 'delayed publish, 256 concurrent',
    msgs: o.messages,
    msgPerSec: delayed.msgPerSec,
    vsLimit: delayed.msgPerSec / ordinary.msgPerSec,
    p50: delayed.p50,
    p99: delayed.p99,
    note: 'delay_ms 24 h; vs limit = against ordinary publish',
  });

  // Lead time: long enough to store them all at the delayed rate just measured, with room to spare.
  const steady = FIRE_RATE * o.fireSeconds;
  const fire = await withBroker(o.fresh('sched-fire.db'), async (b) => {
    const t0 = Date.now() + 2000 + Math.ceil((steady / delayed.msgPerSec) * 2000);
    return fireDelays(b, `fire at ${FIRE_RATE}/s`, steady, (i) => t0 + Math.floor((i * 1000) / FIRE_RATE));
  });
  rows.push({ name: `fire delay, ${FIRE_RATE.toLocaleString('en-US')} due a second`, msgs: steady, msgPerSec: FIRE_RATE, ...fire.lat.summary(), note: 'due → appended (created_at − deliver_at)' });
  const burst = await withBroker(o.fresh('sched-burst.db'), async (b) => {
    const at = Date.now() + 2000 + Math.ceil((o.burst / delayed.msgPerSec) * 2000);
    return fireDelays(b, `${o.burst} due at once`, o.burst, () => at);
  });
  rows.push({ name: `fire delay, ${o.burst.toLocaleString('en-US')} due in the same ms`, msgs: o.burst, ...burst.lat.summary(), note: `all appended ${Math.round(burst.lastMs)} ms after due` });
  const overdueMs = await overdueAtStart(o.fresh('sched-overdue.db'), o.burst, 2000 + Math.ceil((o.burst / delayed.msgPerSec) * 2000));
  rows.push({ name: `${o.burst.toLocaleString('en-US')} overdue at a start`, msgs: o.burst, note: `all appended ${Math.round(overdueMs)} ms after the broker began to open` });

  const empty = o.fresh('sched-none.db');
  const filled = o.fresh('sched-pending.db');
  await withBroker(filled, async (b) => {
    const progress = new Progress('pending delayed messages: storing', o.pending);
    const items = Array.from({ length: BATCH }, () => ({ input: { topic: 'bench.pending', payload: PAYLOAD }, time: { delayMs: FAR_MS } }));
    for (let i = 0; i < o.pending; i += BATCH) {
      must(await b.publishBatchLater(i + BATCH <= o.pending ? items : items.slice(0, o.pending - i)));
      progress.tick(i);
    }
  });
  await o.settle?.(filled);
  // Alternated, twice each, the best of each kept: a busy moment on the machine lands on both sides alike.
  const runs: { msgPerSec: number; rssMb: number }[][] = [[], []];
  for (let i = 0; i < 4; i++) runs[i % 2]!.push(await pendingChild(i % 2 === 0 ? empty : filled, o.pendingPublish));
  const best = (side: { msgPerSec: number; rssMb: number }[]) => ({ msgPerSec: Math.max(...side.map((r) => r.msgPerSec)), rssMb: Math.max(...side.map((r) => r.rssMb)) });
  const without = best(runs[0]!);
  const withPending = best(runs[1]!);
  const pendingLabel = o.pending.toLocaleString('en-US');
  rows.push({ name: 'publish, no delayed pending', msgs: o.pendingPublish, msgPerSec: without.msgPerSec, vsLimit: 1, rssMb: without.rssMb, note: 'fresh broker processes, alternated; best of 2 × 3 rounds; the larger RSS' });
  rows.push({
    name: `publish, ${pendingLabel} delayed pending`,
    msgs: o.pendingPublish,
    msgPerSec: withPending.msgPerSec,
    vsLimit: withPending.msgPerSec / without.msgPerSec,
    rssMb: withPending.rssMb,
    note: `RSS ${round(withPending.rssMb / without.rssMb, 2)}x the broker without`,
  });
  return { rows, targets: scheduleTargets(rows, burst.lastMs, overdueMs) };
}

/** The schedules' entries of the JSON line's targets. */
export function scheduleTargets(rows: readonly Row[], burstAllMs: number, overdueAllMs: number): Record<string, { value: number | undefined; target?: string }> {
  const find = (prefix: string) => rows.find((r) => r.name.startsWith(prefix));
  const pending = rows.find((r) => r.name.endsWith(' delayed pending') && !r.name.startsWith('publish, no'));
  return {
    delayed_publish_vs_publish: { value: round(find('delayed publish')?.vsLimit ?? 0, 2) },
    fire_delay_p99_ms_at_5000: { value: find(`fire delay, ${FIRE_RATE.toLocaleString('en-US')}`)?.p99, target: '< 100' },
    burst_all_appended_ms: { value: Math.round(burstAllMs), target: '< 1000' },
    overdue_at_start_all_appended_ms: { value: Math.round(overdueAllMs), target: '< 1000' },
    publish_with_pending_vs_without: { value: round(pending?.vsLimit ?? 0, 3), target: '>= 0.95' },
    rss_with_pending_vs_without: { value: round((pending?.rssMb ?? 0) / (find('publish, no delayed pending')?.rssMb ?? 1), 2) },
  };
}
