// A broker process on the compiled broker (dist/) and the database the config (JSON, argv) names, with or
// without delayed messages pending: publish rate of 256 awaited publishers (best of three rounds) and the
// process's RSS after them. Prints {"msgPerSec","rssMb"}.
import { performance } from 'node:perf_hooks';
import { openBroker } from '../dist/app.js';
import { silentLogger } from '../dist/logger.js';
import { must } from './child-broker.mjs';

const [configText = '{}', messagesText = '50000'] = process.argv.slice(2);
const n = Number(messagesText);
const payload = 'x'.repeat(100);
const broker = must(await openBroker(JSON.parse(configText), silentLogger));

async function round() {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < n) {
        next++;
        must(await broker.publish({ topic: 'bench.now', payload }));
      }
    }),
  );
  return Math.round((n * 1000) / (performance.now() - t0));
}

let best = 0;
for (let i = 0; i < 3; i++) {
  best = Math.max(best, await round());
  process.stderr.write(`  publish round ${i + 1} of 3 : best ${best} msg/s\n`);
}
const rssMb = Math.round(process.memoryUsage().rss / 1048576);
await broker.close();
process.stdout.write(JSON.stringify({ msgPerSec: best, rssMb }));
