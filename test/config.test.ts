// Settings (PROTOCOL.md §1): defaults, environment variables and flags, and one clear error naming the
// setting for every bad value, both from parseConfig and from the broker process itself.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import type { Config } from '../src/config.js';
import { CONSUMER_SETTING_HELP, SETTINGS_HELP } from '../src/config/help.js';
import { parseConfig } from '../src/config/parse.js';
import { remoteDefaults } from '../src/config/remote.js';
import { flagFor } from '../src/config/settings.js';
import { BIN } from './helpers/dist.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const parsed = (env: Record<string, string>, argv: string[] = []): Config => parseConfig(env, argv)._unsafeUnwrap();
const failure = (env: Record<string, string>, argv: string[] = []) => parseConfig(env, argv)._unsafeUnwrapErr();

describe('parseConfig', () => {
  test('with nothing set, every setting has its PROTOCOL §1 default', () => {
    expect(parsed({})).toMatchObject({
      dbPath: 'data/eventbus.db',
      host: '127.0.0.1',
      transportPort: 49152,
      registrationPort: 49153,
      httpPort: 3000,
      sync: 'full',
      defaultTtlSeconds: 0,
      ackTimeoutMs: 30000,
      maxDeliveries: 10,
      maxInFlight: 256,
      maxPayloadBytes: 1048576,
      maxConnections: 10000,
      logLevel: 'info',
      token: undefined,
      allowedTargets: undefined,
      consumers: [],
      retention: [],
      failureLogMaxAgeMs: 7 * 86_400_000,
      shutdownTimeoutMs: 10_000,
      pgSchema: 'eventbus',
      consumerPartitions: 16,
    });
    expect(parsed({}).nodeId).toBe(`${hostname()}:${process.pid}`);
    expect(Object.isFrozen(parsed({}))).toBe(true);
  });

  test('every setting is read from its environment variable', () => {
    const config = parsed({
      EVENTBUS_DB: '/var/lib/bus.db',
      EVENTBUS_HOST: '0.0.0.0',
      EVENTBUS_TRANSPORT_PORT: '1',
      EVENTBUS_REGISTRATION_PORT: '0',
      EVENTBUS_HTTP_PORT: '65535',
      EVENTBUS_SYNC: 'normal',
      EVENTBUS_DEFAULT_TTL: '60',
      EVENTBUS_ACK_TIMEOUT_MS: '500',
      EVENTBUS_MAX_DELIVERIES: '3',
      EVENTBUS_MAX_IN_FLIGHT: '8',
      EVENTBUS_MAX_PAYLOAD: '1024',
      EVENTBUS_TOKEN: 's3cret',
      EVENTBUS_ALLOWED_TARGETS: 'localhost:*, 10.0.0.1:9000',
      EVENTBUS_MAX_CONNECTIONS: '5',
      EVENTBUS_LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({
      dbPath: '/var/lib/bus.db',
      host: '0.0.0.0',
      transportPort: 1,
      registrationPort: 0,
      httpPort: 65535,
      sync: 'normal',
      defaultTtlSeconds: 60,
      ackTimeoutMs: 500,
      maxDeliveries: 3,
      maxInFlight: 8,
      maxPayloadBytes: 1024,
      token: 's3cret',
      allowedTargets: ['localhost:*', '10.0.0.1:9000'],
      maxConnections: 5,
      logLevel: 'debug',
    });
  });

  test('flags work as "--flag value" and "--flag=value", and override the environment', () => {
    const env = { EVENTBUS_HTTP_PORT: '4000', EVENTBUS_SYNC: 'normal', EVENTBUS_DB: 'env.db' };
    expect(parsed(env)).toMatchObject({ httpPort: 4000, sync: 'normal', dbPath: 'env.db' });
    expect(parsed(env, ['--http-port', '5000', '--sync=full', '--db', 'flag.db'])).toMatchObject({
      httpPort: 5000,
      sync: 'full',
      dbPath: 'flag.db',
    });
    expect(parsed({}, ['--max-in-flight=9', '--log-level', 'warn', '--token=t'])).toMatchObject({
      maxInFlight: 9,
      logLevel: 'warn',
      token: 't',
    });
  });

  test.each([
    ['not a number', { EVENTBUS_HTTP_PORT: 'abc' }, [], 'EVENTBUS_HTTP_PORT'],
    ['port out of range', { EVENTBUS_TRANSPORT_PORT: '70000' }, [], 'EVENTBUS_TRANSPORT_PORT'],
    ['negative port', { EVENTBUS_REGISTRATION_PORT: '-1' }, [], 'EVENTBUS_REGISTRATION_PORT'],
    ['fractional port', { EVENTBUS_HTTP_PORT: '80.5' }, [], 'EVENTBUS_HTTP_PORT'],
    ['negative TTL', { EVENTBUS_DEFAULT_TTL: '-1' }, [], 'EVENTBUS_DEFAULT_TTL'],
    ['zero ack timeout', { EVENTBUS_ACK_TIMEOUT_MS: '0' }, [], 'EVENTBUS_ACK_TIMEOUT_MS'],
    ['non-number max deliveries', { EVENTBUS_MAX_DELIVERIES: 'ten' }, [], 'EVENTBUS_MAX_DELIVERIES'],
    ['negative in-flight', { EVENTBUS_MAX_IN_FLIGHT: '-5' }, [], 'EVENTBUS_MAX_IN_FLIGHT'],
    ['non-number payload limit', { EVENTBUS_MAX_PAYLOAD: '1MB' }, [], 'EVENTBUS_MAX_PAYLOAD'],
    ['zero connections', { EVENTBUS_MAX_CONNECTIONS: '0' }, [], 'EVENTBUS_MAX_CONNECTIONS'],
    ['unknown sync mode', { EVENTBUS_SYNC: 'fast' }, [], 'EVENTBUS_SYNC'],
    ['unknown log level', { EVENTBUS_LOG_LEVEL: 'trace' }, [], 'EVENTBUS_LOG_LEVEL'],
    ['empty db path', { EVENTBUS_DB: '' }, [], 'EVENTBUS_DB'],
    ['bad flag value', {}, ['--http-port', 'abc'], 'EVENTBUS_HTTP_PORT'],
    ['bad flag value, = form', {}, ['--default-ttl=-1'], 'EVENTBUS_DEFAULT_TTL'],
    ['bad flag value over a good env value', { EVENTBUS_SYNC: 'full' }, ['--sync', 'fast'], 'EVENTBUS_SYNC'],
    ['failure log age without a number', { EVENTBUS_FAILURE_LOG_MAX_AGE: 'week' }, [], 'EVENTBUS_FAILURE_LOG_MAX_AGE'],
    ['failure log age in an unknown unit', {}, ['--failure-log-max-age=2w'], 'EVENTBUS_FAILURE_LOG_MAX_AGE'],
    ['a postgres: URL without //', {}, ['--db', 'postgres:/oops'], 'EVENTBUS_DB'],
    ['a postgresql: URL without //', { EVENTBUS_DB: 'postgresql:eventbus' }, [], 'EVENTBUS_DB'],
    ['a URL of another database', {}, ['--db', 'mysql://root@host/x'], 'EVENTBUS_DB'],
    ['a URL of another scheme', { EVENTBUS_DB: 'sqlite:bus.db' }, [], 'EVENTBUS_DB'],
    ['a cipher list that matches nothing', { EVENTBUS_TLS_CIPHERS: 'NOPE' }, [], 'EVENTBUS_TLS_CIPHERS'],
    ['a misspelt suite in a cipher list', {}, ['--tls-ciphers', 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA265'], 'ECDHE-RSA-AES128-GCM-SHA265 names no cipher suite'],
    ['a cipher list that only removes', { EVENTBUS_TLS_CIPHERS: '!aNULL' }, [], 'EVENTBUS_TLS_CIPHERS'],
    ['unknown flag', {}, ['--nope', '1'], '--nope'],
    ['flag without its value', {}, ['--http-port'], '--http-port'],
  ] as const)('%s is refused with one line naming the setting', (_, env, argv, named) => {
    const e = failure(env, [...argv]);
    expect(e.message).toContain(named);
    expect(e.message).not.toContain('\n');
    expect(e.code).toBe('BAD_ARGS');
    if (named.startsWith('EVENTBUS_')) expect(e.setting).toBe(named);
  });

  test('an empty port is refused or means the default, never an ephemeral port 0', () => {
    for (const value of ['', '  ']) {
      const r = parseConfig({ EVENTBUS_HTTP_PORT: value });
      if (r.isOk()) expect(r.value.httpPort, `EVENTBUS_HTTP_PORT=${JSON.stringify(value)}`).toBe(3000);
      else expect(r.error.message).toContain('EVENTBUS_HTTP_PORT');
    }
  });

  test('EVENTBUS_CONSUMER_<ID> declares push consumers with their address and patterns', () => {
    const config = parsed({
      EVENTBUS_CONSUMER_ORDERS: 'tcp://127.0.0.1:9000 orders.* chat.#',
      EVENTBUS_CONSUMER_AUDIT_LOG: '  http://audit.local:8080/hook  ',
      EVENTBUS_HTTP_PORT: '3000',
    });
    expect([...config.consumers].sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: 'audit_log', address: 'http://audit.local:8080/hook', patterns: [] },
      { id: 'orders', address: 'tcp://127.0.0.1:9000', patterns: ['orders.*', 'chat.#'] },
    ]);
  });

  test('EVENTBUS_CONSUMER_PARTITIONS is its setting, not a push consumer named "partitions"', () => {
    const config = parsed({ EVENTBUS_CONSUMER_PARTITIONS: '32', EVENTBUS_CONSUMER_ORDERS: 'tcp://127.0.0.1:9000' });
    expect(config.consumerPartitions).toBe(32);
    expect(config.consumers).toEqual([{ id: 'orders', address: 'tcp://127.0.0.1:9000', patterns: [] }]);
  });

  test.each([
    ['an empty value', { EVENTBUS_CONSUMER_X: '' }, 'EVENTBUS_CONSUMER_X'],
    ['a bad pattern', { EVENTBUS_CONSUMER_X: 'tcp://127.0.0.1:1 bad..pattern' }, 'EVENTBUS_CONSUMER_X'],
    ['a misplaced #', { EVENTBUS_CONSUMER_Y: 'ws://h:1 a.#.b' }, 'EVENTBUS_CONSUMER_Y'],
    ['no id', { EVENTBUS_CONSUMER_: 'tcp://127.0.0.1:1' }, 'EVENTBUS_CONSUMER_'],
  ] as const)('EVENTBUS_CONSUMER_<ID> with %s is refused, naming the variable', (_, env, named) => {
    const e = failure(env);
    expect(e.setting).toBe(named);
    expect(e.message).toContain(named);
  });

  test('EVENTBUS_RETENTION rules: pattern, max_age with units, max_messages, separated by ;', () => {
    expect(parsed({ EVENTBUS_RETENTION: 'orders.# max_age=7d; chat.* max_messages=1000 max_age=90 ;logs max_age=1500ms' }).retention).toEqual([
      { pattern: 'orders.#', maxAgeMs: 7 * 86_400_000, maxMessages: undefined },
      { pattern: 'chat.*', maxAgeMs: 90_000, maxMessages: 1000 },
      { pattern: 'logs', maxAgeMs: 1500, maxMessages: undefined },
    ]);
    expect(parsed({}, ['--retention', 'a.b max_age=2h']).retention).toEqual([{ pattern: 'a.b', maxAgeMs: 7_200_000, maxMessages: undefined }]);
    expect(parsed({ EVENTBUS_RETENTION: ' ; ' }).retention).toEqual([]);
  });

  test('EVENTBUS_FAILURE_LOG_MAX_AGE takes a duration; 0 keeps every push failure', () => {
    expect(parsed({ EVENTBUS_FAILURE_LOG_MAX_AGE: '36h' }).failureLogMaxAgeMs).toBe(36 * 3_600_000);
    expect(parsed({ EVENTBUS_FAILURE_LOG_MAX_AGE: '90' }).failureLogMaxAgeMs).toBe(90_000);
    expect(parsed({}, ['--failure-log-max-age', '0']).failureLogMaxAgeMs).toBe(0);
  });

  test.each([
    'orders.#',
    'orders.# max_age=abc',
    'orders.# max_age=5w',
    'orders.# max_messages=0',
    'orders.# max_messages=-3',
    'orders.# keep=all',
    'a..b max_age=1s',
    'ok max_age=1s; bad..rule max_age=1s',
  ])('EVENTBUS_RETENTION=%j is refused, naming the variable', (value) => {
    const e = failure({ EVENTBUS_RETENTION: value });
    expect(e.setting).toBe('EVENTBUS_RETENTION');
    expect(e.message).toContain('EVENTBUS_RETENTION');
  });
});

describe('names the broker does not know', () => {
  test.each([
    ['EVENTBUS_TOKN', 'EVENTBUS_TOKEN'],
    ['EVENTBUS_HTTP_PROT', 'EVENTBUS_HTTP_PORT'],
    ['EVENTBUS_MAX_DELIVERY', 'EVENTBUS_MAX_DELIVERIES'],
    ['EVENTBUS_ACK_TIMEOUT', 'EVENTBUS_ACK_TIMEOUT_MS'],
    ['EVENTBUS_SHUTDOWN_TIMEOUT', 'EVENTBUS_SHUTDOWN_TIMEOUT_MS'],
  ])('an unknown variable %s stops start-up, naming it and the closest setting (%s)', (name, closest) => {
    const e = failure({ [name]: 'x' });
    expect(e.setting).toBe(name);
    expect(e.code).toBe('BAD_ARGS');
    expect(e.message).toBe(`${name}: unknown setting (did you mean ${closest}?)`);
  });

  test.each([
    [['--tokn', 's'], '--tokn: unknown option (did you mean --token?)'],
    [['--http-prot=1'], '--http-prot: unknown option (did you mean --http-port?)'],
    [['--db', 'x.db', '--sink', 'full'], '--sink: unknown option (did you mean --sync?)'],
  ])('an unknown flag %j stops start-up, naming it and the closest flag', (argv, message) => {
    expect(failure({}, argv).message).toBe(message);
  });

  test('push consumers, the command line\'s EVENTBUS_URL, other programs\' variables and unset names are accepted', () => {
    const config = parsed({
      EVENTBUS_CONSUMER_AUDIT: 'tcp://127.0.0.1:9000 audit.#',
      EVENTBUS_URL: 'http://127.0.0.1:3000',
      EVENTBUS_CA: 'ca.pem',
      EVENTBUSX: '1',
      NODE_ENV: 'production',
    });
    expect(config.consumers).toEqual([{ id: 'audit', address: 'tcp://127.0.0.1:9000', patterns: ['audit.#'] }]);
    expect(parseConfig({ EVENTBUS_TOKN: undefined }).isOk()).toBe(true);
  });

  test.each([
    ['EVENTBUS_TLS_CERT', 'EVENTBUS_TLS_KEY'],
    ['EVENTBUS_TLS_KEY', 'EVENTBUS_TLS_CERT'],
  ])('%s without %s is refused, naming the one missing, rather than serving plain text', (given, missing) => {
    const e = failure({ [given]: '/etc/ssl/broker.pem' });
    expect(e.setting).toBe(missing);
    expect(e.message).toBe(`${missing} (--${flagFor(missing)}): not set, while ${given} is: TLS needs both the certificate and its key`);
    expect(failure({}, [`--${flagFor(given)}`, 'x.pem']).setting).toBe(missing);
  });

  test('the TLS files and the push CA are taken as paths, read at start-up', () => {
    const config = parsed({ EVENTBUS_TLS_CERT: 'broker.crt', EVENTBUS_TLS_KEY: 'broker.key', EVENTBUS_PUSH_CA: 'ca.pem' });
    expect([config.tlsCert, config.tlsKey, config.pushCa]).toEqual(['broker.crt', 'broker.key', 'ca.pem']);
    expect([parsed({}).tlsCert, parsed({}).pushCa]).toEqual([undefined, undefined]);
  });

  test('TLS 1.2 offers ECDHE with AEAD only unless EVENTBUS_TLS_CIPHERS says otherwise; a path that is no URL is a file', () => {
    expect(parsed({}).tlsCiphers.split(':').sort()).toEqual([
      'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305',
      'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305',
    ]);
    expect(parsed({}, ['--tls-ciphers', 'ECDHE+AESGCM:ECDHE-RSA-AES128-SHA:!aNULL']).tlsCiphers).toBe('ECDHE+AESGCM:ECDHE-RSA-AES128-SHA:!aNULL');
    for (const file of ['./mysql:x.db', 'data/a:b.db', '/srv/bus.db', 'c.db']) expect(parsed({ EVENTBUS_DB: file }).dbPath).toBe(file);
  });

  test('a URL in EVENTBUS_DB is refused without repeating its password', () => {
    const e = failure({ EVENTBUS_DB: 'mysql://root:hunter2@db.example/app' });
    expect(e.message).toContain('mysql:');
    expect(e.message).not.toContain('hunter2');
  });

  test('a PostgreSQL URL in EVENTBUS_DB is taken as one, with its schema', () => {
    const config = parseConfig({ EVENTBUS_DB: 'postgres://eventbus:secret@127.0.0.1:5432/eventbus', EVENTBUS_PG_SCHEMA: 'bus_2' })._unsafeUnwrap();
    expect([config.dbPath, config.pgSchema]).toEqual(['postgres://eventbus:secret@127.0.0.1:5432/eventbus', 'bus_2']);
  });

  test.each([
    ['no database', 'postgres://eventbus@127.0.0.1:5432', 'names no database'],
    ['no database but a slash', 'postgresql://eventbus@127.0.0.1/', 'names no database'],
    ['no host', 'postgres:///eventbus', 'names no host'],
  ])('a PostgreSQL URL with %s is refused, not taken for a file name', (_, url, message) => {
    const e = failure({ EVENTBUS_DB: url });
    expect(e.setting).toBe('EVENTBUS_DB');
    expect(e.message).toContain(message);
  });
});

describe('the settings as the help and the docs show them', () => {
  test('each has its flag, a value name and one line of description; the defaults shown are those taken', () => {
    const defaults = parsed({});
    for (const s of SETTINGS_HELP) {
      expect(s.flag).toBe(flagFor(s.env));
      expect(s.value).toMatch(/^<[^>\s]+>$/);
      expect(s.description).toMatch(/^[^\n]{10,100}$/);
      if (s.default === undefined || s.env === 'EVENTBUS_NODE_ID') continue;
      // The shown default, given explicitly, parses to the same Config as nothing at all.
      expect(parsed({ [s.env]: s.default }), s.env).toEqual(defaults);
    }
    expect(SETTINGS_HELP.find((s) => s.env === 'EVENTBUS_NODE_ID')?.default).toBe('<hostname>:<pid>');
  });

  test('docs/settings.md has a row for every setting, EVENTBUS_CONSUMER_<ID> and nothing else', async () => {
    const doc = await readFile(join(ROOT, 'docs', 'settings.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `(EVENTBUS_\w+(?:<ID>)?)` \|/gm)].map((m) => m[1]);
    expect(rows.sort()).toEqual([...SETTINGS_HELP.map((s) => s.env), CONSUMER_SETTING_HELP.env].sort());
  });

  test('the operator commands find the broker at EVENTBUS_URL with EVENTBUS_TOKEN, else at the default address', () => {
    expect(remoteDefaults({})).toEqual({ url: 'http://127.0.0.1:3000', token: undefined, ca: undefined });
    expect(remoteDefaults({ EVENTBUS_URL: '', EVENTBUS_TOKEN: '', EVENTBUS_CA: '' })).toEqual({ url: 'http://127.0.0.1:3000', token: undefined, ca: undefined });
    expect(remoteDefaults({ EVENTBUS_URL: 'https://bus.example:8443', EVENTBUS_TOKEN: 't', EVENTBUS_CA: 'ca.pem' })).toEqual({ url: 'https://bus.example:8443', token: 't', ca: 'ca.pem' });
  });
});

describe('the broker process', () => {
  test.each([
    ['--http-port abc', ['--http-port', 'abc'], {}, 'EVENTBUS_HTTP_PORT'],
    ['EVENTBUS_SYNC=fast', [], { EVENTBUS_SYNC: 'fast' }, 'EVENTBUS_SYNC'],
    ['--retention=x', ['--retention=x'], {}, 'EVENTBUS_RETENTION'],
    ['EVENTBUS_TOKN=secret', [], { EVENTBUS_TOKN: 'secret' }, 'EVENTBUS_TOKN: unknown setting (did you mean EVENTBUS_TOKEN?)'],
    // A flag serve does not know is a usage error, as with every command (PROTOCOL.md §9): exit 2.
    ['--tokn secret', ['--tokn', 'secret'], {}, '--tokn: unknown option (did you mean --token?)', 2],
    ['--tls-ciphers NOPE', ['--tls-ciphers', 'NOPE'], {}, 'EVENTBUS_TLS_CIPHERS'],
  ])('a bad setting (%s) exits 1 (2 for an unknown flag) with one stderr line naming it, no stack trace', async (_, argv, extraEnv, named, exit = 1) => {
    const dir = await mkdtemp(join(tmpdir(), 'eventbus-config-'));
    try {
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EVENTBUS_')));
      // A database in the temp dir, so a broker that wrongly starts never touches the repository's data/.
      const child = spawn(process.execPath, [BIN, ...argv], {
        cwd: ROOT,
        env: { ...env, EVENTBUS_DB: join(dir, 'bus.db'), ...extraEnv },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await new Promise<number | null>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', resolve);
      });
      clearTimeout(timer);
      const lines = stderr.split('\n').filter((l) => l !== '');
      expect({ code, lines: lines.length }, stderr).toEqual({ code: exit, lines: 1 });
      expect(lines[0]).toContain(named);
      expect(stderr).not.toContain('    at ');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
