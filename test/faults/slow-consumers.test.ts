// Slow and broken push consumers of every kind beside healthy ones, on one pattern, against a broker process:
// a tcp endpoint that accepts and never reads, one that resets every connection, an http endpoint that
// answers only after the push timeout, a ws endpoint that stops reading. The healthy consumers' delivery
// rate with them registered, as a ratio of the rate without them measured in the same test, and the broker's
// memory while the broken ones fall ever further behind.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { killIfRunning, startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { tempDir, type TestDir } from '../helpers/broker.js';
import { endpoint, type Endpoint } from '../helpers/consumers.js';
import { lineClient } from '../helpers/line-client.js';

const BURST = 3000;
const PAYLOAD = 'p'.repeat(1000);
// With broken consumers registered, the healthy ones must keep at least this share of their rate.
const MIN_RATIO = 0.5;
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

/** Publishes a burst and resolves with the healthy consumers' rate: messages a second until all have it all. */
async function burstRate(healthy: readonly Endpoint[], tag: string): Promise<number> {
  const before = healthy.map((e) => e.received.length);
  const t0 = performance.now();
  await publish(bus!.ports.transport, BURST, tag);
  await Promise.all(healthy.map((e, i) => e.waitFor(before[i]! + BURST, 60_000)));
  return (BURST * healthy.length * 1000) / (performance.now() - t0);
}

/** A tcp server that resets every connection it accepts. */
async function resetting(): Promise<string> {
  const server = net.createServer((socket) => socket.resetAndDestroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** An http server that answers 200, but only after `delayMs` (longer than the broker's push timeout). */
async function late(delayMs: number): Promise<string> {
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    req.resume();
    const timer = setTimeout(() => {
      timers.delete(timer);
      res.end();
    }, delayMs);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const t of timers) clearTimeout(t);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/late`;
}

describe('slow and broken push consumers beside healthy ones', () => {
  test('the healthy consumers keep their rate, and the broker its memory', async () => {
    dir = await tempDir();
    bus = await startBrokerProcess({ ...dir.env, EVENTBUS_PUSH_TIMEOUT_MS: '300', EVENTBUS_PUSH_CONNECT_TIMEOUT_MS: '500', EVENTBUS_MAX_IN_FLIGHT: '64' });
    const healthy = [endpoint('tcp'), endpoint('http'), endpoint('ws')];
    const stalled = [endpoint('tcp', { stalled: true }), endpoint('ws', { stalled: true })];
    for (const e of [...healthy, ...stalled]) {
      await e.start();
      closers.push(() => e.stop());
    }
    for (const [i, e] of healthy.entries()) await register(bus.ports.registration, `healthy-${i}`, e.url);

    await burstRate(healthy, 'warm');
    const alone = await burstRate(healthy, 'alone');

    await register(bus.ports.registration, 'never-reads-tcp', stalled[0]!.url);
    await register(bus.ports.registration, 'stops-reading-ws', stalled[1]!.url);
    await register(bus.ports.registration, 'resets-tcp', await resetting());
    await register(bus.ports.registration, 'late-http', await late(1000));
    // Let the broken ones fill what they can take (socket buffers, windows) before measuring.
    await burstRate(healthy, 'filling');
    const beside = await burstRate(healthy, 'beside');
    expect(beside / alone, `healthy consumers' rate beside the broken ones (${Math.round(beside)}/s) ÷ alone (${Math.round(alone)}/s)`).toBeGreaterThan(MIN_RATIO);

    // Twenty more bursts (about 60 MB of payloads) that the broken consumers cannot take: memory stays bounded.
    const rssBefore = rssMb(bus.child.pid!);
    for (let i = 0; i < 20; i++) await burstRate(healthy, `more${i}`);
    const growth = rssMb(bus.child.pid!) - rssBefore;
    expect(growth, `broker RSS growth, MB (from ${Math.round(rssBefore)})`).toBeLessThan(MAX_GROWTH_MB);
    expect(stalled[0]!.received.length).toBeLessThan(BURST * 23);
  }, 240_000);
});
