// `eventbus export`: the log's messages as NDJSON on stdout, one §8 message JSON per line, read a page at a
// time over GET /api/messages from --from-seq (1) to --to-seq (the head as it was at start); progress on
// stderr. `eventbus import` reads this back (PROTOCOL.md §9).
import type { Command } from 'commander';
import { err } from 'neverthrow';
import { seqArg } from './args.js';
import { act, type CliContext } from './command.js';
import { headSeq, readSlice } from './log-pages.js';
import { progress } from './output.js';
import { remoteCommand, remoteOf } from './remote.js';

interface Options {
  pattern?: string;
  fromSeq?: number;
  toSeq?: number;
}

export function addExport(program: Command, ctx: CliContext): Command {
  return remoteCommand(program, ctx, 'export', 'write the messages of the log as NDJSON on stdout')
    .option('--pattern <pattern>', 'only the topics of this pattern')
    .option('--from-seq <n>', 'from this seq (default 1)', seqArg)
    .option('--to-seq <n>', 'up to this seq, inclusive (default: the head at start)', seqArg)
    .addHelpText('after', "\nThe output is NDJSON whether or not --json is given.\n\nExamples:\n  eventbus export > log.ndjson\n  eventbus export --pattern 'orders.*' --from-seq 1000 --to-seq 1999 > orders.ndjson")
    .action(
      act(ctx, async (options: Options, command: Command) => {
        const remote = remoteOf(command, ctx);
        if (remote.isErr()) return err(remote.error);
        const head = await headSeq(remote.value);
        if (head.isErr()) return err(head.error);
        const from = options.fromSeq ?? 1;
        const to = Math.min(options.toSeq ?? head.value, head.value);
        const bar = progress(ctx, 'exporting (seqs read)', Math.max(0, to - from + 1));
        let count = 0;
        const read = await readSlice(
          remote.value,
          { fromSeq: from },
          to,
          options.pattern,
          (m) => {
            count += 1;
            ctx.stdout.write(`${JSON.stringify(m)}\n`);
          },
          (next) => bar.update(next - from),
        );
        return read.map(() => {
          bar.finish(`exported ${count} messages (seqs ${from} to ${to})`);
          return 0;
        });
      }),
    );
}
