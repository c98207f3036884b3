#!/usr/bin/env -S node --single-threaded-gc --max-semi-space-size=4
// Process entry: settings, start-up, signals, exit codes. Nothing else lives here.
import { parseConfig, settingsHelp } from './config.js';
import { startApp } from './app.js';
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
// cleanly once it has started, instead of killing it half-way.
let stopRequested: string | undefined;
let stop: (() => void) | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopRequested !== undefined) return;
    stopRequested = signal;
    logger.info('stopping', { signal });
    stop?.();
  });
}

const started = await startApp(config.value, logger);
if (started.isErr()) {
  process.stderr.write(`eventbus: ${started.error.message}\n`);
  process.exit(1);
}
const app = started.value;
// The broker's own timers do not hold the process open (so tests can embed it); the process stays up until a signal.
const keepAlive = setInterval(() => {}, 1 << 30);
stop = () => {
  clearInterval(keepAlive);
  void app.stop().then(() => process.exit(0));
};
if (stopRequested !== undefined) stop();
