// Network workloads for `npm run bench`: telnet ingest with several pipelining connections, the TypeScript
// client publishing over WebSocket, push delivery to one tcp consumer, the HTTP API's publish and event
// stream (http.ts), and a durable consumer read over the WebSocket and by pulling over HTTP (pull.ts), against
// the compiled broker in its own process (the clients run here).
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../src/client/client.js';
import { httpPublish, sseCatchUp, sseLive } from './http.js';
import { pullWorkloads } from './pull.js';
import { BROKER_NODE_FLAGS, now, Progress, rate, type Row } from './lib.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
// The live event stream's load, as the in-process latency workload's (run.ts).
const LIVE_RATE = 5000;
const LIVE_SECONDS = 5;

interface RunningBroker {
  readonly pid: number;
  readonly transport: number;
  readonly registration: number;
  readonly http: number;
  stop(): Promise<void>;
}

/** The compiled broker in its own process on `dir/<file>`, with `flags` after the common ones. */
export async function startBroker(dir: string, sync: string, file = 'network.db', flags: readonly string[] = []): Promise<RunningBroker> {
  const args = ['--db', join(dir, file), '--sync', sync, '--transport-port', '0', '--registration-port', '0', '--http-port', '0', '--log-level', 'info', ...flags];
  // BENCH_BROKER_NODE_ARGS passes node flags to the broker process, e.g. `--cpu-prof` to profile it.
  const nodeArgs = process.env.BENCH_BROKER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child: ChildProcess = spawn(process.execPath, [...BROKER_NODE_FLAGS, ...nodeArgs, MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const ports = await new Promise<{ transport: number; registration: number; http: number }>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const found = (name: string) => new RegExp(`"transport":"${name}","address":"[^"]*:(\\d+)"`).exec(stderr)?.[1];
      const t = found('transport');
      const r = found('registration');
      const h = found('http');
      if (t && r && h) resolve({ transport: Number(t), registration: Number(r), http: Number(h) });
    });
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}: ${stderr}`)));
  });
  return {
    pid: child.pid!,
    ...ports,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Sends `count` lines over one connection with up to `window` unanswered; resolves when all are answered. */
export function pipeline(port: number, count: number, window: number, line: (i: number) => string, onReply: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let sent = 0;
    let answered = 0;
    let partial = '';
    const fill = () => {
      let out = '';
      while (sent < count && sent - answered < window) out += line(sent++);
      if (out !== '') socket.write(out);
    };
    socket.on('connect', fill);
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      const text = partial + chunk;
      let start = 0;
      for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', start)) {
        if (text.charCodeAt(start) !== 0x4f /* O */) reject(new Error(`refused: ${text.slice(start, i)}`));
        start = i + 1;
        answered++;
        onReply();
      }
      partial = text.slice(start);
      if (answered === count) {
        socket.end();
        resolve();
      } else fill();
    });
    socket.on('error', reject);
  });
}

/** A tcp push consumer that counts the lines it receives. */
async function countingConsumer(): Promise<{ port: number; received: () => number; close: () => void }> {
  let received = 0;
  const server = net.createServer((s) => s.on('data', (d: Buffer) => {
    for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) received++;
  }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, received: () => received, close: () => server.close() };
}

export async function command(port: number, text: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.write(`${text}\n`);
  const reply = await new Promise<string>((resolve) => socket.setEncoding('utf8').once('data', (d: string) => resolve(d.trim())));
  socket.end();
  return reply;
}

export async function networkWorkloads(dir: string, options: { messages: number; sync: string; inProcessPublish: number }): Promise<Row[]> {
  const broker = await startBroker(dir, options.sync);
  const rows: Row[] = [];
  try {
    // Ingest alone: 4 connections, each with up to 1024 lines unanswered.
    const connections = 4;
    const per = Math.floor(options.messages / connections);
    const total = per * connections;
    const payload = 'x'.repeat(100 - 'bench.ingest:'.length);
    const progress = new Progress(`ingest over telnet, ${connections} connections`, total);
    let answered = 0;
    const t0 = now();
    await Promise.all(
      Array.from({ length: connections }, () =>
        pipeline(broker.transport, per, 1024, () => `bench.ingest:${payload}\n`, () => progress.tick(++answered)),
      ),
    );
    const ingestMs = now() - t0;
    progress.end(answered);
    const ingest = rate(total, ingestMs);
    rows.push({ name: `ingest, telnet, ${connections} connections`, msgs: total, msgPerSec: ingest, vsLimit: ingest / options.inProcessPublish, note: 'OK <seq> per line, 1024 pipelined per connection; vs limit = ÷ in-process concurrent publish' });

    // Push: a tcp consumer catches up on all of it (REGISTER, then REPLAY from seq 1).
    const consumer = await countingConsumer();
    const registered = await command(broker.registration, `REGISTER bench-push tcp://127.0.0.1:${consumer.port} bench.ingest`);
    if (!registered.startsWith('OK')) throw new Error(registered);
    const pushProgress = new Progress('push to one tcp consumer', total);
    const t1 = now();
    const replaying = await command(broker.registration, 'REPLAY bench-push 1');
    if (!replaying.startsWith('OK')) throw new Error(replaying);
    const deadline = now() + 120_000;
    while (consumer.received() < total && now() < deadline) {
      pushProgress.tick(consumer.received());
      await new Promise((r) => setTimeout(r, 2));
    }
    const pushMs = now() - t1;
    pushProgress.end(consumer.received());
    consumer.close();
    const push = rate(consumer.received(), pushMs);
    rows.push({ name: 'push to one tcp consumer', msgs: consumer.received(), msgPerSec: push, vsLimit: push / ingest, note: 'catching up the ingested messages (REPLAY from 1); vs limit = ÷ ingest' });
    rows.push(await sseCatchUp(broker.http, 'bench.ingest', total, push));
    rows.push(...(await pullWorkloads(broker.http, 'bench.ingest', total, options.messages >= 200_000 ? 500 : 200)));
    rows.push(await clientPublish(broker.http, options.messages, options.inProcessPublish));
    rows.push(await httpPublish(broker.http, Math.floor(options.messages / 2), 64, options.inProcessPublish));
    const live = net.connect(broker.transport, '127.0.0.1').resume(); // its OK lines are not read
    try {
      rows.push(await sseLive(broker.http, (line) => live.write(line), LIVE_SECONDS * LIVE_RATE, LIVE_RATE));
    } finally {
      live.destroy();
    }
  } finally {
    await broker.stop();
  }
  return rows;
}

/** The TypeScript client publishing over WebSocket, 256 awaited publishes in flight, each with a fresh message id. */
async function clientPublish(port: number, count: number, inProcessPublish: number): Promise<Row> {
  const client = await connect(`ws://127.0.0.1:${port}/ws`);
  const payload = 'x'.repeat(100);
  const progress = new Progress('publish, TypeScript client, 256 in flight', count);
  let next = 0;
  let done = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < count) {
        next++;
        await client.publish('bench.client', payload);
        progress.tick(++done);
      }
    }),
  );
  const ms = now() - t0;
  progress.end(done);
  client.close();
  const r = rate(count, ms);
  return { name: 'publish, TypeScript client, 256 in flight', msgs: count, msgPerSec: r, vsLimit: r / inProcessPublish, note: 'WebSocket, a UUIDv7 message id each; vs limit = ÷ in-process concurrent publish' };
}
