// Replays a filled log from seq 1 through a durable consumer that acks every message; prints
// {"received","ms","rssMb"}. Run by bench/run.ts in its own process so the RSS is the broker's alone.
import { Broker } from '../src/core/broker.js';
import { LocalSubscriber } from '../src/core/local-subscriber.js';
import type { SyncMode } from '../src/config.js';
import { silentLogger } from '../src/logger.js';
import { testBrokerConfig } from '../test/helpers/broker.js';
import { now, Progress, RssSampler } from './lib.js';

const [dbPath = '', countText = '0', sync = 'full'] = process.argv.slice(2);
const count = Number(countText);
const rss = new RssSampler();
const broker = (await Broker.open(testBrokerConfig(dbPath, { sync: sync as SyncMode }), silentLogger))._unsafeUnwrap();
const sub = (
  await LocalSubscriber.open(broker, { pattern: 'bench.replay', consumer: 'bench-replay', start: { kind: 'seq', seq: 1 }, maxInFlight: 1000 }, 1000)
)._unsafeUnwrap();
const progress = new Progress('replay, durable, ack each', count);
const t0 = now();
let received = 0;
for await (const d of sub) {
  sub.ack(d.message.seq);
  progress.tick(++received);
  if (received === count) break;
}
const ms = now() - t0;
progress.end(received);
sub.close();
await broker.close();
process.stdout.write(JSON.stringify({ received, ms, rssMb: rss.stop() }));
