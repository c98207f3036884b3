// Settings (PROTOCOL.md §1): parsed once from the environment and argv into one frozen, typed Config.
// The only module that reads process.env; everything else receives the Config (or the slice it needs).
import { hostname } from 'node:os';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { closest } from 'fastest-levenshtein';
import { err, ok, type Result } from 'neverthrow';
import { z } from 'zod';
import { checkPattern } from './protocol/topics.js';

export type SyncMode = 'full' | 'normal';
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A retention rule: messages whose topic matches `pattern` are removed past an age or a count. */
export interface RetentionRule {
  readonly pattern: string;
  readonly maxAgeMs?: number | undefined;
  readonly maxMessages?: number | undefined;
}

/** A push consumer declared in the environment (`EVENTBUS_CONSUMER_<ID>`), registered at start-up. */
export interface StaticConsumer {
  readonly id: string;
  readonly address: string;
  readonly patterns: readonly string[];
}

export interface Config {
  readonly dbPath: string;
  /** This broker's name in the logs (and, on PostgreSQL, among the brokers sharing a database). */
  readonly nodeId: string;
  /** PostgreSQL only: the schema holding the tables. */
  readonly pgSchema: string;
  /** PostgreSQL only: how long a statement of the broker waits for a lock another session holds; 0: no limit. */
  readonly pgLockTimeoutMs: number;
  /** PostgreSQL only: the partitions a durable consumer's messages are spread over among brokers. */
  readonly consumerPartitions: number;
  readonly host: string;
  readonly transportPort: number;
  readonly registrationPort: number;
  readonly httpPort: number;
  readonly sync: SyncMode;
  readonly defaultTtlSeconds: number;
  readonly ackTimeoutMs: number;
  readonly maxDeliveries: number;
  /**
   * Seqs a durable consumer reserves ahead of its deliveries, written before it delivers past them: after a
   * kill, the unacked messages up to the reservation count as delivered once more.
   */
  readonly deliveryReservation: number;
  readonly maxInFlight: number;
  readonly maxPayloadBytes: number;
  readonly token: string | undefined;
  /** PEM files of the certificate (chain) and its key: both set, every listener speaks TLS; neither, none does. */
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  /** The TLS 1.2 cipher suites the listeners offer, an OpenSSL cipher list (TLS 1.3 suites stay OpenSSL's unless named). */
  readonly tlsCiphers: string;
  /** A PEM file of CAs trusted for https:// and wss:// push endpoints, besides Node's bundled ones. */
  readonly pushCa: string | undefined;
  readonly allowedTargets: readonly string[] | undefined;
  readonly maxConnections: number;
  /** Unanswered lines per telnet connection before the broker stops reading from it. */
  readonly maxPipelinedLines: number;
  /** Largest WebSocket frame read; a bigger one closes that socket with 1009 (it cannot be skipped unread). */
  readonly maxFrameBytes: number;
  /** Unsent bytes per WebSocket (or event stream) before its deliveries pause and reading from it stops. */
  readonly wsBufferBytes: number;
  /** Largest HTTP API request body; a longer one is refused with TOO_LARGE unread. */
  readonly httpMaxBodyBytes: number;
  /** Rows of the log one page of GET /api/messages reads at most (a pattern that matches little ends the page early). */
  readonly httpScanRows: number;
  /** A push endpoint's time to accept a connection. */
  readonly pushConnectTimeoutMs: number;
  /** A push endpoint's time to answer an http request. */
  readonly pushTimeoutMs: number;
  /** While a push consumer keeps failing, at most one log line per this long; 0: a line per failure. */
  readonly pushFailureLogIntervalMs: number;
  readonly logLevel: LogLevel;
  readonly consumers: readonly StaticConsumer[];
  readonly retention: readonly RetentionRule[];
  readonly retentionIntervalMs: number;
  /** How long rows of delivery_failures are kept; 0 keeps them all. */
  readonly failureLogMaxAgeMs: number;
  /** A telnet line, or an HTTP request's headers, must arrive whole within this of its first byte. */
  readonly lineTimeoutMs: number;
  /** A telnet connection that sends nothing for this long is closed; 0: never. */
  readonly idleTimeoutMs: number;
  /** On SIGTERM/SIGINT, how long clients get to receive their last answers before their connections are cut. */
  readonly shutdownTimeoutMs: number;
}

