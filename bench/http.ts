// HTTP API workloads for `npm run bench`, against the broker process of network.ts: publishing over HTTP with
// keep-alive connections and 64 requests in flight, and tailing the log as Server-Sent Events (catching up
// on what is stored, then following live publishes), as curl -N or an EventSource would.
import http from 'node:http';
import net from 'node:net';
import { Latencies, now, Progress, rate, type Row } from './lib.js';

/**
 * POST /api/publish, `concurrency` awaited requests in flight over as many keep-alive connections. node:http
 * rather than fetch: on a small machine fetch's own cost per request would be what is measured.
 */
export async function httpPublish(port: number, count: number, concurrency: number, inProcessPublish: number): Promise<Row> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const body = JSON.stringify({ topic: 'bench.http', payload: 'x'.repeat(100) });
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  const post = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/api/publish', method: 'POST', agent, headers }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`publish answered ${res.statusCode}`));
        res.resume().once('end', resolve);
      });
      req.once('error', reject).end(body);
    });
  const progress = new Progress(`publish, HTTP, ${concurrency} in flight`, count);
  let next = 0;
  let done = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        await post();
        progress.tick(++done);
      }
    }),
  );
  const ms = now() - t0;
  progress.end(done);
  agent.destroy();
  const r = rate(count, ms);
  return { name: `publish, HTTP, ${concurrency} in flight`, msgs: count, msgPerSec: r, vsLimit: r / inProcessPublish, note: 'POST /api/publish, keep-alive connections; vs limit = ÷ in-process concurrent publish' };
}

/** An event stream read off a socket: calls `onEvent` with each event's data. */
async function eventStream(port: number, path: string, onEvent: (data: string) => void): Promise<{ close: () => void }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n\r\n`);
  let buffered = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = block.indexOf('\ndata: ');
      // Chunked transfer framing lines sit between events; only blocks with data are events.
      if (data >= 0) onEvent(block.slice(data + 7, block.indexOf('\n', data + 7) >>> 0));
    }
  });
  return { close: () => socket.destroy() };
}

/** GET /api/subscribe from seq 1 over `stored` messages of `pattern` already in the log: how fast it catches up. */
export async function sseCatchUp(port: number, pattern: string, stored: number, push: number): Promise<Row> {
  const progress = new Progress('SSE catch-up from seq 1', stored);
  let received = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const t0 = now();
  const stream = await eventStream(port, `/api/subscribe?pattern=${pattern}&from_seq=1`, () => {
    progress.tick(++received);
    if (received === stored) finish();
  });
  await finished;
  const ms = now() - t0;
  stream.close();
  progress.end(received);
  const r = rate(received, ms);
  return { name: 'SSE tail, catch-up from seq 1', msgs: received, msgPerSec: r, vsLimit: r / push, note: 'GET /api/subscribe over the ingested messages; vs limit = ÷ push to one tcp consumer' };
}

/**
 * GET /api/subscribe at the head while `count` messages are published over telnet at `perSec`: publish →
 * event latency (the payload carries its send time; one clock, this process's).
 */
export async function sseLive(port: number, publish: (line: string) => void, count: number, perSec: number): Promise<Row> {
  const latencies = new Latencies();
  let received = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const stream = await eventStream(port, '/api/subscribe?pattern=bench.live', (data) => {
    const sentAt = Number((JSON.parse(data) as { payload: string }).payload);
    latencies.add(now() - sentAt);
    if (++received === count) finish();
  });
  await new Promise((r) => setTimeout(r, 100)); // the subscription is attached
  const t0 = now();
  for (let i = 0; i < count; i++) {
    const due = t0 + (i * 1000) / perSec;
    while (now() < due) await new Promise((r) => setImmediate(r));
    publish(`bench.live:${now()}\n`);
  }
  await Promise.race([finished, new Promise((r) => setTimeout(r, 30_000))]);
  stream.close();
  const { p50, p99 } = latencies.summary();
  return { name: `SSE tail, live at ${perSec.toLocaleString('en-US')} msg/s`, msgs: received, p50, p99, note: 'publish over telnet → SSE event, one process\'s clock' };
}
