// Settings (PROTOCOL.md §1) parsed once, from the environment and argv, into one frozen Config; a bad value or
// a name the broker does not know is a ConfigError of one line naming the setting. The environment is handed
// in by the command line (src/cli/serve.ts) or an embedder; the Config is what the rest of the broker gets.
import { parseArgs } from 'node:util';
import { closest } from 'fastest-levenshtein';
import { err, ok, type Result } from 'neverthrow';
import type { Config, StaticConsumer } from '../config.js';
import { brokerError, type BrokerError } from '../errors.js';
import { checkPattern } from '../protocol/topics.js';
import { displayUrl, URL_SCHEME } from './database-url.js';
import { REMOTE_VARIABLES } from './remote.js';
import { CONSUMER_PREFIX, flagFor, SETTINGS, type SettingKey } from './settings.js';
import { parseRetention } from './values.js';

/** A setting the broker cannot start with: BAD_ARGS, and the setting at fault beside the one shape. */
export interface ConfigError extends BrokerError<'BAD_ARGS'> {
  /** The environment variable at fault, e.g. `EVENTBUS_HTTP_PORT`; `argv` for the command line as a whole. */
  readonly setting: string;
}

const KNOWN_NAMES: ReadonlySet<string> = new Set([...Object.values(SETTINGS).map((s) => s.env), ...REMOTE_VARIABLES]);
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
  if (retention.isErr()) return err(settingError(SETTINGS.retention.env, retention.error.message, retention.error));
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

function configError(setting: string, message: string, cause?: unknown): ConfigError {
  return { ...brokerError('BAD_ARGS', message, cause), setting };
}

/** A bad value of a setting of the table: the message names its variable and its flag. */
function settingError(env: string, what: string, cause?: unknown): ConfigError {
  return configError(env, `${env} (--${flagFor(env)}): ${what}`, cause);
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
    return err(configError(raw, `${name}: unknown setting (did you mean ${closest(name, [...KNOWN_NAMES])}?)`));
  }
  for (const arg of argv) {
    if (arg === '--') break;
    if (!arg.startsWith('--')) continue;
    const flag = shownName(arg.slice(2).split('=', 1)[0]!);
    if (KNOWN_FLAGS.has(flag)) continue;
    return err(configError('argv', `--${flag}: unknown option (did you mean --${closest(flag, [...KNOWN_FLAGS])}?)`));
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
    return err(configError('argv', `command line: ${(e as Error).message.split('\n')[0]}`, e));
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
    if (id === '' || !address) return err(configError(raw, `${name}: expected "<proto>://<host>:<port> [pattern ...]"`));
    for (const p of patterns) {
      const checked = checkPattern(p);
      if (checked.isErr()) return err(configError(raw, `${name}: ${checked.error.message}`, checked.error));
    }
    out.push({ id, address, patterns });
  }
  return ok(out);
}