export interface ConfigError {
  /** The environment variable at fault, e.g. `EVENTBUS_HTTP_PORT`. */
  readonly setting: string;
  /** One line naming the setting and what is wrong with it. */
  readonly message: string;
}

// Digits only before converting: Number('') is 0 (an empty EVENTBUS_HTTP_PORT= would bind a random port),
// and Number('0x10') or Number('1e3') are not what anyone typing a setting means.
const wholeNumber = z
  .string()
  .trim()
  .regex(/^-?\d+$/, 'expected a whole number')
  .transform((digits) => Number(digits));
const port = wholeNumber.pipe(z.number().min(0).max(65535));
const nonNegative = wholeNumber.pipe(z.number().min(0));
const positive = wholeNumber.pipe(z.number().min(1));
const duration = z
  .string()
  .refine((text) => parseDurationMs(text) !== undefined, 'expected a whole number with ms, s, m, h or d')
  .transform((text) => parseDurationMs(text)!);

// Forward secrecy and authenticated encryption only: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305.
// Node's default list adds CBC suites, DHE and HIGH, which takes in plain RSA key exchange.
const TLS12_AEAD_ECDHE = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * Every setting: its environment variable (the CLI flag is derived from it), default, schema, and what the
 * command line's help shows: the flag's value and one line of description (`shown` when the default is
 * computed). The single table the help and docs/settings.md mirror.
 */
