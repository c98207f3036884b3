// Every snippet of README.md, the client package's README and docs/*.md runs as pasted, against a fresh broker whose ports stand in for
// the defaults: ```ts programs (as files of this package, so 'eventbus-broker' and 'eventbus-broker/server' resolve to
// the build, and in a temp dir of their own, where their database files go), ```console transcripts of the
// telnet and WebSocket ports (every reply compared) and of curl on the HTTP API (its output compared, times
// and other moving values by type only), ```sql against a database the broker made, ```json filters
// compiled. ```text and ```sh blocks are output and shell, not snippets.
import { PG_URL, pgSchemas } from './helpers/postgres.js';
import Database from 'better-sqlite3';
import { transform } from 'esbuild';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { startApp, type App } from '../src/app.js';
import { compileFilter } from '../src/protocol/filter.js';
import { silentLogger } from '../src/logger.js';
import { sqliteFile, testAppConfig } from './helpers/broker.js';
import { lineClient, type LineClient } from './helpers/line-client.js';
import { sleep } from './helpers/scope.js';
import { wsConnect, type Frame, type WsClient } from './helpers/ws-client.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// Inside the package (self-references resolve only there), ignored by git, tsc and ESLint.
const SNIPPETS = join(ROOT, 'test', '.snippets');

interface Snippet {
  readonly file: string;
  readonly line: number;
  readonly lang: string;
  readonly code: string;
}

async function snippets(): Promise<Snippet[]> {
  const files = ['README.md', 'packages/client/README.md', ...(await readdir(join(ROOT, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const out: Snippet[] = [];
  for (const file of files) {
    const text = await readFile(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/^( *)```(\w*)\n([\s\S]*?)^\1```$/gm)) {
      const indent = m[1]!.length;
      const code = m[3]!.split('\n').map((l) => l.slice(indent)).join('\n');
      out.push({ file, line: text.slice(0, m.index).split('\n').length, lang: m[2]!, code });
    }
  }
  return out;
}

const all = await snippets();
const schemas = pgSchemas();
const RUNNABLE = new Set(['ts', 'console', 'sql', 'json']);
const NOT_SNIPPETS = new Set(['text', 'sh']);

test('every fenced block says what it is: a runnable snippet, or text or shell', () => {
  expect(all.filter((s) => !RUNNABLE.has(s.lang) && !NOT_SNIPPETS.has(s.lang)).map((s) => `${s.file}:${s.line} "${s.lang}"`)).toEqual([]);
  expect(all.filter((s) => RUNNABLE.has(s.lang)).length).toBeGreaterThan(10);
});

let app: App | undefined;
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await app?.stop();
  app = undefined;
});
afterAll(() => rm(SNIPPETS, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A fresh broker; the snippet's default ports (and 8080, 9000, which snippets use for their own) mapped. */
async function broker(dbPath: string): Promise<{ app: App; ports: Map<number, number>; map: (text: string) => string }> {
  app = (await startApp(testAppConfig(sqliteFile(dbPath)), silentLogger))._unsafeUnwrap();
  const ports = new Map([
    [3000, app.ports.http],
    [49152, app.ports.transport],
    [49153, app.ports.registration],
    [8080, await freePort()],
  ]);
  // A PostgreSQL URL of the docs stands for the tests' database, in a schema of the snippet's own.
  const pgSchema = schemas.schema();
  const map = (text: string): string =>
    text
      .replace(/'postgres:\/\/[^']*'/g, `'${PG_URL}'`)
      .replace(/pgSchema: '[^']*'/g, `pgSchema: '${pgSchema}'`)
      .replace(/(127\.0\.0\.1[: ]|listen\()(\d+)/g, (whole, prefix: string, port: string) => {
        const mapped = ports.get(Number(port));
        return mapped === undefined ? whole : `${prefix}${mapped}`;
      });
  return { app, ports, map };
}

async function run(snippet: Snippet): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'eventbus-docs-'));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  const dbPath = join(dir, 'broker.db');
  const bus = await broker(dbPath);
  switch (snippet.lang) {
    case 'ts':
      return runProgram(snippet, bus.map(snippet.code), dir);
    case 'console':
      return replay(snippet.code, bus);
    case 'sql':
      return runSql(snippet.code, bus.app, dbPath);
    case 'json':
      expect(compileFilter(JSON.parse(snippet.code)).isOk()).toBe(true);
      return;
  }
}

// What tsx would take from the package's tsconfig.json for a file of the package.
const TS_OPTIONS = { loader: 'ts', format: 'esm', target: 'es2022', tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true } } } as const;

