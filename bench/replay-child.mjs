// Replays a filled log from seq 1 through a durable consumer that acks every message; prints
// {"received","ms","rssMb"}. Run by bench/run.ts in its own process, on the compiled broker (dist/), so
// the RSS measured is the broker's own and not the TypeScript loader's.
import { performance } from 'node:perf_hooks';
import { LocalSubscriber } from '../dist/core/local-subscriber.js';
import { openBenchBroker } from './child-broker.mjs';

const [dbPath = '', countText = '0', sync = 'full'] = process.argv.slice(2);
const count = Number(countText);
let peak = 0;
const sampleRss = () => (peak = Math.max(peak, process.memoryUsage.rss()));
const sampler = setInterval(sampleRss, 50);

const broker = await openBenchBroker(dbPath, sync);
const options = { pattern: 'bench.replay', consumer: 'bench-replay', start: { kind: 'seq', seq: 1 }, maxInFlight: 1000 };
const sub = (await LocalSubscriber.open(broker, options, 1000))._unsafeUnwrap();
const t0 = performance.now();
let received = 0;
let lastReport = t0;
for await (const d of sub) {
  sub.ack(d.message.seq);
  received++;
  if (received === count) break;
  if (performance.now() - lastReport > 1000) {
    lastReport = performance.now();
    process.stderr.write(`  replay, durable, ack each: ${received}/${count}\n`);
  }
}
const ms = performance.now() - t0;
sampleRss();
clearInterval(sampler);
sub.close();
await broker.close();
process.stdout.write(JSON.stringify({ received, ms, rssMb: Math.round(peak / 1024 / 1024) }));
