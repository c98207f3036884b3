// `eventbus help [command]`: the program's help, or a command's; a command that does not exist is the same
// usage error as anywhere else. Replaces commander's own help command, which answers that with the
// program's help on stderr.
import type { Command } from 'commander';
import { err, ok } from 'neverthrow';
import { act, subcommand, unknownCommand, type CliContext } from './command.js';

export function addHelp(program: Command, ctx: CliContext): Command {
  return subcommand(program, ctx, 'help', 'print the help of the program, or of a command')
    .argument('[command]', 'the command')
    .action(
      act(ctx, (name: string | undefined) => {
        const command = name === undefined ? program : program.commands.find((c) => c.name() === name);
        if (command === undefined) return err(unknownCommand(program, name!));
        ctx.stdout.write(command.helpInformation());
        return ok(0);
      }),
    );
}
