// Slow and broken push consumers of every kind beside healthy ones, on one pattern, against a broker process:
// a tcp endpoint that accepts and never reads, one that resets every connection, an http endpoint that
// answers only after the push timeout, a ws endpoint that stops reading. Once the stalled ones hold their full
// in-flight windows, every message still reaches the healthy consumers, and the broker's memory stays bounded
// while the broken ones fall ever further behind. Nothing here depends on the machine's speed: how fast the
// healthy ones go beside the broken ones, as a ratio of their rate alone, is a row of `npm run bench`.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import { killIfRunning, startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { tempDir, type TestDir } from '../helpers/broker.js';
import { endpoint, lateHttpEndpoint, resettingEndpoint, type BrokenEndpoint, type Endpoint } from '../helpers/consumers.js';
import { lineClient } from '../helpers/line-client.js';

const BURST = 1500;
// Few messages of some size: what the memory check weighs is bytes; the messages' count only costs time.
const PAYLOAD = 'p'.repeat(2000);
const MAX_IN_FLIGHT = 64;
// How much the broker may grow while the broken consumers leave 20 bursts undelivered.
const MAX_GROWTH_MB = 64;

let dir: TestDir | undefined;
let bus: BrokerProcess | undefined;
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await killIfRunning(bus);
  await dir?.cleanup();
});

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function register(port: number, id: string, address: string): Promise<void> {
  const c = await lineClient(port);
  try {
    expect(await c.send(`REGISTER ${id} ${address} load.*`)).toBe(`OK registered ${id}`);
  } finally {
    c.destroy();
  }
}

/** Publishes `n` messages on the transport port, pipelined. */
async function publish(port: number, n: number, tag: string): Promise<void> {
  const c = await lineClient(port);
  try {
    for (let i = 0; i < n; i += 500) {
      const k = Math.min(500, n - i);
      await c.write(Array.from({ length: k }, (_, j) => `load.${tag}:${i + j}-${PAYLOAD}\n`).join(''));
      const replies = await c.readLines(k, 20_000);
      expect(replies.every((r) => r.startsWith('OK '))).toBe(true);
    }
  } finally {
    c.destroy();
  }
}

/** Publishes a burst and resolves once every healthy consumer has received all of it. */
async function burst(healthy: readonly Endpoint[], tag: string): Promise<void> {
  const before = healthy.map((e) => e.received.length);
  await publish(bus!.ports.transport, BURST, tag);
  await Promise.all(healthy.map((e, i) => e.waitFor(before[i]! + BURST, 60_000)));
}

interface ConsumerView {
  readonly id: string;
  readonly in_flight: number;
  readonly lag: number;
}

async function consumers(): Promise<Map<string, ConsumerView>> {
  const res = await fetch(`http://127.0.0.1:${bus!.ports.http}/api/consumers`);
  expect(res.status).toBe(200);
  return new Map(((await res.json()) as ConsumerView[]).map((c) => [c.id, c]));
}

const STALLED = ['never-reads-tcp', 'stops-reading-ws'];
const windowsFull = (view: Map<string, ConsumerView>): boolean => STALLED.every((id) => view.get(id)?.in_flight === MAX_IN_FLIGHT);

/** Started, and stopped after the test. */
async function broken(start: Promise<BrokenEndpoint>): Promise<string> {
  const e = await start;
  closers.push(() => e.close());
  return e.url;
}

describe('slow and broken push consumers beside healthy ones', () => {
  test('the healthy consumers get every message while the stalled ones hold full windows, and the broker keeps its memory', async () => {
    dir = await tempDir();
    // The young generation capped as `npm start` caps it: left to itself V8 grows it by tens of MB while the
    // allocation rate is high, which RSS shows as growth the broker does not keep, near the bound below.
    const youngGeneration = { nodeOptions: ['--max-semi-space-size=4'] };
    bus = await startBrokerProcess({ ...dir.env, EVENTBUS_PUSH_TIMEOUT_MS: '300', EVENTBUS_PUSH_CONNECT_TIMEOUT_MS: '500', EVENTBUS_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT) }, youngGeneration);
    const healthy = [endpoint('tcp'), endpoint('http'), endpoint('ws')];
    const stalled = [endpoint('tcp', { stalled: true }), endpoint('ws', { stalled: true })];
    for (const e of [...healthy, ...stalled]) {
      await e.start();
      closers.push(() => e.stop());
    }
    for (const [i, e] of healthy.entries()) await register(bus.ports.registration, `healthy-${i}`, e.url);

    await burst(healthy, 'warm');

    await register(bus.ports.registration, 'never-reads-tcp', stalled[0]!.url);
    await register(bus.ports.registration, 'stops-reading-ws', stalled[1]!.url);
    await register(bus.ports.registration, 'resets-tcp', await broken(resettingEndpoint()));
    await register(bus.ports.registration, 'late-http', await broken(lateHttpEndpoint(1000)));
    // Bursts until the stalled ones have filled what they can take (socket buffers) and hold their whole
    // in-flight window: from then on nothing more of theirs can be sent until they read.
    let view = await consumers();
    for (let i = 0; !windowsFull(view); i++) {
      expect(i, `the stalled consumers' windows after ${i} bursts: ${JSON.stringify(STALLED.map((id) => view.get(id)))}`).toBeLessThan(10);
      await burst(healthy, `filling${i}`);
      view = await consumers();
    }
    // Their windows full, every message of a burst still reaches every healthy consumer: a healthy
    // consumer's delivery never waits on theirs. Had it waited, this burst would never arrive.
    const stalledBefore = stalled.map((e) => e.received.length);
    await burst(healthy, 'beside');
    view = await consumers();
    expect(windowsFull(view), `still full: ${JSON.stringify(STALLED.map((id) => view.get(id)))}`).toBe(true);
    for (const id of [...STALLED, 'resets-tcp', 'late-http']) expect(view.get(id)!.lag, id).toBeGreaterThanOrEqual(BURST);
    expect(stalled.map((e, i) => e.received.length - stalledBefore[i]!).every((n) => n < BURST)).toBe(true);

    // Twenty more bursts (about 60 MB of payloads) that the broken consumers cannot take: memory stays bounded.
    const rssBefore = rssMb(bus.child.pid!);
    for (let i = 0; i < 20; i++) await burst(healthy, `more${i}`);
    const growth = rssMb(bus.child.pid!) - rssBefore;
    expect(growth, `broker RSS growth, MB (from ${Math.round(rssBefore)})`).toBeLessThan(MAX_GROWTH_MB);
    expect(stalled[0]!.received.length).toBeLessThan(BURST * 23);
  }, 240_000);
});
