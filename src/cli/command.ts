// What every command module of the bin shares: the context it runs in, how it is declared under the
// program, and how its handler's Result becomes the exit code. A command module exports one
// `add<Name>(program, ctx)` and nothing else the program needs.
import type { Command } from 'commander';
import type { Result, ResultAsync } from 'neverthrow';
import { usageError, type CliFailure } from './failure.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Output {
  write(text: string): unknown;
}

/** The process as a command sees it; tests may hand in their own. */
export interface CliIo {
  readonly env: Env;
  /** What `publish` and `import` read when given no payload or file; the process's stdin when absent. */
  readonly stdin?: NodeJS.ReadableStream;
  readonly stdout: Output;
  readonly stderr: Output & { readonly isTTY?: boolean };
}

export interface CliContext extends CliIo {
  /** The package's version. */
  readonly version: string;
  /** How the command ended: ok(exit code), or a failure that the program prints (once) before exiting 1 or 2. */
  settle(outcome: Result<number, CliFailure>): void;
}

/** A command module's one export: adds its command (and subcommands) to the program. */
export type CommandModule = (program: Command, ctx: CliContext) => unknown;

/** A command's work: what it ends with, as a Result, never a throw (a throw is a bug). */
export type Handler<A extends unknown[]> = (
  ...args: A
) => Result<number, CliFailure> | Promise<Result<number, CliFailure>> | ResultAsync<number, CliFailure>;

/**
 * `eventbus <name>` (or `eventbus <parent> <name>`, as `consumer add`): with `--help` and the program's
 * error handling (inherited from the parent), `--version`, and its line in the parent's help.
 */
export function subcommand(parent: Command, ctx: CliContext, name: string, summary: string, options: { isDefault?: boolean } = {}): Command {
  return parent.command(name, { isDefault: options.isDefault ?? false }).description(summary).version(ctx.version, '-V, --version', 'print the version');
}

/** Commander's action for a handler: the handler's Result settles the run. */
export function act<A extends unknown[]>(ctx: CliContext, handler: Handler<A>): (...args: A) => Promise<void> {
  return async (...args) => ctx.settle(await handler(...args));
}

/** A word where a command belongs that names none: the usage error, with the commands there are. */
export function unknownCommand(program: Command, word: string): CliFailure {
  const names = program.commands.map((c) => c.name()).join(', ');
  return usageError(`unknown command '${word}' (commands: ${names}; eventbus --help)`, 'UNKNOWN_COMMAND');
}
