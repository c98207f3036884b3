// Replays a filled log from seq 1 through a durable consumer that acks every message; prints
// {"received","ms","rssMb"}. Run by bench/run.ts in its own process, on the compiled broker (dist/), so
// the RSS measured is the broker's own and not the TypeScript loader's.
//   api "subscriber": a LocalSubscriber read as an async iterator, one ack per message;
//   api "receiver": seed 001's EventReceiver on the in-process broker, receiveMessages(256) then
//   acknowledgeMessages of those 256, as a batch consumer written to that interface does.
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
const t0 = performance.now();
const received = api === 'receiver' ? await viaReceiver() : await viaSubscriber();
const ms = performance.now() - t0;
sampleRss();
clearInterval(sampler);
await broker.close();
process.stdout.write(JSON.stringify({ received, ms, rssMb: Math.round(peak / 1024 / 1024) }));

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
