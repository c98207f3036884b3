// Replays a filled log from seq 1 through a durable consumer that acks every message; prints
// {"received","ms","rssMb","cpu"}. Run by bench/run.ts in its own process, on the compiled broker (dist/), so
// the RSS measured is the broker's own and not the TypeScript loader's.
//   api "subscriber": a LocalSubscriber read as an async iterator, one ack per message;
//   api "receiver": seed 001's EventReceiver on the in-process broker, receiveMessages(256) then
//   acknowledgeMessages of those 256, as a batch consumer written to that interface does.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { LocalSubscriber } from '../dist/embed/local-subscriber.js';
import { LocalEventClient } from '../dist/embed/local-event-client.js';
import { must, openBenchBroker } from './child-broker.mjs';

const [dbPath = '', countText = '0', sync = 'full', api = 'subscriber'] = process.argv.slice(2);
const count = Number(countText);
const RECEIVE_BATCH = 256;
let peak = 0;
const sampleRss = () => (peak = Math.max(peak, process.memoryUsage.rss()));
const sampler = setInterval(sampleRss, 50);

const broker = await openBenchBroker(dbPath, sync);
let lastReport = performance.now();
// Checked every 4,096 messages: a clock read per message would be the harness's cost inside the figure.
const progress = (received) => {
  if ((received & 4095) !== 0 || performance.now() - lastReport < 1000) return;
  lastReport = performance.now();
  process.stderr.write(`  replay, durable, ack each (${api}): ${received}/${count}\n`);
};
const cpuBefore = threadCpuMs();
const t0 = performance.now();
const received = api === 'receiver' ? await viaReceiver() : await viaSubscriber();
const ms = performance.now() - t0;
const cpu = busiestThreads(cpuBefore, threadCpuMs());
sampleRss();
clearInterval(sampler);
await broker.close();
process.stdout.write(JSON.stringify({ received, ms, rssMb: Math.round(peak / 1024 / 1024), cpu }));

/**
 * CPU time per thread of this process so far (Linux's /proc; empty elsewhere), in ms: the main thread's and the
 * writer thread's share of a replay tell where it goes better than the wall time of a noisy machine alone.
 */
function threadCpuMs() {
  const out = new Map();
  if (!existsSync('/proc/self/task')) return out;
  const tick = 10; // USER_HZ is 100 on Linux
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid) === process.pid ? 'main' : tid, (Number(fields[11]) + Number(fields[12])) * tick);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** The main thread's CPU between the two readings, and the busiest other thread's: the writer thread's. */
function busiestThreads(before, after) {
  let writer = 0;
  for (const [tid, ms] of after) if (tid !== 'main') writer = Math.max(writer, ms - (before.get(tid) ?? 0));
  return { main: (after.get('main') ?? 0) - (before.get('main') ?? 0), writer };
}

async function viaSubscriber() {
  const options = { pattern: 'bench.replay', consumer: 'bench-replay', start: { kind: 'seq', seq: 1 }, maxInFlight: 1000 };
  const sub = must(await LocalSubscriber.open(broker, options, 1000));
  let received = 0;
  for await (const d of sub) {
    sub.ack(d.message.seq);
    if (++received === count) break;
    progress(received);
  }
  sub.close();
  return received;
}

async function viaReceiver() {
  const config = { topicName: 'bench.replay', options: { consumer: 'bench-receiver', from_seq: '1', max_in_flight: '1000' } };
  const receiver = must(await new LocalEventClient(broker, config).subscribe());
  let received = 0;
  while (received < count) {
    const messages = must(await receiver.receiveMessages(Math.min(RECEIVE_BATCH, count - received), 5000));
    if (messages.length === 0) break;
    must(await receiver.acknowledgeMessages(messages.map((m) => m.messageId)));
    received += messages.length;
    progress(received);
  }
  await receiver.close();
  return received;
}
