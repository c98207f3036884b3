// The operator commands of the bin (PROTOCOL.md §9) against one real broker on port 0 (either store): each
// command run through the program as the bin runs it (runCli, with its own stdin, stdout and stderr), and as a
// child process where a process matters (stdin piped, tail followed then stopped by Ctrl-C); tables, --json,
// the exit codes and the `error: <CODE> ...` lines.
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { buildProgram, runCli } from '../../src/cli/program.js';
import { packageVersion } from '../../src/package-version.js';
import { silentLogger } from '../../src/logger.js';
import { tempDir, testAppConfig, type TestDir } from '../helpers/broker.js';
import { runAgainst, type CliRun as Run } from '../helpers/cli.js';
import { deadAddress, startEndpoint, type Endpoint } from '../helpers/consumers.js';
import { BIN } from '../helpers/dist.js';
import { until } from '../helpers/until.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let db: TestDir;
let app: App;
let base: string;
const endpoints: Endpoint[] = [];

beforeAll(async () => {
  db = await tempDir();
  // Two deliveries and a short ack timeout: a message an endpoint refuses is dead-lettered within a second.
  app = (await startApp(testAppConfig(db, { EVENTBUS_MAX_DELIVERIES: '2', EVENTBUS_ACK_TIMEOUT_MS: '400' }), silentLogger))._unsafeUnwrap();
  base = `http://127.0.0.1:${app.ports.http}`;
});
afterAll(async () => {
  for (const e of endpoints) await e.stop();
  await app.stop();
  await db.cleanup();
});

/** `eventbus <args>` through the program, against the test's broker (EVENTBUS_URL). */
const cli = (args: readonly string[], stdin?: string): Promise<Run> => runAgainst(base, args, stdin);

/** `eventbus <args>` as a child process, with `stdin` piped in; `running` sees it while it runs. */
function child(args: readonly string[], stdin = '', running?: (proc: ReturnType<typeof spawn>, out: () => string) => Promise<void>): Promise<Run> {
  const proc = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, EVENTBUS_URL: base, EVENTBUS_TOKEN: '' } });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  proc.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  proc.stdin.end(stdin);
  const exited = new Promise<Run>((resolve) => proc.on('exit', (code) => resolve({ code, stdout, stderr })));
  return running === undefined ? exited : running(proc, () => stdout).then(() => exited);
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return (await res.json()) as T;
}

async function publish(topic: string, payload: string): Promise<number> {
  return (await api<{ seq: number }>('POST', '/api/publish', { topic, payload })).seq;
}

const head = async (): Promise<number> => (await api<{ head_seq: number }>('GET', '/api/stats')).head_seq;

/** One `error: <CODE> ...` line, nothing on stdout. */
function expectFailure(run: Run, exitCode: number, line: string | RegExp): void {
  expect({ code: run.code, stdout: run.stdout }, run.stderr).toEqual({ code: exitCode, stdout: '' });
  expect(run.stderr.trimEnd()).toMatch(typeof line === 'string' ? new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : line);
}

