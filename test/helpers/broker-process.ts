// The broker as users run it: the built bin (dist/main.js, kept fresh by test/global-setup.ts) in a child
// process, configured by environment variables only, every port 0 unless given, its JSON log lines read back
// from stderr (the real ports come from its `listening` lines). For the tests of start-up, signals, crashes
// and restarts.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN } from './dist.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface LogLine {
  readonly msg: string;
  readonly level: number;
  readonly [field: string]: unknown;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface BrokerProcess {
  readonly child: ChildProcess;
  readonly ports: { readonly transport: number; readonly registration: number; readonly http: number };
  /** Every JSON line logged so far, in order. */
  readonly logs: LogLine[];
  /** Everything written to stderr so far. */
  stderr(): string;
  signal(signal: NodeJS.Signals): void;
  /** Resolves when the process has exited; rejects after `timeoutMs` (the process is then killed). */
  exited(timeoutMs?: number): Promise<Exit>;
}

export interface SpawnOptions {
  /** Run as this user and group (tests that need a file to be read-only for the broker, when run as root). */
  readonly uid?: number;
  readonly gid?: number;
  /** Run this entry point (from an installed package, say) instead of the repository's dist/main.js. */
  readonly bin?: string;
  /** Node's own options, before the entry point. */
  readonly nodeOptions?: readonly string[];
  /** The command line after the entry point (`serve --http-port 0`); none by default. */
  readonly args?: readonly string[];
  /** The working directory, where relative paths of the settings lead; the repository's (or the bin's) by default. */
  readonly cwd?: string;
}

function spawnMain(env: Record<string, string>, options: SpawnOptions): ChildProcess {
  // Whatever EVENTBUS_* the test runner's shell has must not reach the broker under test.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EVENTBUS_')));
  const args = [...(options.nodeOptions ?? []), options.bin ?? BIN, ...(options.args ?? [])];
  return spawn(process.execPath, args, {
    cwd: options.cwd ?? (options.bin === undefined ? ROOT : dirname(options.bin)),
    env: {
      ...inherited,
      EVENTBUS_TRANSPORT_PORT: '0',
      EVENTBUS_REGISTRATION_PORT: '0',
      EVENTBUS_HTTP_PORT: '0',
      EVENTBUS_SYNC: 'normal',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
  });
}

/** Call right after spawning. */
function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    // 'close', not 'exit': stderr has been read to its end by then.
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

async function withTimeout<T>(child: ChildProcess, promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts the broker and resolves once all three front-ends are listening; rejects if it exits first. */
export async function startBrokerProcess(env: Record<string, string>, options: SpawnOptions = {}): Promise<BrokerProcess> {
  const child = spawnMain(env, options);
  const logs: LogLine[] = [];
  let stderr = '';
  let partial = '';
  const ports: Record<string, number> = {};
  let onListening: (() => void) | undefined;
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        continue; // not a log line (a crash's stack, say): kept in stderr()
      }
      logs.push(parsed);
      if (parsed.msg === 'listening' && typeof parsed.transport === 'string' && typeof parsed.address === 'string') {
        ports[parsed.transport] = Number(parsed.address.slice(parsed.address.lastIndexOf(':') + 1));
        if (Object.keys(ports).length === 3) onListening?.();
      }
    }
  });
  const exit = exitOf(child);
  const listening = new Promise<void>((resolve) => (onListening = resolve));
  const first = await withTimeout(child, Promise.race([listening.then(() => 'listening' as const), exit]), 20_000, 'the broker did not start');
  if (first !== 'listening') throw new Error(`the broker exited before listening (${JSON.stringify(first)}): ${stderr}`);
  return {
    child,
    ports: { transport: ports.transport!, registration: ports.registration!, http: ports.http! },
    logs,
    stderr: () => stderr,
    signal: (signal) => {
      child.kill(signal);
    },
    exited: (timeoutMs = 20_000) => withTimeout(child, exit, timeoutMs, 'the broker did not exit'),
  };
}

/** Runs the broker where it is expected not to start: resolves with how it exited and what it wrote. */
export async function runBrokerProcess(env: Record<string, string>, options: SpawnOptions = {}): Promise<Exit & { stderr: string }> {
  const child = spawnMain(env, options);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = await withTimeout(child, exitOf(child), 20_000, 'the broker did not exit');
  return { ...exit, stderr };
}

/** After a test: kills the broker if it is still running. */
export async function killIfRunning(bus: BrokerProcess | undefined): Promise<void> {
  if (bus === undefined || bus.child.exitCode !== null || bus.child.signalCode !== null) return;
  bus.signal('SIGKILL');
  await bus.exited();
}