const SETTINGS = {
  dbPath: {
    env: 'EVENTBUS_DB',
    default: 'data/eventbus.db',
    // A PostgreSQL URL must be one, and a URL of any other scheme is a mistake: neither is taken for a file
    // name (a SQLite broker in a new directory named "postgres:" or "mysql:").
    schema: z
      .string()
      .min(1)
      .superRefine((v, ctx) => {
        const problem = dbProblem(v);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      }),
    value: '<file|url>',
    description: 'the SQLite file (its directory is created), or postgres://user[:password]@host[:port]/database',
  },
  nodeId: {
    env: 'EVENTBUS_NODE_ID',
    default: `${hostname()}:${process.pid}`,
    shown: '<hostname>:<pid>',
    schema: z.string().min(1),
    value: '<name>',
    description: "this broker's name in the logs and among the brokers on one PostgreSQL database",
  },
  pgSchema: {
    env: 'EVENTBUS_PG_SCHEMA',
    default: 'eventbus',
    schema: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'expected a PostgreSQL identifier'),
    value: '<name>',
    description: 'PostgreSQL only: the schema that holds the tables (created if missing)',
  },
  pgLockTimeoutMs: {
    env: 'EVENTBUS_PG_LOCK_TIMEOUT_MS',
    default: '5000',
    schema: nonNegative,
    value: '<ms>',
    description: 'PostgreSQL only: waiting this long for a lock held elsewhere answers UNAVAILABLE; 0: no limit',
  },
  consumerPartitions: {
    env: 'EVENTBUS_CONSUMER_PARTITIONS',
    default: '16',
    schema: wholeNumber.pipe(z.number().min(1).max(4096)),
    value: '<n>',
    description: "PostgreSQL only: the partitions a durable consumer's messages are shared out in among brokers",
  },
  host: { env: 'EVENTBUS_HOST', default: '127.0.0.1', schema: z.string().min(1), value: '<address>', description: 'the address every listener binds' },
  transportPort: { env: 'EVENTBUS_TRANSPORT_PORT', default: '49152', schema: port, value: '<port>', description: 'line ingress: publish with telnet (0: any free port)' },
  registrationPort: { env: 'EVENTBUS_REGISTRATION_PORT', default: '49153', schema: port, value: '<port>', description: 'consumer registration, with telnet (0: any free port)' },
  httpPort: { env: 'EVENTBUS_HTTP_PORT', default: '3000', schema: port, value: '<port>', description: 'HTTP API, WebSocket at /ws, /metrics, /healthz (0: any free port)' },
  sync: {
    env: 'EVENTBUS_SYNC',
    default: 'full',
    schema: z.enum(['full', 'normal']),
    value: '<full|normal>',
    description: 'full: each publish is fsynced before its answer (survives power loss); normal: survives a crash',
  },
  defaultTtlSeconds: {
    env: 'EVENTBUS_DEFAULT_TTL',
    default: '0',
    schema: nonNegative,
    value: '<seconds>',
    description: 'how long a message without a TTL of its own is kept; 0: until retention removes it',
  },
  ackTimeoutMs: { env: 'EVENTBUS_ACK_TIMEOUT_MS', default: '30000', schema: positive, value: '<ms>', description: 'an unacked delivery is redelivered after this' },
  maxDeliveries: { env: 'EVENTBUS_MAX_DELIVERIES', default: '10', schema: positive, value: '<n>', description: "deliveries of a message before it goes to the consumer's dead letters" },
  deliveryReservation: {
    env: 'EVENTBUS_DELIVERY_RESERVATION',
    default: '1000',
    schema: wholeNumber.pipe(z.number().min(1).max(1_000_000)),
    value: '<seqs>',
    description: 'seqs a durable consumer reserves ahead of its deliveries, one write each (counted again on a kill)',
  },
  maxInFlight: { env: 'EVENTBUS_MAX_IN_FLIGHT', default: '256', schema: positive, value: '<n>', description: 'unacked deliveries per subscription before the broker waits' },
  maxPayloadBytes: { env: 'EVENTBUS_MAX_PAYLOAD', default: '1048576', schema: positive, value: '<bytes>', description: 'the largest payload; a larger one is refused with TOO_LARGE' },
  token: { env: 'EVENTBUS_TOKEN', default: undefined, schema: z.string().min(1).optional(), value: '<token>', description: 'when set, every front-end requires it' },
  tlsCert: {
    env: 'EVENTBUS_TLS_CERT',
    default: undefined,
    schema: z.string().min(1).optional(),
    value: '<file>',
    description: 'PEM certificate (chain); with EVENTBUS_TLS_KEY every listener speaks TLS (https, wss)',
  },
  tlsKey: { env: 'EVENTBUS_TLS_KEY', default: undefined, schema: z.string().min(1).optional(), value: '<file>', description: "the certificate's PEM private key" },
  tlsCiphers: {
    env: 'EVENTBUS_TLS_CIPHERS',
    default: TLS12_AEAD_ECDHE,
    schema: z
      .string()
      .min(1)
      .superRefine((v, ctx) => {
        const problem = cipherListProblem(v);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      }),
    value: '<ciphers>',
    description: 'the TLS 1.2 cipher suites the listeners offer, an OpenSSL cipher list; TLS 1.3 is unchanged',
  },
  pushCa: {
    env: 'EVENTBUS_PUSH_CA',
    default: undefined,
    schema: z.string().min(1).optional(),
    value: '<file>',
    description: "PEM CAs trusted for https:// and wss:// push endpoints, besides Node's bundled ones",
  },
  allowedTargets: {
    env: 'EVENTBUS_ALLOWED_TARGETS',
    default: undefined,
    schema: z.string().optional(),
    value: '<patterns>',
    description: 'comma-separated host[:port] patterns that registered push addresses must match',
  },
  maxConnections: { env: 'EVENTBUS_MAX_CONNECTIONS', default: '10000', schema: positive, value: '<n>', description: 'connections per front-end; one more is refused with UNAVAILABLE' },
  maxPipelinedLines: {
    env: 'EVENTBUS_MAX_PIPELINED_LINES',
    default: '4096',
    schema: positive,
    value: '<n>',
    description: 'unanswered lines per telnet connection before the broker stops reading from it',
  },
  maxFrameBytes: { env: 'EVENTBUS_MAX_FRAME', default: '16777216', schema: positive, value: '<bytes>', description: 'the largest WebSocket frame read at all (larger: the socket is closed)' },
  wsBufferBytes: { env: 'EVENTBUS_WS_BUFFER', default: '1048576', schema: positive, value: '<bytes>', description: 'unsent bytes per WebSocket before its deliveries pause' },
  httpMaxBodyBytes: { env: 'EVENTBUS_HTTP_MAX_BODY', default: '16777216', schema: positive, value: '<bytes>', description: 'the largest HTTP request body; a larger one is refused with TOO_LARGE' },
  httpScanRows: { env: 'EVENTBUS_HTTP_SCAN_ROWS', default: '10000', schema: positive, value: '<n>', description: 'log rows one GET /api/messages page reads at most to find its matches' },
  pushConnectTimeoutMs: {
    env: 'EVENTBUS_PUSH_CONNECT_TIMEOUT_MS',
    default: '5000',
    schema: positive,
    value: '<ms>',
    description: "a tcp or ws push endpoint's time to accept a connection",
  },
  pushTimeoutMs: { env: 'EVENTBUS_PUSH_TIMEOUT_MS', default: '10000', schema: positive, value: '<ms>', description: "an http push endpoint's time to answer" },
  pushFailureLogIntervalMs: {
    env: 'EVENTBUS_PUSH_FAILURE_LOG_INTERVAL',
    default: '60s',
    schema: duration,
    value: '<duration>',
    description: 'at most one log line per this long while a push consumer keeps failing; 0: every failure',
  },
  logLevel: { env: 'EVENTBUS_LOG_LEVEL', default: 'info', schema: z.enum(LOG_LEVELS), value: '<level>', description: 'the least severe lines logged: debug, info, warn or error' },
  retention: {
    env: 'EVENTBUS_RETENTION',
    default: '',
    schema: z.string(),
    value: '<rules>',
    description: 'rules separated by ;, each <pattern> [max_age=<duration>] [max_messages=<n>]',
  },
  retentionIntervalMs: { env: 'EVENTBUS_RETENTION_INTERVAL_MS', default: '1000', schema: positive, value: '<ms>', description: 'how often retention runs' },
  failureLogMaxAgeMs: {
    env: 'EVENTBUS_FAILURE_LOG_MAX_AGE',
    default: '7d',
    schema: duration,
    value: '<duration>',
    description: 'how long failed push attempts are kept: <n>[ms|s|m|h|d], seconds when bare; 0: all',
  },
  lineTimeoutMs: {
    env: 'EVENTBUS_LINE_TIMEOUT_MS',
    default: '30000',
    schema: positive,
    value: '<ms>',
    description: "a telnet line or an HTTP request's headers must arrive within this of the first byte",
  },
  idleTimeoutMs: {
    env: 'EVENTBUS_IDLE_TIMEOUT_MS',
    default: '600000',
    schema: nonNegative,
    value: '<ms>',
    description: 'a telnet connection that sends nothing for this long is closed; 0: never',
  },
  shutdownTimeoutMs: {
    env: 'EVENTBUS_SHUTDOWN_TIMEOUT_MS',
    default: '10000',
    schema: positive,
    value: '<ms>',
    description: 'on SIGTERM or SIGINT, how long clients get to take their last answers',
  },
} as const;

