// The Logger the rest of the code receives: message plus fields, one line per event on stderr (pino). JSON
// lines for programs (tests, benchmarks and log collectors parse them), human-readable ones when a person
// watches a terminal. Tests pass silentLogger. Only this module (and the CLI) writes to the console.
import { pino } from 'pino';
import type { LogLevel } from './config.js';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** Where log lines go: each `write` gets one JSON line. */
export interface LogDestination {
  write(line: string): void;
}

/** Written synchronously, so the lines logged just before process.exit() are not lost. */
const stderr = (): LogDestination => pino.destination({ fd: 2, sync: true });

export function createLogger(level: LogLevel, destination: LogDestination = stderr()): Logger {
  return wrap(pino({ level, base: { pid: process.pid } }, destination));
}

/**
 * A field of the start-up line that its message already says in words: programs read it, a person reading
 * the message does not need it again.
 */
export const SAID_IN_WORDS = 'ready';

/**
 * The log's format for where it goes: JSON lines as they are, unless a person reads them in a terminal
 * (`isTTY`), who gets `[time] LEVEL: message key=value ...` lines. pino-pretty is loaded for the terminal
 * only, and formats in the writing call, so nothing is left unwritten at exit.
 */
export async function logDestination(
  options: { readonly isTTY: boolean; readonly colors: boolean },
  out: LogDestination = stderr(),
): Promise<LogDestination> {
  if (!options.isTTY) return out;
  const { prettyFactory } = await import('pino-pretty');
  const prettify = prettyFactory({
    colorize: options.colors,
    translateTime: 'SYS:HH:MM:ss.l',
    hideObject: true,
    ignore: 'pid,hostname',
    messageFormat: (log, messageKey) => humanLine(log, messageKey),
  });
  return { write: (line) => out.write(prettify(line)) };
}

// pino's own fields, which the prettifier shows in its own way (or not at all).
const OWN_FIELDS = new Set(['level', 'time', 'pid', 'hostname', SAID_IN_WORDS]);

/**
 * The message, then the fields as key=value (a string quoted where it would not read as one value, anything
 * else as JSON); a string of several lines (a stack) goes below, indented.
 */
export function humanLine(log: Readonly<Record<string, unknown>>, messageKey = 'msg'): string {
  const inline: string[] = [];
  const below: string[] = [];
  for (const [key, value] of Object.entries(log)) {
    if (key === messageKey || OWN_FIELDS.has(key) || value === undefined) continue;
    if (typeof value !== 'string') inline.push(` ${key}=${JSON.stringify(value)}`);
    else if (value.includes('\n')) below.push(`\n    ${key}: ${value.replace(/\n/g, '\n    ')}`);
    else inline.push(` ${key}=${/^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)}`);
  }
  const message = typeof log[messageKey] === 'string' ? log[messageKey] : '';
  return `${message}${inline.join('')}${below.join('')}`;
}

function wrap(p: pino.Logger): Logger {
  return {
    debug: (message, fields) => p.debug(fields ?? {}, message),
    info: (message, fields) => p.info(fields ?? {}, message),
    warn: (message, fields) => p.warn(fields ?? {}, message),
    error: (message, fields) => p.error(fields ?? {}, message),
    child: (fields) => wrap(p.child(fields)),
  };
}

const noop = (): void => {};
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => silentLogger };
