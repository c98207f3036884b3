// The packages as a user gets them: a copy of the sources with no build output (a clean checkout), packed
// with `npm pack` (its prepare and prepack scripts build), the tarballs installed into fresh projects, and
// from there the broker's bin started, the client run against it and the published types compiled with
// skipLibCheck off. The client package must install without the broker's native SQLite.
//
// The server's tarball is installed with --ignore-scripts and given this checkout's compiled better-sqlite3
// binary (same version): compiling SQLite takes minutes and proves nothing about our package.
import { execFile } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startBrokerProcess, type BrokerProcess } from './helpers/broker-process.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/** What a checkout holds that the build and the packages need; nothing built. */
const SOURCES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'docs', 'examples/pull_consumer.py', 'src', 'scripts/build-ui.mjs', 'drizzle', 'packages/client/package.json', 'packages/client/tsconfig.json', 'packages/client/README.md', 'packages/client/LICENSE'];
const INSTALL = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

interface Packed {
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

async function npm(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run(NPM, args, { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } });
  return stdout;
}

async function pack(cwd: string, dest: string, workspace?: string): Promise<Packed> {
  const out = await npm(cwd, ['pack', '--json', '--pack-destination', dest, ...(workspace === undefined ? [] : ['-w', workspace])]);
  const [packed] = JSON.parse(out.slice(out.indexOf('['))) as Packed[];
  return packed!;
}