type SettingKey = keyof typeof SETTINGS;

// A URL's scheme, two characters or more (one would be a drive letter elsewhere).
const URL_SCHEME = /^([a-z][a-z0-9+.-]+):/i;

/** What EVENTBUS_DB cannot be: a PostgreSQL URL that is not whole, or a URL of another scheme; else undefined. */
function dbProblem(db: string): string | undefined {
  if (isPostgresUrl(db)) return postgresUrlProblem(db);
  const scheme = URL_SCHEME.exec(db)?.[1];
  if (scheme === undefined) return undefined;
  if (/^postgres(?:ql)?$/i.test(scheme)) return 'expected postgres://user[:password]@host[:port]/database';
  return `a ${scheme}: URL is neither a SQLite file nor postgres://user[:password]@host[:port]/database (a file whose name begins so: write ./ before it)`;
}

/**
 * What is wrong with an OpenSSL cipher list, or undefined. OpenSSL takes a list as long as one of its names
 * matches, so a misspelt suite would be dropped without a word: each name is tried on its own too (`!`, `-`,
 * `+` and `@` items only remove, reorder or sort).
 */
function cipherListProblem(list: string): string | undefined {
  const tryList = (ciphers: string): string | undefined => {
    try {
      tls.createSecureContext({ ciphers });
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  };
  for (const item of list.split(/[:, ]+/)) {
    if (item === '' || /^[!+@-]/.test(item)) continue;
    if (tryList(item) !== undefined) return `${item} names no cipher suite OpenSSL knows`;
  }
  const whole = tryList(list);
  return whole === undefined ? undefined : `not an OpenSSL cipher list (${whole})`;
}

/** Whether EVENTBUS_DB names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(db);
}

/** A URL (PostgreSQL's, or one EVENTBUS_DB was given by mistake) without its password, for messages and logs. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return `${URL_SCHEME.exec(url)?.[1] ?? 'postgres'}://…`;
  }
}

/** What is wrong with a PostgreSQL URL, or undefined. */
function postgresUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'expected postgres://user[:password]@host[:port]/database';
  }
  if (u.hostname === '') return 'the PostgreSQL URL names no host: expected postgres://user[:password]@host[:port]/database';
  if (u.pathname.length <= 1) return 'the PostgreSQL URL names no database: expected postgres://user[:password]@host[:port]/database';
  return undefined;
}