describe('publish', () => {
  test('a payload argument, or stdin with one trailing newline removed; prints the seq', async () => {
    const run = await cli(['publish', 'pub.one', '{"id":1}']);
    expect(run).toEqual({ code: 0, stdout: expect.stringMatching(/^\d+\n$/) as unknown, stderr: '' });
    const fromStdin = await child(['publish', 'pub.one'], 'line one\nline two\n\n');
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    const stored = await api<{ payload: string }>('GET', `/api/messages/${fromStdin.stdout.trim()}`);
    expect(stored.payload).toBe('line one\nline two\n');
    const json = await cli(['publish', 'pub.one', 'x', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ seq: Number(json.stdout.match(/"seq":(\d+)/)![1]), message_id: null, duplicate: false });
  });

  test('at a terminal, publish without a payload says it reads stdin before it waits for it; piped, it says nothing', async () => {
    let stderr = '';
    let stdout = '';
    // A terminal's stdin as the program sees one: isTTY set, the typed line, then Ctrl-D (the end).
    const terminal = Object.assign(Readable.from(['typed at the terminal\n']), { isTTY: true });
    const io = { env: { EVENTBUS_URL: base }, stdin: terminal, stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
    expect(await runCli(['publish', 'pub.tty'], io)).toBe(0);
    expect(stderr).toBe('reading the payload from stdin: type it, then Ctrl-D (or give it after the topic)\n');
    expect((await api<{ payload: string }>('GET', `/api/messages/${stdout.trim()}`)).payload).toBe('typed at the terminal');
    expect((await cli(['publish', 'pub.tty'], 'piped\n')).stderr).toBe('');
  });

  test('--ndjson: one body per line (the argument the default topic), in batches; the seqs in input order', async () => {
    const lines = Array.from({ length: 7 }, (_, i) => JSON.stringify(i % 2 === 0 ? { payload: `p${i}` } : { topic: 'pub.other', payload: { n: i } }));
    const run = await cli(['publish', '--ndjson', 'pub.nd', '--batch', '2', '--concurrency', '1'], `${lines.join('\n')}\n`);
    expect(run.code, run.stderr).toBe(0);
    const seqs = run.stdout.trim().split('\n').map(Number);
    expect(seqs).toHaveLength(7);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(run.stderr).toBe('published 7 messages\n');
    const page = await api<{ messages: { topic: string; payload: string }[] }>('GET', `/api/messages?from_seq=${seqs[0]}&limit=7`);
    expect(page.messages.map((m) => [m.topic, m.payload])).toEqual(lines.map((_, i) => (i % 2 === 0 ? ['pub.nd', `p${i}`] : ['pub.other', `{"n":${i}}`])));
  });

  test('--ndjson: a bad line is named by its number, exit 1', async () => {
    expectFailure(await cli(['publish', '--ndjson', 'pub.nd'], '{"payload":"a"}\nnot json\n'), 1, /^error: BAD_FORMAT line 2: not JSON/);
    // The batches sent before the bad line are stored, and their seqs printed.
    const partial = await cli(['publish', '--ndjson', 'pub.nd', '--batch', '1'], '{"payload":"a"}\n{"payload":"b"}\n[]\n');
    expect({ code: partial.code, seqs: partial.stdout.trim().split('\n').length, stderr: partial.stderr }).toEqual({ code: 1, seqs: 2, stderr: 'error: BAD_FORMAT line 3: expected a JSON object\n' });
    expectFailure(await cli(['publish', '--ndjson'], '{"payload":"a"}\n'), 1, /^error: BAD_FORMAT line 1: topic: /);
    expectFailure(await cli(['publish', '--ndjson'], '\n{"topic":"bad topic","payload":"a"}\n'), 1, /^error: BAD_TOPIC line 2: /);
  });

  test('no topic, or a flag it does not take, is a usage error: exit 2', async () => {
    expectFailure(await cli(['publish']), 2, "error: BAD_ARGS missing required argument 'topic'");
    expectFailure(await cli(['publish', 'a', 'b', '--bogus']), 2, "error: BAD_ARGS unknown option '--bogus'");
  });
});

describe('topics, stats, consumers', () => {
  test('--json prints what the API answers; without it, a table', async () => {
    await publish('fig.one', 'x');
    await api('PUT', '/api/consumers/fig-consumer', { patterns: ['fig.*'] });
    for (const [name, path] of [['topics', '/api/topics'], ['stats', '/api/stats'], ['consumers', '/api/consumers']] as const) {
      const run = await cli([name, '--json']);
      expect(run.code, run.stderr).toBe(0);
      const answer = await api<unknown>('GET', path);
      // What moves between the two reads: rates and the connections open.
      const steady = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (k, x: unknown) => (k === 'published_per_s' || k === 'connections' || k === 'last_seen' ? 0 : x)));
      expect(steady(JSON.parse(run.stdout))).toEqual(steady(answer));
    }
    const topics = await cli(['topics']);
    expect(topics.stdout).toMatch(/│ topic +│ messages +│ first seq +│ last seq +│ published\/s +│/);
    expect(topics.stdout).toMatch(/│ fig\.one +│ 1 +│/);
    const consumers = await cli(['consumers']);
    expect(consumers.stdout).toMatch(/│ id +│ address +│ patterns +│ state +│ position +│ lag +│ in flight +│ dead letters +│ last failure +│/);
    expect(consumers.stdout).toMatch(/│ fig-consumer +│ - +│ fig\.\* +│ offline +│ \d+ +│ 0 +│ 0 +│ 0 +│ - +│/);
    expect((await cli(['stats'])).stdout).toMatch(new RegExp(`^node +\\S+\\nhead seq +${await head()}\\n`));
  });

  test('consumers shows when and why a push consumer last failed: a refused port with its address', async () => {
    const refused = await startEndpoint('tcp');
    await refused.stop();
    await api('PUT', '/api/consumers/refused', { address: refused.url, patterns: ['fig.*'] });
    try {
      const row = await until('the refusal in the table', async () => (await cli(['consumers'])).stdout.split('\n').find((l) => l.includes('│ refused ') && l.includes('ECONNREFUSED')));
      expect(row).toMatch(new RegExp(`│ (offline|retrying) +│ \\d+ +│ 0 +│ 0 +│ 0 +│ \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ cannot connect: connect ECONNREFUSED 127\\.0\\.0\\.1:${refused.port} +│`));
    } finally {
      await api('DELETE', '/api/consumers/refused');
    }
  });
});

