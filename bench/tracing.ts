// `npm run bench -- --only tracing`: what the broker's spans cost (PROTOCOL.md §13). One workload, publish
// and deliver: N messages published by 256 concurrent publishers to an in-process broker on SQLite, each
// delivered to a durable consumer that acks it, timed until the last ack. Run without tracing, then with
// the OpenTelemetry adapter exporting over OTLP/HTTP to a local endpoint that takes the requests and drops
// them (a collector's own work is not the broker's), then with one trace in a hundred sampled, alternated over
// --rounds, so a slow spell of the machine falls on each alike. Each message makes two spans: its publish and
// its delivery attempt.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { openSqliteBroker } from '../src/app.js';
import type { Tracing } from '../src/core/broker.js';
import type { SyncMode } from '../src/config.js';
import { silentLogger } from '../src/logger.js';
import { otelTracing } from '../src/tracing/otel.js';
import { testBrokerConfig } from '../test/helpers/broker.js';
import { must, now, Progress, rate, type Row } from './lib.js';

const TOPIC = 'bench.traced';
const PAYLOAD = 'x'.repeat(100);
const PUBLISHERS = 256;

/** An OTLP/HTTP endpoint that answers 200 to everything, unread. */
async function dropEndpoint(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function publishAndDeliver(dir: string, file: string, n: number, sync: SyncMode, tracing: Tracing | undefined): Promise<number> {
  const opened = must(await openSqliteBroker(testBrokerConfig(join(dir, file), { sync, maxInFlight: 1000 }), silentLogger, { tracing }));
  const { broker } = opened;
  try {
    let acked = 0;
    let allAcked: () => void = () => {};
    const done = new Promise<void>((resolve) => (allAcked = resolve));
    let subscription = '';
    const sub = must(
      await broker.subscribe(
        { pattern: TOPIC, consumer: 'bench', maxInFlight: 1000 },
        {
          deliver: (d) => {
            must(broker.ack(subscription, d.message.seq));
            if (++acked === n) allAcked();
            return true;
          },
        },
      ),
    );
    subscription = sub.subscriptionId;
    const label = tracing === undefined ? 'publish + deliver, no tracing' : 'publish + deliver, traced';
    const progress = new Progress(label, n);
    let next = 0;
    const t0 = now();
    const loop = async (): Promise<void> => {
      while (next < n) {
        next++;
        must(await broker.publish({ topic: TOPIC, payload: PAYLOAD }));
        progress.tick(next);
      }
    };
    await Promise.all(Array.from({ length: PUBLISHERS }, loop));
    await done;
    const ms = now() - t0;
    progress.end(n);
    return rate(n, ms);
  } finally {
    await broker.close();
  }
}

/** Rows of the alternated rounds, and the traced ÷ plain and sampled ÷ plain ratios of each round. */
export async function tracingRounds(dir: string, options: { messages: number; rounds: number; sync: SyncMode }): Promise<{ rows: Row[]; ratios: number[]; sampledRatios: number[] }> {
  const endpoint = await dropEndpoint();
  process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = endpoint.url;
  const rows: Row[] = [];
  const ratios: number[] = [];
  const sampledRatios: number[] = [];
  let tracing: Tracing | undefined;
  const withTracing = async (run: () => Promise<number>): Promise<number> => {
    tracing = otelTracing({ nodeId: 'bench', version: 'bench', logger: silentLogger });
    try {
      return await run();
    } finally {
      await tracing.close();
      tracing = undefined;
    }
  };
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const plain = await publishAndDeliver(dir, `plain-${round}.db`, options.messages, options.sync, undefined);
      const traced = await withTracing(() => publishAndDeliver(dir, `traced-${round}.db`, options.messages, options.sync, tracing));
      // The SDK reads the sampler from the environment, as a broker started with these variables would.
      process.env['OTEL_TRACES_SAMPLER'] = 'parentbased_traceidratio';
      process.env['OTEL_TRACES_SAMPLER_ARG'] = '0.01';
      const sampled = await withTracing(() => publishAndDeliver(dir, `sampled-${round}.db`, options.messages, options.sync, tracing));
      delete process.env['OTEL_TRACES_SAMPLER'];
      delete process.env['OTEL_TRACES_SAMPLER_ARG'];
      rows.push({ name: `publish + deliver, no tracing (${round})`, msgs: options.messages, msgPerSec: plain, vsLimit: 1, note: '256 publishers, a durable consumer acking each' });
      rows.push({ name: `publish + deliver, traced (${round})`, msgs: options.messages, msgPerSec: traced, vsLimit: traced / plain, note: 'two spans a message, exported over OTLP/HTTP' });
      rows.push({ name: `publish + deliver, 1% sampled (${round})`, msgs: options.messages, msgPerSec: sampled, vsLimit: sampled / plain, note: 'OTEL_TRACES_SAMPLER=parentbased_traceidratio, ARG=0.01' });
      ratios.push(Math.round((traced / plain) * 1000) / 1000);
      sampledRatios.push(Math.round((sampled / plain) * 1000) / 1000);
    }
    if (endpoint.requests() === 0) throw new Error('the traced rounds exported nothing');
  } finally {
    delete process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
    await endpoint.close();
  }
  return { rows, ratios, sampledRatios };
}
