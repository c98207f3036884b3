// The table of settings (PROTOCOL.md §1, docs/settings.md): each one's environment variable (its flag is derived
// from it), default, schema, and what the help says of it. parse.ts reads the table, help.ts shows it.
import { hostname } from 'node:os';
import { z } from 'zod';
import { LOG_LEVELS } from '../config.js';
import { dbProblem } from './database-url.js';
import { cipherListProblem, parseDurationMs } from './values.js';

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
export const SETTINGS = {
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
  maxDelayMs: {
    env: 'EVENTBUS_MAX_DELAY',
    default: '366d',
    schema: duration,
    value: '<duration>',
    description: 'the furthest ahead a delayed publish may be scheduled: <n>[ms|s|m|h|d], seconds when bare',
  },
  retentionIntervalMs: { env: 'EVENTBUS_RETENTION_INTERVAL_MS', default: '1000', schema: positive, value: '<ms>', description: 'how often retention runs' },
  failureLogMaxAgeMs: {
    env: 'EVENTBUS_FAILURE_LOG_MAX_AGE',
    default: '7d',
    schema: duration,
    value: '<duration>',
    description: 'how long failed push attempts are kept: <n>[ms|s|m|h|d], seconds when bare; 0: all',
  },
  auditMaxAgeMs: {
    env: 'EVENTBUS_AUDIT_MAX_AGE',
    default: '90d',
    schema: duration,
    value: '<duration>',
    description: 'how long audit_log entries are kept: <n>[ms|s|m|h|d], seconds when bare; 0: all',
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

export type SettingKey = keyof typeof SETTINGS;

/** `EVENTBUS_HTTP_PORT` ⇔ `--http-port`. */
export const flagFor = (env: string): string => env.replace(/^EVENTBUS_/, '').toLowerCase().replace(/_/g, '-');

/** The setting that has no flag and no row in the table: `EVENTBUS_CONSUMER_<ID>`, one variable per push consumer. */
export const CONSUMER_PREFIX = 'EVENTBUS_CONSUMER_';
