// `eventbus serve`, also `eventbus` alone: the broker, with every setting of PROTOCOL.md §1 as a flag, its
// signals and its exit codes (docs/operating.md). The settings are parsed by config/parse.ts, as from
// the environment; commander only lists them in the help and gathers the flags.
import { constants } from 'node:os';
import { Help, type Command } from 'commander';
import { err, ok, type Result } from 'neverthrow';
import { CONSUMER_SETTING_HELP, SETTINGS_HELP } from '../config/help.js';
import { parseConfig } from '../config/parse.js';
import type { App } from '../app.js';
import { createLogger, logDestination } from '../logger.js';
import { act, subcommand, unknownCommand, type CliContext } from './command.js';
import { failureOf, usageError, type CliFailure } from './failure.js';
import { tracingWanted } from '../tracing/wanted.js';

// `npm start` passes the terminal's Ctrl-C on to the broker, which also has its own from the terminal: one
// press arrives twice, milliseconds apart. Only a signal this long after the first counts as a second one.
const REPEAT_MS = 500;
// Closing the database after the connections are done takes milliseconds; a disk that does not answer for
// this long more is not waited for.
const CLOSE_MARGIN_MS = 5000;

export function addServe(program: Command, ctx: CliContext): Command {
  const serve = subcommand(program, ctx, 'serve', 'run the broker (the command when none is given)', { isDefault: true })
    // Unknown flags reach parseConfig, which refuses them naming the closest setting; stray words are refused below.
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption('-h, --help', 'print this help: every setting, as a flag or its environment variable');
  // Two lines each: where the setting also comes from and its default, then what it is.
  for (const s of SETTINGS_HELP) serve.option(`--${s.flag} ${s.value}`, `${s.env}, default: ${shownDefault(s.default)}\n${s.description}`);
  // In the help itself, not added to its output: `eventbus --help` and `eventbus help` show it too.
  serve.configureHelp({
    formatHelp: (command, helper) => {
      const consumers = helper.formatItem(CONSUMER_SETTING_HELP.env, helper.padWidth(command, helper), CONSUMER_SETTING_HELP.description, helper);
      const note = 'A flag wins over its variable. A bad value, or a name the broker does not know, stops start-up with one line.';
      return `${Help.prototype.formatHelp.call(helper, command, helper)}\nEnvironment only:\n${consumers}\n\n${helper.boxWrap(note, helper.helpWidth ?? 80)}\n`;
    },
  });
  serve.action(act(ctx, (_options: unknown, command: Command) => runServe(command, program, ctx)));
  return serve;
}

const shownDefault = (value: string | undefined): string => (value === undefined ? 'unset' : value === '' ? 'none' : value);

/** The flags given on the command line, as parseConfig reads them, then whatever commander did not know. */
function settingArgs(serve: Command): string[] {
  const given = SETTINGS_HELP.flatMap((s) => {
    const key = s.flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    return serve.getOptionValueSource(key) === 'cli' ? [`--${s.flag}=${String(serve.getOptionValue(key))}`] : [];
  });
  return [...given, ...serve.args];
}

async function runServe(serve: Command, program: Command, ctx: CliContext): Promise<Result<number, CliFailure>> {
  // Words before any unknown flag are operands: `eventbus publsh` lands here as the default command.
  const [stray] = serve.args;
  if (stray !== undefined && !stray.startsWith('-')) {
    return err(unknownCommand(program, stray));
  }
  const config = parseConfig(ctx.env, settingArgs(serve));
  // A flag the broker does not know is the command line's mistake (exit 2), as with every other command; a bad
  // value of a setting, from a flag or the environment, is a refused setting (exit 1).
  if (config.isErr()) return err(config.error.setting === 'argv' ? usageError(config.error.message) : failureOf(config.error));

  const destination = await logDestination({ isTTY: ctx.stderr.isTTY === true, colors: !('NO_COLOR' in ctx.env) });
  const logger = createLogger(config.value.logLevel, destination);
  // A bug in the store or dispatcher: the log is durable, so a restart loses nothing; limping on could.
  process.on('unhandledRejection', (reason) => {
    logger.error('unhandled rejection; exiting', { error: reason instanceof Error ? reason.stack : String(reason) });
    process.exit(1);
  });

  // Signals are handled from the start: a SIGTERM that arrives while the broker is still starting stops it
  // cleanly once it has started, instead of killing it half-way. A second signal exits at once.
  const { shutdownTimeoutMs } = config.value;
  let firstSignalAt: number | undefined;
  let app: App | undefined;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));
  // The broker's own timers do not hold the process open (so tests can embed it); the process stays up until a signal.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const stop = (): void => {
    if (app === undefined) return; // still starting: stopped as soon as it has started
    clearInterval(keepAlive);
    setTimeout(() => {
      logger.error('could not stop in time; exiting', { timeout_ms: shutdownTimeoutMs + CLOSE_MARGIN_MS });
      process.exit(1);
    }, shutdownTimeoutMs + CLOSE_MARGIN_MS).unref();
    app.stop({ graceMs: shutdownTimeoutMs }).then(
      () => finish(0),
      // Each failure has been logged with its stack as it happened.
      () => finish(1),
    );
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (firstSignalAt === undefined) {
        firstSignalAt = Date.now();
        logger.info('stopping', { signal, timeout_ms: shutdownTimeoutMs });
        stop();
        return;
      }
      if (Date.now() - firstSignalAt < REPEAT_MS) return;
      logger.warn('second signal: exiting now', { signal });
      process.exit(128 + constants.signals[signal]);
    });
  }

  // Loaded here, not with the program: every other command (and --help, --version) starts without the
  // server's modules, in a fraction of the time.
  const { startApp } = await import('../app.js');
  // The OpenTelemetry SDK only when an OTLP endpoint is set (tracing/wanted.ts).
  const tracing = tracingWanted(ctx.env)
    ? (await import('../tracing/otel.js')).otelTracing({ nodeId: config.value.nodeId, version: ctx.version, logger })
    : undefined;
  if (tracing !== undefined) logger.info('tracing: spans exported over OTLP/HTTP', { endpoint: ctx.env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? ctx.env['OTEL_EXPORTER_OTLP_ENDPOINT'] });
  const started = await startApp(config.value, logger, { tracing });
  if (started.isErr()) {
    clearInterval(keepAlive);
    return err(failureOf(started.error));
  }
  app = started.value;
  if (firstSignalAt !== undefined) stop();
  return ok(await finished);
}