/** `EVENTBUS_HTTP_PORT` ⇔ `--http-port`. */
export const flagFor = (env: string): string => env.replace(/^EVENTBUS_/, '').toLowerCase().replace(/_/g, '-');

const CONSUMER_PREFIX = 'EVENTBUS_CONSUMER_';
// Read by the operator commands of the command line (PROTOCOL.md §9), not by the broker; a shell that sets them
// may start a broker too.
const URL_VARIABLE = 'EVENTBUS_URL';
const CA_VARIABLE = 'EVENTBUS_CA';
const OTHER_NAMES = [URL_VARIABLE, CA_VARIABLE];
const KNOWN_NAMES: ReadonlySet<string> = new Set([...Object.values(SETTINGS).map((s) => s.env), ...OTHER_NAMES]);
const KNOWN_FLAGS: ReadonlySet<string> = new Set(Object.values(SETTINGS).map((s) => flagFor(s.env)));

export function parseConfig(
  env: Readonly<Record<string, string | undefined>>,
  argv: readonly string[] = [],
): Result<Config, ConfigError> {
  const names = checkNames(env, argv);
  if (names.isErr()) return err(names.error);
  const flags = parseFlags(argv);
  if (flags.isErr()) return err(flags.error);
  const raw: Partial<Record<SettingKey, unknown>> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [SettingKey, (typeof SETTINGS)[SettingKey]][]) {
    const given = flags.value[flagFor(setting.env)] ?? env[setting.env] ?? setting.default;
    const parsed = setting.schema.safeParse(given === '' && setting.default === undefined ? undefined : given);
    if (!parsed.success) {
      const why = parsed.error.issues[0]?.message ?? 'invalid value';
      // A URL may carry a password, which a message must not repeat.
      const shown = typeof given === 'string' && URL_SCHEME.test(given) ? displayUrl(given) : given;
      return err(settingError(setting.env, `${why} (got ${JSON.stringify(shown)})`));
    }
    raw[key] = parsed.data;
  }
  const retention = parseRetention(raw.retention as string);
  if (retention.isErr()) return err(settingError(SETTINGS.retention.env, retention.error));
  const consumers = parseStaticConsumers(env);
  if (consumers.isErr()) return err(consumers.error);
  // One without the other would serve plain text to someone who asked for TLS.
  if ((raw.tlsCert === undefined) !== (raw.tlsKey === undefined)) {
    const [given, missing] = raw.tlsCert === undefined ? [SETTINGS.tlsKey, SETTINGS.tlsCert] : [SETTINGS.tlsCert, SETTINGS.tlsKey];
    return err(settingError(missing.env, `not set, while ${given.env} is: TLS needs both the certificate and its key`));
  }
  const allowed = raw.allowedTargets as string | undefined;
  return ok(
    Object.freeze({
      ...(raw as Omit<Config, 'retention' | 'consumers' | 'allowedTargets'>),
      allowedTargets: allowed === undefined ? undefined : allowed.split(',').map((s) => s.trim()).filter(Boolean),
      retention: retention.value,
      consumers: consumers.value,
    }),
  );
}