async function runProgram(snippet: Snippet, code: string, cwd: string): Promise<void> {
  await mkdir(SNIPPETS, { recursive: true });
  const file = join(SNIPPETS, `${snippet.file.replace(/\W/g, '_')}_${snippet.line}.mjs`);
  // Compiled here rather than by tsx in the child, which would start esbuild and its loader anew each time.
  await writeFile(file, (await transform(code, { ...TS_OPTIONS, sourcefile: `${snippet.file}:${snippet.line}` })).code);
  const child = spawn(process.execPath, [file], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  const code_ = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  expect({ exit: code_, output }).toEqual({ exit: 0, output: expect.any(String) as string });
}

/** Replays a transcript: `$` lines open connections, the others are sent lines and the replies they get. */
async function replay(transcript: string, bus: Awaited<ReturnType<typeof broker>>): Promise<void> {
  let conn: { kind: 'line'; client: LineClient; registration: boolean } | { kind: 'ws'; client: WsClient } | undefined;
  const lines = transcript.split('\n').filter((l) => l !== '');
  const ids = new Map<string, string>(); // subscription ids: the doc's → the broker's
  for (let i = 0; i < lines.length; ) {
    const line = lines[i]!;
    if (line.startsWith('$ ')) {
      const command = line.slice(2).replace(/\s+#.*$/, '').trim();
      const telnet = /^telnet 127\.0\.0\.1 (\d+)$/.exec(command);
      const nc = /^nc -lk (\d+)$/.exec(command);
      const wscat = /^npx wscat -c (\S+)$/.exec(command);
      if (command.startsWith('curl ')) {
        const expected: string[] = [];
        for (i++; i < lines.length && !lines[i]!.startsWith('$ '); i++) expected.push(lines[i]!);
        expect(outputLines(await curl(bus.map(command))), command).toEqual(expected.map(maskMoving));
        continue;
      }
      if (telnet !== null) {
        const port = bus.ports.get(Number(telnet[1]));
        const client = await lineClient(port!);
        closers.push(() => client.destroy());
        conn = { kind: 'line', client, registration: Number(telnet[1]) === 49153 };
      } else if (nc !== null) {
        const sockets = new Set<net.Socket>();
        const server = net.createServer((s) => {
          sockets.add(s.resume());
          s.once('close', () => sockets.delete(s));
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        closers.push(() => {
          for (const s of sockets) s.destroy();
          return new Promise((resolve) => server.close(resolve));
        });
        bus.ports.set(Number(nc[1]), (server.address() as net.AddressInfo).port);
      } else if (wscat !== null) {
        const client = await wsConnect(Number(new URL(bus.map(wscat[1]!)).port));
        closers.push(() => client.close());
        conn = { kind: 'ws', client };
      } else throw new Error(`the test does not know the command "${command}"`);
      i++;
      continue;
    }
    if (conn === undefined) throw new Error(`"${line}" before any connection`);
    if (conn.kind === 'line') {
      const reply = await conn.client.send(bus.map(line));
      const expected = [lines[i + 1]!];
      const got = [reply];
      i += 2;
      // LIST and HELP answer lines up to END; a consumer's state and position in LIST depend on timing.
      if (conn.registration && /^(LIST|HELP)$/i.test(line.trim())) {
        while (expected.at(-1) !== 'END') {
          expected.push(lines[i++]!);
          got.push(await conn.client.readLine());
        }
        // The id, address and patterns as they are; of the rest, which key=value fields follow (a failure's only after one).
        const fields = (l: string): string => {
          const words = bus.map(l).split(' ');
          const keys = words.slice(3).flatMap((w) => (/^\w+=/.test(w) && !w.startsWith('last_failure') ? [w.slice(0, w.indexOf('='))] : []));
          return [...words.slice(0, 3), ...keys].join(' ');
        };
        expect(got.map(fields)).toEqual(expected.map(fields));
      } else expect(got).toEqual(expected.map(bus.map));
      continue;
    }
    if (line.startsWith('> ')) {
      let frame = line.slice(2);
      for (const [doc, real] of ids) frame = frame.replaceAll(`"${doc}"`, `"${real}"`);
      conn.client.send(frame);
      i++;
      continue;
    }
    // The frames a request gets, in any order (a publish's `published` and a subscriber's `message` race).
    const expected: Frame[] = [];
    while (i < lines.length && lines[i]!.startsWith('< ')) expected.push(JSON.parse(lines[i++]!.slice(2)) as Frame);
    const got: Frame[] = [];
    for (let k = 0; k < expected.length; k++) got.push(await conn.client.next(() => true, 5000));
    for (const want of expected) {
      const at = got.findIndex((g) => g.type === want.type && (want['id'] === undefined || g['id'] === want['id']));
      expect(at, `no frame like ${JSON.stringify(want)} among ${JSON.stringify(got)}`).toBeGreaterThanOrEqual(0);
      const [have] = got.splice(at, 1) as [Frame];
      if (want.type === 'subscribed') ids.set(want['subscription'] as string, have['subscription'] as string);
      const { subscription: _, metadata, ...rest } = want;
      expect(have).toMatchObject(rest);
      if (metadata !== undefined) expect(have['metadata']).toMatchObject({ ...(metadata as object), timestamp: expect.any(Number) });
    }
  }
  await sleep(50); // the last sent line (an ack) reaches the broker before it stops
}

/**
 * Runs a curl command line as a shell would; a stream (`-N`) is read for two seconds. Resolves with its output.
 */
async function curl(command: string): Promise<string> {
  const streaming = /\s-\w*N/.test(command);
  const child = spawn('bash', ['-c', streaming ? `${command} --max-time 2` : command], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  // 28: the stream's two seconds are up.
  expect({ code, err }, command).toEqual({ code: streaming ? 28 : 0, err: '' });
  return out;
}

// Values that differ from run to run (times, rates, this broker's name): compared by their type only.
const MOVING = new Set(['timestamp', 'created_at', 'dead_at', 'last_seen', 'node_id', 'published_per_s', 'schedule_id', 'deliver_at', 'next_at', 'ack_deadline']);

function maskValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskValue);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, MOVING.has(k) ? `<${typeof v}>` : maskValue(v)]));
}