describe('consumer', () => {
  test('add, pause, resume, replay and rm, each printing the consumer as it is then', async () => {
    const add = await cli(['consumer', 'add', 'ops', 'tcp://127.0.0.1:9', 'ops.*', 'audit.#', '--json']);
    expect(add.code, add.stderr).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ id: 'ops', address: 'tcp://127.0.0.1:9', patterns: ['ops.*', 'audit.#'] });
    expect(JSON.parse((await cli(['consumer', 'pause', 'ops', '--json'])).stdout)).toMatchObject({ paused: true, state: 'paused' });
    expect(JSON.parse((await cli(['consumer', 'resume', 'ops', '--json'])).stdout)).toMatchObject({ paused: false });
    await publish('ops.x', '1');
    expect(JSON.parse((await cli(['consumer', 'replay', 'ops', '--from-seq', '1', '--json'])).stdout)).toMatchObject({ id: 'ops', position: 0 });
    expect((await cli(['consumer', 'pause', 'ops'])).stdout).toMatch(/│ ops +│ tcp:\/\/127\.0\.0\.1:9 +│ ops\.\*,audit\.# +│ paused +│/);
    expect(await cli(['consumer', 'rm', 'ops'])).toEqual({ code: 0, stdout: 'removed ops\n', stderr: '' });
    expect((await api<{ id: string }[]>('GET', '/api/consumers')).map((c) => c.id)).not.toContain('ops');
  });

  test('an unknown consumer is UNKNOWN_CONSUMER, exit 1; a missing option is a usage error, exit 2', async () => {
    for (const action of ['rm', 'pause', 'resume']) expectFailure(await cli(['consumer', action, 'nobody']), 1, /^error: UNKNOWN_CONSUMER /);
    expectFailure(await cli(['consumer', 'replay', 'nobody', '--from-seq', '1']), 1, /^error: UNKNOWN_CONSUMER /);
    expectFailure(await cli(['consumer', 'replay', 'ops']), 2, 'error: BAD_ARGS give --from-seq or --from-time');
    expectFailure(await cli(['consumer', 'replay', 'ops', '--from-seq', '1', '--from-time', '5']), 2, /^error: BAD_ARGS option '--from-seq <n>' cannot be used with option '--from-time <t>'/);
    expectFailure(await cli(['consumer', 'replay', 'ops', '--from-seq', 'abc']), 2, /^error: BAD_ARGS option '--from-seq <n>' argument 'abc' is invalid/);
    expectFailure(await cli(['consumer', 'add', 'ops', 'http://127.0.0.1:9']), 2, 'error: BAD_ARGS give at least one pattern after the address');
    expectFailure(await cli(['consumer', 'add', 'ops', 'bad pattern!']), 1, /^error: BAD_PATTERN /);
  });
});