function settingError(env: string, what: string): ConfigError {
  return { setting: env, message: `${env} (--${flagFor(env)}): ${what}` };
}

/** A name as a one-line message can show it: quoted with escapes when it holds control characters or quotes. */
const shownName = (name: string): string => (JSON.stringify(name) === `"${name}"` ? name : JSON.stringify(name));

/**
 * A misspelt setting would otherwise be ignored without a word (EVENTBUS_TOKN=secret starts a broker with no
 * authentication): every EVENTBUS_* variable and every flag must be one the broker knows.
 */

function checkNames(env: Readonly<Record<string, string | undefined>>, argv: readonly string[]): Result<void, ConfigError> {
  for (const [raw, value] of Object.entries(env)) {
    if (!raw.startsWith('EVENTBUS_') || value === undefined || KNOWN_NAMES.has(raw)) continue;
    if (raw.startsWith(CONSUMER_PREFIX)) continue;
    const name = shownName(raw);
    return err({ setting: raw, message: `${name}: unknown setting (did you mean ${closest(name, [...KNOWN_NAMES])}?)` });
  }
  for (const arg of argv) {
    if (arg === '--') break;
    if (!arg.startsWith('--')) continue;
    const flag = shownName(arg.slice(2).split('=', 1)[0]!);
    if (KNOWN_FLAGS.has(flag)) continue;
    return err({ setting: 'argv', message: `--${flag}: unknown option (did you mean --${closest(flag, [...KNOWN_FLAGS])}?)` });
  }
  return ok(undefined);
}

function parseFlags(argv: readonly string[]): Result<Record<string, string | undefined>, ConfigError> {
  const options = Object.fromEntries(
    Object.values(SETTINGS).map((s) => [flagFor(s.env), { type: 'string' as const }]),
  );
  try {
    const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
    return ok(values as Record<string, string | undefined>);
  } catch (e) {
    // parseArgs explains some mistakes over several lines; start-up stops with one.
    return err({ setting: 'argv', message: `command line: ${(e as Error).message.split('\n')[0]}` });
  }
}

/** `EVENTBUS_CONSUMER_<ID>=<proto>://<host>:<port>[/path] [pattern ...]`; the address is checked at registration. */
function parseStaticConsumers(
  env: Readonly<Record<string, string | undefined>>,
): Result<StaticConsumer[], ConfigError> {
  const out: StaticConsumer[] = [];
  for (const [raw, value] of Object.entries(env)) {
    // EVENTBUS_CONSUMER_PARTITIONS is a setting of its own, not a consumer named "partitions".
    if (!raw.startsWith(CONSUMER_PREFIX) || value === undefined || KNOWN_NAMES.has(raw)) continue;
    const id = raw.slice(CONSUMER_PREFIX.length).toLowerCase();
    const name = shownName(raw);
    const [address, ...patterns] = value.trim().split(/\s+/);
    if (id === '' || !address) return err({ setting: raw, message: `${name}: expected "<proto>://<host>:<port> [pattern ...]"` });
    for (const p of patterns) {
      const checked = checkPattern(p);
      if (checked.isErr()) return err({ setting: raw, message: `${name}: ${checked.error.message}` });
    }
    out.push({ id, address, patterns });
  }
  return ok(out);
}

