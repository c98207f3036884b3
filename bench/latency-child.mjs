// Publish → delivery latency at a steady rate, publisher, broker and a durable subscriber that acks, all in
// one fresh process on the compiled broker (dist/). Prints {"received","p50","p99","max"} (ms).
import { performance } from 'node:perf_hooks';
import { LocalSubscriber } from '../dist/embed/local-subscriber.js';
import { must, openBenchBroker } from './child-broker.mjs';

const [dbPath = '', rateText = '5000', secondsText = '10', sync = 'full'] = process.argv.slice(2);
const rate = Number(rateText);
const total = rate * Number(secondsText);
const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const padding = 'x'.repeat(100);

const broker = await openBenchBroker(dbPath, sync);
const sub = must(await LocalSubscriber.open(broker, { pattern: 'bench.latency', consumer: 'bench-latency', maxInFlight: 1000 }));
const latencies = new Float64Array(total);
let received = 0;
const reader = (async () => {
  for await (const d of sub) {
    latencies[received] = now() - Number(d.message.payload.slice(0, 20));
    sub.ack(d.message.seq);
    if (++received === total) return;
  }
})();
await sleep(20);
const t0 = now();
let sent = 0;
let lastReport = t0;
// A 1 ms timer tops the sent count up to rate × elapsed; the timestamp is the real send time.
while (sent < total) {
  const due = Math.min(total, Math.floor(((now() - t0) * rate) / 1000));
  while (sent < due) {
    void broker.publish({ topic: 'bench.latency', payload: now().toFixed(3).padStart(20, '0') + padding });
    sent++;
  }
  if (now() - lastReport > 1000) {
    lastReport = now();
    process.stderr.write(`  latency at ${rate} msg/s: ${received}/${total}\n`);
  }
  await sleep(1);
}
await Promise.race([reader, sleep(10_000)]);
sub.close();
await broker.close();
const sorted = latencies.slice(0, received).sort();
const at = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
process.stdout.write(JSON.stringify({ received, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] }));
