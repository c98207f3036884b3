// Consuming over plain HTTP for `npm run bench`, against the broker process of network.ts: a durable consumer
// caught up over the WebSocket (the TypeScript client, acking each message) and one caught up by pulling
// (POST /api/consumers/<id>/fetch of 256, the batch acked in one request, 4 fetchers), on the same stored
// messages, so that the pull row is a ratio to the WebSocket row of the same run; and how soon a waiting
// long-poll answers a publish.
import http from 'node:http';
import { connect } from '../src/client/client.js';
import { Latencies, now, Progress, rate, type Row } from './lib.js';

const FETCHERS = 4;
const FETCH_MAX = 256;
// A fetcher waits this long for a first message; the catch-up never leaves one waiting that long.
const FETCH_WAIT_MS = 1000;

/** One JSON request over a keep-alive connection of `agent` (node:http rather than fetch, whose own cost per request would be what is measured). */
function post(agent: http.Agent, port: number, method: string, path: string, body: unknown): Promise<unknown> {
  const text = JSON.stringify(body);
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent, headers }, (res) => {
      let answer = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
      res.once('end', () => (res.statusCode === 200 ? resolve(JSON.parse(answer)) : reject(new Error(`${method} ${path} answered ${res.statusCode}: ${answer}`))));
    });
    req.once('error', reject).end(text);
  });
}

/** A durable consumer over the WebSocket catching up on `stored` messages of `pattern` from seq 1, acking each. */
async function wsConsumer(port: number, pattern: string, stored: number): Promise<Row> {
  const client = await connect(`ws://127.0.0.1:${port}/ws`);
  const progress = new Progress('consume, WebSocket, ack each', stored);
  let received = 0;
  const t0 = now();
  const sub = await client.subscribe(pattern, { consumer: 'bench-ws', fromSeq: 1, maxInFlight: FETCHERS * FETCH_MAX });
  for await (const m of sub) {
    m.ack();
    progress.tick(++received);
    if (received === stored) break;
  }
  const ms = now() - t0;
  progress.end(received);
  await sub.close();
  client.close();
  const r = rate(received, ms);
  return { name: 'consume, WebSocket, ack each', msgs: received, msgPerSec: r, vsLimit: 1, note: `durable consumer from seq 1, the TypeScript client, a window of ${FETCHERS * FETCH_MAX}; the limit for pull` };
}

/** The same catch-up by pulling: `FETCHERS` loops of fetch (`FETCH_MAX`), then one ack of the batch. */
async function pullConsumer(port: number, pattern: string, stored: number, overWebSocket: number): Promise<Row> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: FETCHERS });
  const consumer = '/api/consumers/bench-pull';
  // Room for every fetcher's batch at once.
  await post(agent, port, 'PUT', consumer, { patterns: [pattern], max_in_flight: FETCHERS * FETCH_MAX });
  await post(agent, port, 'POST', `${consumer}/replay`, { from_seq: 1 });
  const progress = new Progress(`consume, HTTP pull, ${FETCHERS} fetchers`, stored);
  let acked = 0;
  let t1 = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: FETCHERS }, async () => {
      while (acked < stored) {
        const { messages } = (await post(agent, port, 'POST', `${consumer}/fetch`, { max: FETCH_MAX, wait_ms: FETCH_WAIT_MS })) as { messages: { seq: number }[] };
        if (messages.length === 0) continue;
        const answer = (await post(agent, port, 'POST', `${consumer}/ack`, { seqs: messages.map((m) => m.seq) })) as { acked: number };
        acked += answer.acked;
        progress.tick(acked);
        // The last batch acked; the other fetchers' waits that follow are not part of it.
        if (acked >= stored && t1 === 0) t1 = now();
      }
    }),
  );
  const ms = t1 - t0;
  progress.end(acked);
  agent.destroy();
  const r = rate(acked, ms);
  return {
    name: `consume, HTTP pull, ${FETCHERS} fetchers`,
    msgs: acked,
    msgPerSec: r,
    vsLimit: r / overWebSocket,
    note: `fetch ${FETCH_MAX}, the batch acked in one request, keep-alive connections; vs limit = ÷ the WebSocket consumer`,
  };
}

// Long enough for the fetch to be waiting at the broker before the publish that wakes it is sent.
const SETTLE_MS = 20;

/**
 * A long-poll woken by a publish, `rounds` times: a fetch waits (up to 30 s), then one message is published over
 * HTTP; the time from sending the publish to the fetch's answer, its commit included.
 */
async function longPollWake(port: number, rounds: number): Promise<Row> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const consumer = '/api/consumers/bench-wake';
  await post(agent, port, 'PUT', consumer, { patterns: ['bench.wake'] });
  await post(agent, port, 'POST', `${consumer}/fetch`, {}); // the member is made
  const latencies = new Latencies();
  const progress = new Progress('long-poll woken by a publish', rounds);
  for (let i = 0; i < rounds; i++) {
    const fetched = post(agent, port, 'POST', `${consumer}/fetch`, { wait_ms: 30_000 }) as Promise<{ messages: { seq: number }[] }>;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const sent = now();
    await post(agent, port, 'POST', '/api/publish', { topic: 'bench.wake', payload: String(i) });
    const { messages } = await fetched;
    latencies.add(now() - sent);
    await post(agent, port, 'POST', `${consumer}/ack`, { seqs: messages.map((m) => m.seq) });
    progress.tick(i + 1);
  }
  progress.end(rounds);
  agent.destroy();
  const { p50, p99 } = latencies.summary();
  return { name: 'long-poll woken by a publish', msgs: rounds, p50, p99, note: 'POST /api/publish sent → the waiting fetch answered, the commit included; target p99 < 50 ms' };
}

/** Both catch-ups over the `stored` messages of `pattern` the broker on `port` holds from seq 1 (the WebSocket row first), then the wake-up. */
export async function pullWorkloads(port: number, pattern: string, stored: number, wakeRounds: number): Promise<Row[]> {
  const ws = await wsConsumer(port, pattern, stored);
  return [ws, await pullConsumer(port, pattern, stored, ws.msgPerSec!), await longPollWake(port, wakeRounds)];
}
