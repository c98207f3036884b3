// The `eventbus` bin as users run it (the built bin in a child process): --version and --help on every command,
// usage errors (exit 2) and refused settings (exit 1) as one `error: <CODE> <message>` line, and `serve`
// with its settings as flags, started on port 0 and stopped by SIGTERM.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { COMMANDS, buildProgram } from '../../src/cli/program.js';
import { CONSUMER_SETTING_HELP, SETTINGS_HELP } from '../../src/config/help.js';
import { tempDir, type TestDir } from '../helpers/broker.js';
import { killIfRunning, startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { BIN } from '../helpers/dist.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `eventbus <args>` to its end, with no EVENTBUS_* of the runner's shell and a database nobody uses. */
function eventbus(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EVENTBUS_')));
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...inherited, EVENTBUS_DB: '/nonexistent/never-opened.db', ...env }, timeout: 20_000 },
      (error, stdout, stderr) => {
        // An exit status other than 0 is an answer to look at; anything else (not started, timed out) is not.
        if (error !== null && typeof error.code !== 'number') reject(new Error(`eventbus ${args.join(' ')}: ${error.message}`));
        else resolve({ code: child.exitCode, stdout, stderr });
      },
    );
  });
}

/** One `error: <CODE> ...` line on stderr, nothing on stdout, no stack trace. */
function expectFailure(run: Run, exitCode: number, code: string, ...contains: string[]): void {
  expect({ code: run.code, stdout: run.stdout, lines: run.stderr.split('\n').filter(Boolean).length }, run.stderr).toEqual({ code: exitCode, stdout: '', lines: 1 });
  expect(run.stderr).toMatch(new RegExp(`^error: ${code} \\S`));
  for (const text of contains) expect(run.stderr).toContain(text);
  expect(run.stderr).not.toContain('    at ');
}

// Each spawn costs a second or so: the child-process checks run for serve, help and one operator command;
// test/cli/commands.test.ts checks --help and --version on every command through the program itself.
const SPAWNED = ['serve', 'help', 'publish'];

const commandNames = buildProgram({ env: {}, stdout: process.stdout, stderr: process.stderr, version: VERSION, settle: () => {} }).commands.map((c) => c.name());

/** The settings part of a help: every setting with its flag, variable, default and what it is. */
function expectEverySetting(help: string): void {
  // Unwrapped, so that a description broken over two lines still reads as one.
  const text = help.replace(/\s+/g, ' ');
  for (const s of SETTINGS_HELP) {
    expect(text).toContain(`--${s.flag} ${s.value} ${s.env}, default: `);
    expect(text, s.env).toContain(s.description);
  }
  expect(text).toContain(`${CONSUMER_SETTING_HELP.env} ${CONSUMER_SETTING_HELP.description}`);
  expect(text).toContain('--http-port <port> EVENTBUS_HTTP_PORT, default: 3000 HTTP API');
  expect(text).toContain('--token <token> EVENTBUS_TOKEN, default: unset');
}