const DURATION = /^(\d+)(ms|s|m|h|d)?$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `<duration>`: a whole number with ms|s|m|h|d (seconds when bare). */
export function parseDurationMs(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[(m[2] ?? 's') as keyof typeof UNIT_MS];
}

/** `EVENTBUS_RETENTION`: rules separated by `;`, each `<pattern> [max_age=<duration>] [max_messages=<n>]`. */
export function parseRetention(text: string): Result<RetentionRule[], string> {
  const rules: RetentionRule[] = [];
  for (const part of text.split(';').map((s) => s.trim()).filter(Boolean)) {
    const [pattern = '', ...options] = part.split(/\s+/);
    const checked = checkPattern(pattern);
    if (checked.isErr()) return err(`rule "${part}": ${checked.error.message}`);
    let maxAgeMs: number | undefined;
    let maxMessages: number | undefined;
    for (const option of options) {
      const [name, value = ''] = option.split('=');
      if (name === 'max_age' && parseDurationMs(value) !== undefined) maxAgeMs = parseDurationMs(value);
      else if (name === 'max_messages' && /^\d+$/.test(value) && Number(value) > 0) maxMessages = Number(value);
      else return err(`rule "${part}": expected max_age=<number>[ms|s|m|h|d] or max_messages=<n>, got "${option}"`);
    }
    if (maxAgeMs === undefined && maxMessages === undefined) return err(`rule "${part}" sets neither max_age nor max_messages`);
    rules.push({ pattern, maxAgeMs, maxMessages });
  }
  return ok(rules);
}

/** A setting as the command line's help shows it. */
export interface SettingHelp {
  readonly env: string;
  /** Without its dashes: `http-port`. */
  readonly flag: string;
  /** The flag's value as the help names it: `<port>`. */
  readonly value: string;
  readonly default: string | undefined;
  readonly description: string;
}

/** Every setting, in the order of the table above. */
export const SETTINGS_HELP: readonly SettingHelp[] = Object.values(SETTINGS).map((s) => ({
  env: s.env,
  flag: flagFor(s.env),
  value: s.value,
  default: 'shown' in s ? s.shown : s.default,
  description: s.description,
}));

/** The setting that has no flag: any number of push consumers, one variable each. */
export const CONSUMER_SETTING_HELP = {
  env: `${CONSUMER_PREFIX}<ID>`,
  description: '<proto>://<host>:<port>[/path] [pattern ...]: registers push consumer <id> at start-up, as REGISTER does',
} as const;

/** Where the operator commands of the command line (PROTOCOL.md §9) find a running broker, unless told. */
export interface RemoteDefaults {
  readonly url: string;
  readonly token: string | undefined;
  /** A PEM file of the CAs that signed the broker's certificate, for an https:// URL. */
  readonly ca: string | undefined;
}

/** The broker's HTTP address with every setting at its default. */
export const DEFAULT_URL = `http://${SETTINGS.host.default}:${SETTINGS.httpPort.default}`;

/** `EVENTBUS_URL` (else the broker's default HTTP address), `EVENTBUS_TOKEN` and `EVENTBUS_CA`; an empty one counts as unset. */
export function remoteDefaults(env: Readonly<Record<string, string | undefined>>): RemoteDefaults {
  const given = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  return { url: given(URL_VARIABLE) ?? DEFAULT_URL, token: given(SETTINGS.token.env), ca: given(CA_VARIABLE) };
}
