// `eventbus import [file]`: NDJSON messages as `export` writes them (from stdin without a file) published again
// over POST /api/publish in batches. Each keeps its message_id, and one exported without an id gets
// `import:<its original seq>`, so importing the same export twice stores it once (PROTOCOL.md §9).
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Command } from 'commander';
import { err, ok, type Result } from 'neverthrow';
import { describeIssues, Message } from '../protocol/http-bodies.js';
import { countArg } from './args.js';
import { act, type CliContext } from './command.js';
import { failure, type CliFailure } from './failure.js';
import { ndjsonObjects } from './ndjson.js';
import { progress } from './output.js';
import { publishAll, type Numbered } from './publisher.js';
import { remoteCommand, remoteOf } from './remote.js';

interface Options {
  batch: number;
  concurrency: number;
}

export function addImport(program: Command, ctx: CliContext): Command {
  return remoteCommand(program, ctx, 'import', 'publish NDJSON messages as export writes them (stdin without a file)')
    .argument('[file]', 'the NDJSON file')
    .option('--batch <n>', 'messages per request', countArg, 500)
    // One request at a time keeps the log's order: batches in flight together may be stored in any order.
    .option('--concurrency <n>', 'requests in flight at once (more than 1: faster, order between batches not kept)', countArg, 1)
    .addHelpText('after', '\nExamples:\n  eventbus import log.ndjson --url http://other-broker:3000\n  eventbus export --url http://a:3000 | eventbus import --url http://b:3000')
    .action(
      act(ctx, async (file: string | undefined, options: Options, command: Command) => {
        const remote = remoteOf(command, ctx);
        if (remote.isErr()) return err(remote.error);
        if (file !== undefined) {
          const readable = await access(file).then(() => true, () => false);
          if (!readable) return err(failure('BAD_ARGS', `cannot read ${file}`));
        }
        const input = file === undefined ? (ctx.stdin ?? process.stdin) : createReadStream(file);
        const bar = progress(ctx, 'importing', 0);
        let count = 0;
        const published = await publishAll(remote.value, exported(input), options, (seqs) => {
          count += seqs.length;
          bar.update(count, count);
        });
        return published.map(({ messages, duplicates }) => {
          const stored = messages - duplicates;
          if (remote.value.json) ctx.stdout.write(`${JSON.stringify({ imported: messages, stored, duplicates })}\n`);
          // What the user wants to know of a second import of the same file: that nothing new came of it.
          bar.finish(`imported ${messages} messages: ${stored} new, ${duplicates} already stored (not stored again)`);
          return 0;
        });
      }),
    );
}

/** Each exported message as a publish body: the same topic, payload, metadata and ordering key. */
async function* exported(input: NodeJS.ReadableStream): AsyncGenerator<Result<Numbered, CliFailure>> {
  const Exported = Message.partial({ message_id: true, metadata: true, ordering_key: true, created_at: true, status: true });
  for await (const next of ndjsonObjects(input)) {
    if (next.isErr()) {
      yield err(next.error);
      return;
    }
    const parsed = Exported.safeParse(next.value.value);
    if (!parsed.success) {
      yield err(failure('BAD_FORMAT', `line ${next.value.line}: ${describeIssues(parsed.error)}`));
      return;
    }
    const m = parsed.data;
    yield ok({
      line: next.value.line,
      message: {
        topic: m.topic,
        payload: m.payload,
        message_id: m.message_id ?? `import:${m.seq}`,
        ...(m.metadata === undefined ? {} : { metadata: m.metadata }),
        ...(m.ordering_key == null ? {} : { ordering_key: m.ordering_key }),
      },
    });
  }
}