describe('fetch, ack, nack', () => {
  test("consumer add sets a consumer's limits; fetch prints what it pulls as tail does, ack and nack print how many", async () => {
    const add = await cli(['consumer', 'add', 'puller', 'pull.*', '--ack-timeout', '60s', '--max-deliveries', '5', '--max-in-flight', '3']);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/│ ack timeout ms +│ max deliveries +│ max in flight +│/);
    expect(add.stdout).toMatch(/│ puller +│ - +│ pull\.\* +│ offline +│ \d+ +│ 0 +│ 0 +│ 0 +│ - +│ 60000 +│ 5 +│ 3 +│/);
    const seqs = [await publish('pull.a', 'one'), await publish('pull.b', 'two'), await publish('pull.a', 'three')];
    const fetched = await cli(['fetch', 'puller', '--max', '2']);
    expect(fetched).toEqual({ code: 0, stdout: `${seqs[0]} pull.a one\n${seqs[1]} pull.b two\n`, stderr: '' });
    expect(await cli(['ack', 'puller', String(seqs[0]), String(seqs[1]), '999'])).toEqual({ code: 0, stdout: 'acked 2\n', stderr: '' });
    // NDJSON with the attempt and the deadline, acked at once.
    const json = await cli(['fetch', 'puller', '--json', '--ack', '--wait', '5000']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ seq: seqs[2], topic: 'pull.a', payload: 'three', delivery: 1, ack_deadline: expect.any(Number) as number });
    expect(await cli(['nack', 'puller', String(seqs[2])])).toEqual({ code: 0, stdout: 'nacked 0\n', stderr: '' });
    expect(await cli(['fetch', 'puller', '--wait', '200ms'])).toEqual({ code: 0, stdout: '', stderr: '' });
    // One more, nacked by hand, comes back with its second delivery.
    const four = await publish('pull.b', 'four');
    expect((await cli(['fetch', 'puller'])).stdout).toBe(`${four} pull.b four\n`);
    expect(JSON.parse((await cli(['nack', 'puller', String(four), '--delay', '0', '--json'])).stdout)).toEqual({ nacked: 1 });
    expect(JSON.parse((await cli(['fetch', 'puller', '--json', '--wait', '5s'])).stdout)).toMatchObject({ seq: four, delivery: 2 });
    expect((await cli(['ack', 'puller', String(four)])).stdout).toBe('acked 1\n');
  });

  test('a bad option is a usage error (exit 2); what the broker refuses exits 1 with its code', async () => {
    await api('PUT', '/api/consumers/picky', { patterns: ['picky.*'] });
    expectFailure(await cli(['fetch', 'picky', '--max', '0']), 2, /^error: BAD_ARGS option '--max <n>' argument '0' is invalid/);
    expectFailure(await cli(['fetch', 'picky', '--wait', 'soon']), 2, /^error: BAD_ARGS option '--wait <ms>' argument 'soon' is invalid/);
    expectFailure(await cli(['ack', 'picky']), 2, /^error: BAD_ARGS missing required argument 'seq'/);
    expectFailure(await cli(['nack', 'picky', 'x']), 2, /^error: BAD_ARGS command-argument value 'x' is invalid for argument 'seq'/);
    expectFailure(await cli(['fetch', 'picky', '--max', '5000']), 1, /^error: BAD_ARGS max: max must be a whole number from 1 to 1000/);
    expectFailure(await cli(['fetch', 'picky', '--wait', '31s']), 1, /^error: BAD_ARGS wait_ms: wait_ms must be a whole number of ms from 0 to 30000/);
    expectFailure(await cli(['fetch', 'nobody']), 1, /^error: UNKNOWN_CONSUMER /);
    expectFailure(await cli(['ack', 'nobody', '1']), 1, /^error: UNKNOWN_CONSUMER /);
    expectFailure(await cli(['consumer', 'add', 'picky', 'picky.*', '--max-in-flight', '0']), 2, /argument '0' is invalid/);
  });
});

describe('dead-letters', () => {
  test('lists them; --requeue and --purge act on those --seq and --where select', async () => {
    const refusing = await startEndpoint('http', { status: () => 500 });
    endpoints.push(refusing);
    expect((await cli(['consumer', 'add', 'dl', refusing.url, 'dl.*'])).code).toBe(0);
    const seqs = [await publish('dl.a', 'one'), await publish('dl.b', 'two'), await publish('dl.a', 'three')];
    await until('three dead letters', async () => (await api<{ dead_letters: number }>('GET', '/api/consumers/dl')).dead_letters === 3);
    await cli(['consumer', 'pause', 'dl']);

    const list = await cli(['dead-letters', 'dl']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/│ seq +│ topic +│ deliveries +│ dead at +│ reason +│ payload +│/);
    expect(list.stdout.match(/│ dl\.[ab] /g)).toHaveLength(3);
    const json = JSON.parse((await cli(['dead-letters', 'dl', '--json', '--where', '{"topic":"dl.a"}'])).stdout) as { dead_letters: { seq: number }[] };
    expect(json.dead_letters.map((d) => d.seq)).toEqual([seqs[0], seqs[2]]);

    expect(await cli(['dead-letters', 'dl', '--purge', '--where', '{"topic":"dl.b"}'])).toEqual({ code: 0, stdout: 'deleted 1\n', stderr: '' });
    expect(await cli(['dead-letters', 'dl', '--requeue', '--seq', String(seqs[2])])).toEqual({ code: 0, stdout: 'requeued 1\n', stderr: '' });
    expect(JSON.parse((await cli(['dead-letters', 'dl', '--json'])).stdout)).toMatchObject({ dead_letters: [{ seq: seqs[0], deliveries: 2 }] });
    expect(await cli(['dead-letters', 'dl', '--purge', '--json'])).toEqual({ code: 0, stdout: '{"deleted":1}\n', stderr: '' });
    await cli(['consumer', 'rm', 'dl']);

    expectFailure(await cli(['dead-letters', 'nobody']), 1, /^error: UNKNOWN_CONSUMER /);
    expectFailure(await cli(['dead-letters', 'dl', '--purge', '--requeue']), 2, 'error: BAD_ARGS give --requeue or --purge, not both');
    expectFailure(await cli(['dead-letters', 'dl', '--where', '{nope']), 2, /^error: BAD_ARGS option '--where <filter>' argument '\{nope' is invalid/);
  });
});