/** A line of output with its moving values masked: JSON, or an SSE `data:` line of JSON. */
function maskMoving(line: string): string {
  const data = line.startsWith('data: ');
  const text = data ? line.slice(6) : line;
  try {
    const masked = JSON.stringify(maskValue(JSON.parse(text)));
    return data ? `data: ${masked}` : masked;
  } catch {
    return line;
  }
}

/** The lines of curl's output as a transcript shows them: no blank lines, no SSE comments, moving values masked. */
function outputLines(output: string): string[] {
  return output
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith(':'))
    .map(maskMoving);
}

async function runSql(sql: string, broker: App, dbPath: string): Promise<void> {
  // Something to select: messages, a consumer, and the tables the recipes read.
  (await broker.broker.publish({ topic: 'orders.created', payload: '{"id":1}' }))._unsafeUnwrap();
  (await broker.broker.saveConsumer({ id: 'billing', address: null, patterns: ['orders.*'] }))._unsafeUnwrap();
  const db = new Database(dbPath, { readonly: true });
  try {
    for (const statement of sql.replace(/--.*$/gm, '').split(';').map((s) => s.trim()).filter(Boolean)) {
      expect(() => db.prepare(statement).all(), statement).not.toThrow();
    }
  } finally {
    db.close();
  }
}

const COVERED = ['README.md', 'packages/client/README.md', 'docs/client.md', 'docs/embedding.md', 'docs/protocol.md', 'docs/delivery.md', 'docs/database.md', 'docs/http-api.md', 'docs/scheduling.md'];

describe.each(COVERED)('%s', (file) => {
  const mine = all.filter((s) => s.file === file && RUNNABLE.has(s.lang));
  test.each(mine.map((s) => [`${s.lang} at line ${s.line}`, s] as const))('the %s runs as pasted', async (_, snippet) => {
    await run(snippet);
  });
});

test('every file with a runnable snippet is covered above', () => {
  expect([...new Set(all.filter((s) => RUNNABLE.has(s.lang)).map((s) => s.file))].filter((f) => !COVERED.includes(f))).toEqual([]);
});

test("the README names each example of package.json's example:* scripts, and counts them right", async () => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const scripts = Object.keys((JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts).filter((s) => s.startsWith('example:'));
  const said = /The `examples\/` folder[^.]*? has (\w+) small programs[^;]*;/.exec(readme);
  expect(said, 'the sentence on examples/').not.toBeNull();
  expect(said![1]).toBe(['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'][scripts.length]);
  for (const script of scripts) expect(said![0]).toContain(script);
});

test('a TypeScript snippet with top-level await is preceded by the README saying it needs "type": "module"', async () => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const firstAwait = all.find((s) => s.file === 'README.md' && s.lang === 'ts' && /^(?:const .*= )?await /m.test(s.code));
  expect(firstAwait).toBeDefined();
  const before = readme.split('\n').slice(0, firstAwait!.line).join('\n');
  expect(before).toContain('"type": "module"');
});