async function project(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path);
  await writeFile(join(path, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  return path;
}

async function installedVersion(name: string): Promise<string> {
  return (JSON.parse(await readFile(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

let dir: string;
let server: Packed;
let client: Packed;
let serverApp: string;
let clientApp: string;
let broker: BrokerProcess | undefined;
/** The server package as installed in serverApp. */
let installed: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'eventbus-package-'));
  const checkout = join(dir, 'checkout');
  for (const path of SOURCES) await cp(join(ROOT, path), join(checkout, path), { recursive: true });
  // The build's tools, as `npm ci` would have installed them.
  await symlink(join(ROOT, 'node_modules'), join(checkout, 'node_modules'), 'dir');
  server = await pack(checkout, dir);
  client = await pack(checkout, dir, 'eventbus-broker-client');

  clientApp = await project(dir, 'client-app');
  await npm(clientApp, ['install', ...INSTALL, join(dir, client.filename)]);

  serverApp = await project(dir, 'server-app');
  const pinned = [`better-sqlite3@${await installedVersion('better-sqlite3')}`, `@types/node@${await installedVersion('@types/node')}`];
  await npm(serverApp, ['install', ...INSTALL, '--ignore-scripts', join(dir, server.filename), ...pinned]);
  installed = join(serverApp, 'node_modules', 'eventbus-broker');
  const binary = join('node_modules', 'better-sqlite3', 'build', 'Release');
  await mkdir(join(serverApp, binary), { recursive: true });
  await copyFile(join(ROOT, binary, 'better_sqlite3.node'), join(serverApp, binary, 'better_sqlite3.node'));
}, 240_000);

afterAll(async () => {
  broker?.signal('SIGKILL');
  await broker?.exited().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

describe('the eventbus-broker package', () => {
  test('holds the build, the bin, the migrations, the types and the documents with what they link to, nothing else', () => {
    const paths = server.files.map((f) => f.path);
    expect(paths.filter((p) => !/^(?:dist\/|drizzle\/|docs\/|package\.json$|README\.md$|LICENSE$|examples\/pull_consumer\.py$)/.test(p))).toEqual([]);
    expect(paths.filter((p) => p.endsWith('.map') || p.endsWith('.tsbuildinfo'))).toEqual([]);
    expect(paths).toEqual(expect.arrayContaining(['dist/main.js', 'dist/client/index.d.ts', 'dist/embed/index.d.ts', 'dist/ui/index.html', 'drizzle/sqlite/meta/_journal.json', 'drizzle/postgres/meta/_journal.json']));
    expect(paths.filter((p) => p.startsWith('dist/ui/'))).toEqual(['dist/ui/index.html']); // the dashboard's sources stay out
  });

  test('holds its licence, and every relative link of its README and docs leads to a file it holds', () => {
    const paths = new Set(server.files.map((f) => f.path));
    expect(paths).toContain('LICENSE');
    const broken: string[] = [];
    for (const file of [...paths].filter((p) => p === 'README.md' || /^docs\/.*\.md$/.test(p))) {
      const text = readFileSync(join(installed, file), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const path = posix.normalize(posix.join(posix.dirname(file), target!));
        if (!paths.has(path)) broken.push(`${file}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  test('its bin starts a broker that answers over the wire, and serves the dashboard', async () => {
    const db = join(dir, 'bus.db');
    broker = await startBrokerProcess({ EVENTBUS_DB: db }, { bin: join(serverApp, 'node_modules', 'eventbus-broker', 'dist', 'main.js') });
    const health = await fetch(`http://127.0.0.1:${broker.ports.http}/healthz`);
    expect(health.status).toBe(200);
    const dashboard = await fetch(`http://127.0.0.1:${broker.ports.http}/`);
    expect(dashboard.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await dashboard.text()).toContain('uPlot');
  });

  test('its bin, run as npm installs it, prints the version, and the terminal\'s log format loads from its dependencies', async () => {
    const bin = join(serverApp, 'node_modules', '.bin', 'eventbus');
    const { stdout } = await run(bin, ['--version'], { cwd: serverApp, timeout: 20_000 });
    expect(stdout).toBe(`${(JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`);
    const logger = pathToFileURL(join(serverApp, 'node_modules', 'eventbus-broker', 'dist', 'logger.js')).href;
    const script = `const { logDestination } = await import('${logger}'); await logDestination({ isTTY: true, colors: false }, { write() {} }); console.log('loaded');`;
    expect((await run(process.execPath, ['--input-type=module', '-e', script], { cwd: serverApp, timeout: 20_000 })).stdout).toBe('loaded\n');
  });

  // tsc checks every declaration file the installed packages bring (hono, drizzle, pg, ws): on a loaded
  // 2-core machine that outlasts the default timeout.
  test('its types, the client and the server entry, compile with skipLibCheck off', async () => {
    await writeFile(
      join(serverApp, 'app.ts'),
      `import { connect, EventBusError, type EventClient } from 'eventbus-broker';\nimport { EventBusError as ServerError, openEventBus } from 'eventbus-broker/server';\nexport const both: [typeof connect, typeof openEventBus, EventClient | undefined] = [connect, openEventBus, undefined];\nexport const code: EventBusError['code'] = new ServerError('BAD_TOPIC', 'x').code;\n`,
    );
    const options = { strict: true, skipLibCheck: false, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', types: ['node'] };
    await writeFile(join(serverApp, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, files: ['app.ts'] }));
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', serverApp]).then(
      () => '',
      (e: unknown) => String((e as { stdout?: string }).stdout),
    );
    expect(result).toBe('');
  }, 120_000);
});

describe('the eventbus-broker-client package', () => {
  test('holds the client and the modules it loads, and installs without SQLite', () => {
    const paths = client.files.map((f) => f.path);
    expect(paths.filter((p) => !/^(?:dist\/(?:client\/.*|errors|protocol\/client-frames|util\/[\w-]+)\.(?:js|d\.ts)|package\.json|README\.md|LICENSE)$/.test(p))).toEqual([]);
    expect(paths).toContain('LICENSE');
    expect(existsSync(join(clientApp, 'node_modules', 'ws'))).toBe(true);
    expect(existsSync(join(clientApp, 'node_modules', 'better-sqlite3'))).toBe(false);
    expect(existsSync(join(clientApp, 'node_modules', 'drizzle-orm'))).toBe(false);
  });

  test('publishes and reads back through the installed broker', async () => {
    expect(broker).toBeDefined();
    await writeFile(
      join(clientApp, 'main.js'),
      `import { connect } from 'eventbus-broker-client';
const bus = await connect('ws://127.0.0.1:${broker!.ports.http}/ws');
const seq = await bus.publish('package.test', { ok: true });
const sub = await bus.subscribe('package.test', { fromSeq: seq });
const m = await sub.next(5000);
console.log(JSON.stringify({ seq, got: m?.seq, payload: m?.json() }));
bus.close();
`,
    );
    const { stdout } = await run(process.execPath, ['main.js'], { cwd: clientApp, timeout: 20_000 });
    const out = JSON.parse(stdout) as { seq: number; got: number; payload: unknown };
    expect(out).toEqual({ seq: out.seq, got: out.seq, payload: { ok: true } });
    expect(out.seq).toBeGreaterThan(0);
  });
});
