#!/usr/bin/env -S node --single-threaded-gc --max-semi-space-size=4
// Process entry: settings, start-up, signals, exit codes. Nothing else lives here.
import { constants } from 'node:os';
import { parseConfig, settingsHelp } from './config.js';
import { startApp, type App } from './app.js';
import { createLogger } from './logger.js';

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(`eventbus: a durable event-store message broker\n\nSettings (flag or environment variable):\n${settingsHelp()}\n`);
  process.exit(0);
}

const config = parseConfig(process.env, argv);
if (config.isErr()) {
  process.stderr.write(`eventbus: ${config.error.message}\n`);
  process.exit(1);
}

const logger = createLogger(config.value.logLevel);
// A bug in the store or dispatcher: the log is durable, so a restart loses nothing; limping on could.
process.on('unhandledRejection', (reason) => {
  logger.error('unhandled rejection; exiting', { error: reason instanceof Error ? reason.stack : String(reason) });
  process.exit(1);
});

// Signals are handled from the start: a SIGTERM that arrives while the broker is still starting stops it
// cleanly once it has started, instead of killing it half-way. A second signal exits at once.
const { shutdownTimeoutMs } = config.value;
// `npm start` passes the terminal's Ctrl-C on to the broker, which also has its own from the terminal: one
// press arrives twice, milliseconds apart. Only a signal this long after the first counts as a second one.
const REPEAT_MS = 500;
// Closing the database after the connections are done takes milliseconds; a disk that does not answer for
// this long more is not waited for.
const CLOSE_MARGIN_MS = 5000;
let firstSignalAt: number | undefined;
/** Set once the broker has started. */
const running: { app?: App } = {};
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

const started = await startApp(config.value, logger);
if (started.isErr()) {
  process.stderr.write(`eventbus: ${started.error.message}\n`);
  process.exit(1);
}
running.app = started.value;
// The broker's own timers do not hold the process open (so tests can embed it); the process stays up until a signal.
const keepAlive = setInterval(() => {}, 1 << 30);
if (firstSignalAt !== undefined) stop();

function stop(): void {
  const { app } = running;
  if (app === undefined) return; // still starting: stopped as soon as it has started
  clearInterval(keepAlive);
  setTimeout(() => {
    logger.error('could not stop in time; exiting', { timeout_ms: shutdownTimeoutMs + CLOSE_MARGIN_MS });
    process.exit(1);
  }, shutdownTimeoutMs + CLOSE_MARGIN_MS).unref();
  app.stop({ graceMs: shutdownTimeoutMs }).then(
    () => process.exit(0),
    // Each failure has been logged with its stack as it happened.
    () => process.exit(1),
  );
}