describe.concurrent('--version and --help', () => {
  test('the program knows serve, the operator commands of §9 and help, one module each', () => {
    expect(commandNames).toEqual(['serve', 'publish', 'tail', 'topics', 'stats', 'consumers', 'consumer', 'fetch', 'ack', 'nack', 'dead-letters', 'export', 'import', 'replay', 'schedules', 'schedule', 'credentials', 'audit', 'help']);
    expect(COMMANDS).toHaveLength(commandNames.length);
  });

  test.each([[['--version']], [['-V']], ...SPAWNED.map((name) => [[name, '--version']])])('eventbus %j prints the package version', async (args) => {
    expect(await eventbus(args)).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  test.each([[[]], ...SPAWNED.map((name) => [[name]])])('eventbus %j --help prints its usage on stdout, exit 0', async (args) => {
    const run = await eventbus([...args, '--help']);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(new RegExp(`^Usage: eventbus ${args.join(' ')}`.trimEnd()));
    if (args[0] === undefined || args[0] === 'serve') expectEverySetting(run.stdout);
  });

  test('the program\'s help names its commands, and so does `eventbus help`', async () => {
    const [flag, command] = await Promise.all([eventbus(['--help']), eventbus(['help'])]);
    expect(command).toEqual(flag);
    expect(flag.stdout).toMatch(/Commands:\n\s+serve \[options\]\s+run the broker/);
    expect(flag.stdout).toMatch(/\n\s+help \[options\] \[command\]\s+print the help/);
  });

  test('`eventbus help serve` is `eventbus serve --help`', async () => {
    const [command, flag] = await Promise.all([eventbus(['help', 'serve']), eventbus(['serve', '--help'])]);
    expect(command).toEqual(flag);
  });
});

describe.concurrent('usage errors exit 2, refused settings exit 1', () => {
  test.each([
    [['publsh']],
    [['serve', 'extra']],
    [['help', 'publsh']],
  ])('eventbus %j: an unknown command names the commands there are', async (args) => {
    const word = args[0] === 'serve' || args[0] === 'help' ? args[1]! : args[0]!;
    expectFailure(await eventbus(args), 2, 'UNKNOWN_COMMAND', `unknown command '${word}'`, `commands: ${commandNames.join(', ')}`);
  });

  test('a flag without its value is a usage error', async () => {
    expectFailure(await eventbus(['serve', '--http-port']), 2, 'BAD_ARGS', '--http-port');
  });

  test.each([
    [['--tokn', 'secret'], '--tokn: unknown option (did you mean --token?)'],
    [['serve', '--http-prot=1'], '--http-prot: unknown option (did you mean --http-port?)'],
    [['serve', '--http-prot', '1'], '--http-prot: unknown option (did you mean --http-port?)'],
  ])('eventbus %j: an option serve does not know is a usage error naming the closest, exit 2', async (args, message) => {
    expectFailure(await eventbus(args), 2, 'BAD_ARGS', message);
  });

  test.each([
    [['serve', '--http-port', 'abc'], 'EVENTBUS_HTTP_PORT (--http-port): expected a whole number (got "abc")'],
    [['--tls-cert', 'x.pem'], 'EVENTBUS_TLS_KEY (--tls-key): not set, while EVENTBUS_TLS_CERT is'],
    [['--tls-cert', 'missing.crt', '--tls-key', 'missing.key'], 'EVENTBUS_TLS_CERT: cannot read missing.crt (ENOENT)'],
  ])('eventbus %j stops start-up with the setting named, exit 1', async (args, message) => {
    expectFailure(await eventbus(args), 1, 'BAD_ARGS', message);
  });
});

test('the failures docs/cli.md shows are what the bin prints', async () => {
  const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
  const transcript = [...doc.matchAll(/^\$ ((?:\w+=\S+ )*)eventbus(.*)\n(.*)$/gm)];
  expect(transcript.length).toBeGreaterThanOrEqual(3);
  const runs = await Promise.all(
    transcript.map(([, assignments = '', args = '']) => {
      const env = Object.fromEntries(assignments.trim().split(/\s+/).filter(Boolean).map((a) => a.split('=', 2) as [string, string]));
      return eventbus(args.trim().split(/\s+/).filter(Boolean), env);
    }),
  );
  expect(runs.map((r) => r.stderr.trimEnd())).toEqual(transcript.map((m) => m[3]));
});

describe('serve', () => {
  let dir: TestDir | undefined;
  let bus: BrokerProcess | undefined;
  const servers: net.Server[] = [];
  afterEach(async () => {
    await killIfRunning(bus);
    for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
    await dir?.cleanup();
  });

  /** A port another program holds. */
  async function takenPort(): Promise<number> {
    const server = net.createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as net.AddressInfo).port;
  }

  test.each([[['serve']], [[]]])(
    'eventbus %j with every port 0 as flags (over taken ports in the environment) starts, says where it listens, and stops on SIGTERM with exit 0',
    async (command) => {
      dir = await tempDir();
      const taken = String(await takenPort());
      bus = await startBrokerProcess(
        { EVENTBUS_TRANSPORT_PORT: taken, EVENTBUS_REGISTRATION_PORT: taken, EVENTBUS_HTTP_PORT: taken },
        { args: [...command, '--transport-port', '0', '--registration-port=0', '--http-port', '0', '--db', dir.dbPath] },
      );
      const { transport, registration, http } = bus.ports;
      expect(new Set([transport, registration, http, Number(taken)]).size).toBe(4);
      const health = await fetch(`http://127.0.0.1:${http}/healthz`);
      expect(health.status).toBe(200);

      const listening = bus.logs.filter((l) => l.msg === 'listening');
      expect(listening.map((l) => [l['transport'], l['address']])).toEqual([
        ['transport', `127.0.0.1:${transport}`],
        ['registration', `127.0.0.1:${registration}`],
        ['http', `127.0.0.1:${http}`],
      ]);
      expect(listening[2]).toMatchObject({ websocket: `ws://127.0.0.1:${http}/ws` });
      // Once every listener is up, one line says it all in words.
      const ready = bus.logs.find((l) => l.msg.startsWith('eventbus ready:'));
      expect(bus.logs.indexOf(ready!)).toBeGreaterThan(bus.logs.indexOf(listening[2]!));
      expect(ready).toMatchObject({
        msg:
          `eventbus ready: publish with telnet 127.0.0.1 ${transport}, register consumers with telnet 127.0.0.1 ${registration}, ` +
          `HTTP/WebSocket on http://127.0.0.1:${http} (ws://127.0.0.1:${http}/ws), database ${dir.dbPath}`,
        ready: {
          ingress: `127.0.0.1:${transport}`,
          registration: `127.0.0.1:${registration}`,
          http: `http://127.0.0.1:${http}`,
          websocket: `ws://127.0.0.1:${http}/ws`,
          db: dir.dbPath,
        },
      });

      bus.signal('SIGTERM');
      expect(await bus.exited()).toEqual({ code: 0, signal: null });
      expect(bus.logs.at(-1)?.msg).toBe('stopped');
      // Not a terminal: every line on stderr is JSON.
      expect(bus.stderr().split('\n').filter(Boolean).length).toBe(bus.logs.length);
    },
  );
});
