// How every command of the bin fails (PROTOCOL.md §9): one line `error: <CODE> <message>` on stderr, exit 1,
// or 2 for a usage error (a command, option or argument the program does not take). The one place that
// turns a failure into text and an exit code.
import { CommanderError } from 'commander';
import { brokerError, type BrokerError, type ErrorCode } from '../errors.js';

/** The one error shape (its message one line), with the exit code it ends the command with. */
export interface CliFailure extends BrokerError {
  readonly exitCode: 1 | 2;
}

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const oneLine = (text: string): string => text.replace(/\s*[\r\n]+\s*/g, ' ').trim();

/** The command could not do what it was asked: a broker's refusal, a broker out of reach, a bad setting. */
export function failure(code: ErrorCode, message: string, cause?: unknown): CliFailure {
  return { ...brokerError(code, oneLine(message), cause), exitCode: EXIT_FAILURE };
}

/** What the broker's own code refused with (a setting, start-up) as the command's failure. */
export function failureOf(e: BrokerError): CliFailure {
  return failure(e.code, e.message, e.cause);
}

/** The command line itself is wrong; the command's --help says how it goes. */
export function usageError(message: string, code: ErrorCode = 'BAD_ARGS'): CliFailure {
  return { ...brokerError(code, oneLine(message)), exitCode: EXIT_USAGE };
}

export function formatFailure(f: CliFailure): string {
  return `error: ${f.code} ${f.message}`;
}

/** Writes the failure's line and answers the exit code. */
export function reportFailure(stderr: { write(text: string): unknown }, f: CliFailure): number {
  stderr.write(`${formatFailure(f)}\n`);
  return f.exitCode;
}

/**
 * What commander's parse ended with: a usage error, or undefined when it only printed help or the version
 * (exit 0). Commander's own messages start with "error: " and may put a suggestion on a second line.
 */
export function commanderOutcome(e: CommanderError): CliFailure | undefined {
  if (e.exitCode === 0) return undefined;
  // Help printed on stderr because a command needs a subcommand: the help says which.
  if (e.code === 'commander.help') return usageError('a command is needed here (its list is above)');
  const message = e.message.replace(/^error: /, '');
  return usageError(message, e.code === 'commander.unknownCommand' ? 'UNKNOWN_COMMAND' : 'BAD_ARGS');
}