describe('tail', () => {
  test('--no-follow prints the slice up to the head: --from-seq, --from-time, --last (of the pattern), --json', async () => {
    const first = await publish('tl.a', 'one');
    await publish('other.x', 'not this');
    await publish('tl.b', 'two');
    const third = await publish('tl.a', 'three');
    const lines = ['one', 'two', 'three'].map((p, i) => `${[first, first + 2, third][i]} tl.${i === 1 ? 'b' : 'a'} ${p}`);
    expect(await cli(['tail', 'tl.*', '--from-seq', String(first), '--no-follow'])).toEqual({ code: 0, stdout: `${lines.join('\n')}\n`, stderr: '' });
    const created = (await api<{ created_at: number }>('GET', `/api/messages/${first}`)).created_at;
    expect((await cli(['tail', 'tl.*', '--from-time', new Date(created).toISOString(), '--no-follow'])).stdout).toBe(`${lines.join('\n')}\n`);
    expect((await cli(['tail', 'tl.*', '--last', '2', '--no-follow'])).stdout).toBe(`${lines.slice(1).join('\n')}\n`);
    expect((await cli(['tail', 'tl.*', '--last', '100', '--no-follow'])).stdout).toBe(`${lines.join('\n')}\n`);
    const json = await cli(['tail', 'tl.a', '--last', '1', '--no-follow', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ seq: third, topic: 'tl.a', payload: 'three', message_id: null });
    // Nothing asked for before the start: nothing printed.
    expect(await cli(['tail', 'tl.*', '--no-follow'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expectFailure(await cli(['tail', 'tl.*', '--last', '2', '--from-seq', '1']), 2, /^error: BAD_ARGS option '--from-seq <n>' cannot be used with option '--last <n>'/);
    expectFailure(await cli(['tail', 'bad pattern!']), 1, /^error: BAD_PATTERN /);
    expectFailure(await cli(['tail', '#', '--from-time', 'yesterday']), 2, /^error: BAD_ARGS option '--from-time <t>' argument 'yesterday' is invalid/);
  });

  test('follows the live log over SSE until Ctrl-C, which exits 0', async () => {
    const from = (await head()) + 1;
    const run = await child(['tail', 'live.*', '--from-seq', String(from)], '', async (proc, out) => {
      await publish('live.a', 'first');
      await publish('skip.a', 'not this');
      await until('the first line', () => out().includes('live.a first'));
      await publish('live.b', 'second');
      await until('the second line', () => out().includes('live.b second'));
      proc.kill('SIGINT');
    });
    expect(run).toEqual({ code: 0, stdout: `${from} live.a first\n${from + 2} live.b second\n`, stderr: '' });
  });

  test('a dropped connection is resumed from the last seq printed: nothing missed, nothing twice', async () => {
    // A TCP relay in front of the broker whose connections the test cuts.
    const cut = new Set<net.Socket>();
    const relay = net.createServer((client) => {
      const broker = net.connect(app.ports.http, '127.0.0.1');
      for (const s of [client, broker]) {
        cut.add(s);
        s.on('error', () => {});
        s.on('close', () => [client, broker].forEach((x) => x.destroy()));
      }
      client.pipe(broker).pipe(client);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`;
    const from = (await head()) + 1;
    try {
      const run = await child(['tail', 'drop.*', '--from-seq', String(from), '--url', url], '', async (proc, out) => {
        await publish('drop.a', 'before');
        await until('the first line', () => out().includes('drop.a before'));
        for (const s of cut) s.destroy();
        await publish('drop.a', 'while down');
        await until('the second line, after the reconnect', () => out().includes('drop.a while down'), 10_000);
        proc.kill('SIGINT');
      });
      expect(run).toEqual({ code: 0, stdout: `${from} drop.a before\n${from + 1} drop.a while down\n`, stderr: `tail: connection lost after seq ${from}; reconnecting\n` });
    } finally {
      await new Promise((resolve) => relay.close(resolve));
    }
  });
});

describe('export and import', () => {
  test('export writes NDJSON message JSON from --from-seq to --to-seq; import stores each once however often it runs', async () => {
    const a = await publish('ex.a', 'one');
    await api('POST', '/api/publish', { topic: 'ex.b', payload: { n: 2 }, message_id: 'keep-me', metadata: { region: 'eu' } });
    const c = await publish('ex.a', 'three');
    const exported = await cli(['export', '--pattern', 'ex.*', '--from-seq', String(a), '--to-seq', String(c - 1)]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stderr).toBe(`exported 2 messages (seqs ${a} to ${c - 1})\n`);
    const messages = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(messages).toEqual([await api('GET', `/api/messages/${a}`), await api('GET', `/api/messages/${a + 1}`)]);

    const before = await head();
    const imported = await cli(['import', '--json'], exported.stdout);
    expect(imported).toEqual({ code: 0, stdout: '{"imported":2,"stored":1,"duplicates":1}\n', stderr: 'imported 2 messages: 1 new, 1 already stored (not stored again)\n' });
    // keep-me was stored already: only the one without an id is new, as import:<its seq>.
    expect(await head()).toBe(before + 1);
    expect(await api('GET', `/api/messages/${before + 1}`)).toMatchObject({ topic: 'ex.a', payload: 'one', message_id: `import:${a}` });
    expect(await cli(['import'], exported.stdout)).toMatchObject({ code: 0, stderr: 'imported 2 messages: 0 new, 2 already stored (not stored again)\n' });
    expect(await head()).toBe(before + 1);

    expectFailure(await cli(['import'], `${exported.stdout}{"topic":"ex.a"}\n`), 1, /^error: BAD_FORMAT line 3: /);
    expectFailure(await cli(['import', '/nonexistent/log.ndjson']), 1, 'error: BAD_ARGS cannot read /nonexistent/log.ndjson');
  });
});

describe('replay', () => {
  test('sends the slice through a temporary consumer, then removes it; no other consumer moves', async () => {
    const tcp = await startEndpoint('tcp');
    endpoints.push(tcp);
    await api('PUT', '/api/consumers/bystander', { patterns: ['rp.*'] });
    const seqs: number[] = [];
    for (const p of ['r1', 'r2', 'r3', 'r4', 'r5']) {
      seqs.push(await publish('rp.a', p));
      await publish('rq.other', `x-${p}`);
    }
    const bystander = await api<{ position: number; lag: number }>('GET', '/api/consumers/bystander');
    const run = await cli(['replay', '--to', tcp.url, '--pattern', 'rp.*', '--from-seq', String(seqs[1]), '--to-seq', String(seqs[3])]);
    expect(run).toEqual({ code: 0, stdout: `sent 3 messages to ${tcp.url}\n`, stderr: `replayed 3 messages (seqs ${seqs[1]} to ${seqs[3]}) to ${tcp.url}\n` });
    expect(tcp.payloads()).toEqual(['r2', 'r3', 'r4']);
    const consumers = await api<{ id: string; position: number; lag: number }[]>('GET', '/api/consumers');
    expect(consumers.map((c) => c.id).filter((id) => id.startsWith('replay-'))).toEqual([]);
    expect(consumers.find((c) => c.id === 'bystander')).toMatchObject(bystander);
    await api('DELETE', '/api/consumers/bystander');

    // Without --to-*: to the head as it was at start; --where; an http address acks each.
    const http = await startEndpoint('http');
    endpoints.push(http);
    const json = await cli(['replay', '--to', http.url, '--pattern', '#', '--from-seq', String(seqs[0]), '--where', '{"topic":"rq.other"}', '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ sent: 5, from_seq: seqs[0], to_seq: await head(), address: http.url });
    expect(http.payloads()).toEqual(['x-r1', 'x-r2', 'x-r3', 'x-r4', 'x-r5']);

    // Every address kind, as for any push consumer.
    for (const protocol of ['ws', 'udp'] as const) {
      const target = await startEndpoint(protocol);
      endpoints.push(target);
      const sent = await cli(['replay', '--to', target.url, '--pattern', 'rp.*', '--from-seq', String(seqs[3])]);
      expect(sent.stdout, sent.stderr).toBe(`sent 2 messages to ${target.url}\n`);
      await target.waitFor(2);
      expect(target.payloads()).toEqual(['r4', 'r5']);
    }
  });

  test('--rate sends at most n a second; --dry-run sends nothing and prints the count and the first few', async () => {
    const tcp = await startEndpoint('tcp');
    endpoints.push(tcp);
    const first = await publish('rr.a', 'm1');
    for (const p of ['m2', 'm3', 'm4', 'm5']) await publish('rr.a', p);
    const dry = await cli(['replay', '--to', tcp.url, '--pattern', 'rr.*', '--from-seq', String(first), '--to-seq', String(first + 3), '--dry-run']);
    expect(dry).toEqual({
      code: 0,
      stdout: `4 messages (seqs ${first} to ${first + 3}) would be sent to ${tcp.url}; the first:\n${[1, 2, 3, 4].map((i) => `${first + i - 1} rr.a m${i}`).join('\n')}\n`,
      stderr: '',
    });
    expect(JSON.parse((await cli(['replay', '--to', tcp.url, '--pattern', 'rr.*', '--from-seq', String(first), '--dry-run', '--json'])).stdout)).toMatchObject({ count: 5, from_seq: first });
    expect(tcp.received).toEqual([]);
    // A slice past the head holds nothing: nothing registered, nothing sent.
    expect(await cli(['replay', '--to', tcp.url, '--pattern', 'rr.*', '--from-seq', String((await head()) + 10)])).toEqual({ code: 0, stdout: `sent 0 messages to ${tcp.url}\n`, stderr: '' });

    const started = Date.now();
    const run = await cli(['replay', '--to', tcp.url, '--pattern', 'rr.*', '--from-seq', String(first), '--rate', '2']);
    expect(run.code, run.stderr).toBe(0);
    // Three windows (2, 2, 1): the third starts 2 s in.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(tcp.payloads()).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    // Windows are a second apart at the sender; arrivals, timed from the first, also carry each window's delivery
    // time, which a loaded machine stretches for one window more than another: a margin for that, far from the
    // few ms the five would take without --rate.
    const at = tcp.received.map((r) => r.at - tcp.received[0]!.at);
    expect(at[2]).toBeGreaterThanOrEqual(500);
    expect(at[4]).toBeGreaterThanOrEqual(1500);
  });

  test('messages the address refuses are reported: exit 1; bad options exit 2', async () => {
    const refusing = await startEndpoint('http', { status: () => 500 });
    endpoints.push(refusing);
    const seq = await publish('rx.a', 'refused');
    expectFailure(
      await cli(['replay', '--to', refusing.url, '--pattern', 'rx.*', '--from-seq', String(seq)]),
      1,
      /^error: UNAVAILABLE 1 of 1 messages could not be delivered to http:\/\/127\.0\.0\.1:\d+ \(dead-lettered after EVENTBUS_MAX_DELIVERIES attempts; the last: .+\)$/,
    );
    expectFailure(await cli(['replay', '--pattern', 'rx.*']), 2, "error: BAD_ARGS required option '--to <address>' not specified");
    expectFailure(await cli(['replay', '--to', 'smtp://x:1', '--pattern', '#']), 1, /^error: BAD_ADDRESS --to: /);
    expectFailure(await cli(['replay', '--to', 'tcp://127.0.0.1:9', '--pattern', '#', '--to-seq', '1', '--to-time', '1']), 2, /^error: BAD_ARGS option '--to-seq <n>' cannot be used with option '--to-time <t>'/);
    expectFailure(await cli(['replay', '--to', 'tcp://127.0.0.1:9', '--pattern', '#', '--where', '{"seq":1}']), 2, "error: BAD_ARGS --where: give the slice's seqs with --from-seq and --to-seq");
  });
});

describe('replay to an address that cannot be reached, and stopped', () => {
  const temporary = async (): Promise<string[]> => (await api<{ id: string }[]>('GET', '/api/consumers')).map((c) => c.id).filter((id) => id.startsWith('replay-'));

  test('an address that refuses every connection: exit 1 with why once no delivery succeeded for --give-up-after; the consumer removed', async () => {
    const refused = await deadAddress('tcp');
    const seq = await publish('ry.a', 'never');
    const run = await cli(['replay', '--to', refused, '--pattern', 'ry.*', '--from-seq', String(seq), '--give-up-after', '2']);
    const port = refused.split(':').at(-1)!;
    expectFailure(
      run,
      1,
      `error: UNAVAILABLE no delivery to ${refused} succeeded in 2 s: cannot connect: connect ECONNREFUSED 127.0.0.1:${port} (the broker's push state: retrying; 0 of the slice's messages delivered)`,
    );
    expect(await temporary()).toEqual([]);
  });

  // A child process takes seconds to get going on a loaded machine.
  const STARTED_MS = 60_000;

  test('SIGTERM, SIGHUP and SIGINT: the temporary consumer is removed before the command exits with 128 + the signal', { timeout: 240_000 }, async () => {
    const refused = await deadAddress('tcp');
    const seq = await publish('rz.a', 'never');
    for (const [signal, code] of [['SIGTERM', 143], ['SIGHUP', 129], ['SIGINT', 130]] as const) {
      const run = await child(['replay', '--to', refused, '--pattern', 'rz.*', '--from-seq', String(seq)], '', async (proc) => {
        try {
          await until(`the temporary consumer registered (${signal})`, async () => (await temporary()).length === 1, STARTED_MS);
        } finally {
          proc.kill(signal);
        }
      });
      expect({ code: run.code, stdout: run.stdout }, run.stderr).toEqual({ code, stdout: '' });
      expect(run.stderr).toMatch(new RegExp(`^${signal}: stopped after 0 messages; the temporary consumer replay-[0-9a-f]{8} is removed\n$`));
      expect(await temporary()).toEqual([]);
    }
  });

  test('SIGKILL: the broker removes the temporary consumer by itself once its lease lapses, not before', { timeout: 120_000 }, async () => {
    const refused = await deadAddress('tcp');
    const seq = await publish('rk.a', 'never');
    let lived = 0;
    const run = child(['replay', '--to', refused, '--pattern', 'rk.*', '--from-seq', String(seq), '--lease', '2'], '', async (proc) => {
      try {
        await until('the temporary consumer registered', async () => (await temporary()).length === 1, STARTED_MS);
        // Renewed while the command runs: still there well past its 2 s lease.
        const since = Date.now();
        await until('the consumer kept past its lease', async () => (await temporary()).length === 1 && Date.now() - since > 5_000, 30_000);
        lived = Date.now() - since;
      } finally {
        proc.kill('SIGKILL');
      }
    });
    expect((await run).code).toBe(null);
    expect(lived).toBeGreaterThan(5_000);
    expect(await temporary()).toHaveLength(1);
    await until('the lapsed consumer removed', async () => (await temporary()).length === 0, 30_000);
  });
});

test('--help and --version on every command and subcommand: on stdout, exit 0', async () => {
  const program = buildProgram({ env: {}, stdout: process.stdout, stderr: process.stderr, version: '0', settle: () => {} });
  const paths = (c: Command, prefix: string[]): string[][] => c.commands.flatMap((s) => [[...prefix, s.name()], ...paths(s, [...prefix, s.name()])]);
  const all = paths(program, []);
  expect(all.map((p) => p.join(' '))).toEqual(expect.arrayContaining(['publish', 'tail', 'topics', 'stats', 'consumers', 'consumer add', 'consumer rm', 'consumer replay', 'consumer pause', 'consumer resume', 'dead-letters', 'export', 'import', 'replay', 'schedules', 'schedule add', 'schedule rm', 'schedule pause', 'schedule resume']));
  for (const path of all) {
    const run = await cli([...path, '--help']);
    expect({ code: run.code, stderr: run.stderr }, path.join(' ')).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(new RegExp(`^Usage: eventbus ${path.join(' ')}`));
    expect(await cli([...path, '--version'])).toEqual({ code: 0, stdout: `${packageVersion()}\n`, stderr: '' });
  }
});
