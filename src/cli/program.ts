// The `eventbus` bin (PROTOCOL.md §9): one commander program whose commands are modules of this folder,
// each added by its add<Name>(program, ctx). `eventbus` alone runs `serve`. Failures and usage errors are
// printed in one place (failure.ts), with the exit codes of §9.
import { Command, CommanderError, Help } from 'commander';
import type { Result } from 'neverthrow';
import { packageVersion } from '../package-version.js';
import type { CliContext, CliIo, CommandModule } from './command.js';
import { commanderOutcome, reportFailure, type CliFailure } from './failure.js';
import { addAudit } from './audit.js';
import { addConsumer } from './consumer.js';
import { addCredentials } from './credentials.js';
import { addDeadLetters } from './dead-letters.js';
import { addExport } from './export.js';
import { addConsumers, addStats, addTopics } from './figures.js';
import { addHelp } from './help.js';
import { addImport } from './import.js';
import { addPublish } from './publish.js';
import { addAck, addFetch, addNack } from './pull.js';
import { addReplay } from './replay.js';
import { addSchedule, addSchedules } from './schedules.js';
import { addServe } from './serve.js';
import { addTail } from './tail.js';

/** Every command of the bin, in the order the help lists them. */
export const COMMANDS: readonly CommandModule[] = [
  addServe,
  addPublish,
  addTail,
  addTopics,
  addStats,
  addConsumers,
  addConsumer,
  addFetch,
  addAck,
  addNack,
  addDeadLetters,
  addExport,
  addImport,
  addReplay,
  addSchedules,
  addSchedule,
  addCredentials,
  addAudit,
  addHelp,
];

export function buildProgram(ctx: CliContext, commands: readonly CommandModule[] = COMMANDS): Command {
  const program = new Command('eventbus')
    .description('a durable event-store message broker')
    .version(ctx.version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print this help')
    .helpCommand(false)
    // Set before the commands are added, which inherit them: commander's parse errors come back here as
    // CommanderErrors instead of ending the process, and are printed by failure.ts instead of by commander.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void ctx.stdout.write(text),
      writeErr: (text) => void ctx.stderr.write(text),
      outputError: () => {},
    });
  for (const add of commands) add(program, ctx);
  const serve = program.commands.find((c) => c.name() === 'serve');
  // Configured after the commands are added, so that they do not inherit it.
  program.configureHelp({
    formatHelp: (command, helper) =>
      Help.prototype.formatHelp.call(helper, command, helper) + (serve === undefined ? '' : `\nWith no command, eventbus runs serve:\n\n${serve.helpInformation()}`),
  });
  return program;
}

/** Runs the command line `argv` (without node and the script) and answers the exit code. */
export async function runCli(argv: readonly string[], io: CliIo, commands: readonly CommandModule[] = COMMANDS): Promise<number> {
  let outcome: Result<number, CliFailure> | undefined;
  const ctx: CliContext = { ...io, version: packageVersion(), settle: (o) => (outcome = o) };
  try {
    await buildProgram(ctx, commands).parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    const usage = commanderOutcome(e);
    return usage === undefined ? 0 : reportFailure(io.stderr, usage);
  }
  return outcome === undefined ? 0 : outcome.match((code) => code, (f) => reportFailure(io.stderr, f));
}
