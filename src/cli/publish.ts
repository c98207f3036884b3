// `eventbus publish <topic> [payload]`: one message (the payload from stdin when omitted, one trailing newline
// removed), its seq printed; `publish --ndjson`: one POST /api/publish body per line of stdin, published in
// batches, the seqs printed in input order (PROTOCOL.md §9).
import { text } from 'node:stream/consumers';
import type { Command } from 'commander';
import { err, ok, type Result } from 'neverthrow';
import type { z } from 'zod';
import { describeIssues, PublishMessage, type Published } from '../protocol/http-bodies.js';
import { checkTopic } from '../protocol/topics.js';
import { countArg } from './args.js';
import { act, type CliContext } from './command.js';
import { failure, usageError, type CliFailure } from './failure.js';
import { ndjsonObjects } from './ndjson.js';
import { progress } from './output.js';
import { publishAll, type Numbered } from './publisher.js';
import { callApi, printResult, remoteCommand, remoteOf, type Remote } from './remote.js';

interface Options {
  ndjson?: boolean;
  batch: number;
  concurrency: number;
}

export function addPublish(program: Command, ctx: CliContext): Command {
  return remoteCommand(program, ctx, 'publish', 'publish a message, or NDJSON publish bodies from stdin (--ndjson)')
    .argument('[topic]', 'the topic (with --ndjson: the topic of lines that give none)')
    .argument('[payload]', 'the payload; read from stdin when omitted (one trailing newline removed)')
    .option('--ndjson', 'read one publish body per line of stdin: {"topic","payload","message_id"?,"metadata"?,"ttl"?,"ordering_key"?}')
    .option('--batch <n>', 'with --ndjson: messages per request', countArg, 500)
    .option('--concurrency <n>', 'with --ndjson: requests in flight at once', countArg, 4)
    .addHelpText('after', '\nExamples:\n  eventbus publish orders.created \'{"id":7}\'\n  echo hello | eventbus publish chat.room1\n  eventbus publish --ndjson orders.created < orders.ndjson')
    .action(
      act(ctx, async (topic: string | undefined, payload: string | undefined, options: Options, command: Command) => {
        const remote = remoteOf(command, ctx);
        if (remote.isErr()) return err(remote.error);
        if (options.ndjson === true) {
          if (payload !== undefined) return err(usageError('--ndjson reads the payloads from stdin: give at most a default topic'));
          return publishLines(ctx, remote.value, topic, options);
        }
        if (topic === undefined) return err(usageError("missing required argument 'topic'"));
        const body = payload ?? (await text(ctx.stdin ?? process.stdin)).replace(/\r?\n$/, '');
        const published = await callApi(remote.value, 'POST', '/api/publish', { topic, payload: body });
        return published.map((answer) => {
          printResult(ctx, remote.value, answer as z.infer<typeof Published>, (p) => [p.duplicate ? `${p.seq} duplicate` : String(p.seq)]);
          return 0;
        });
      }),
    );
}

async function publishLines(ctx: CliContext, remote: Remote, defaultTopic: string | undefined, options: Options): Promise<Result<number, CliFailure>> {
  const bar = progress(ctx, 'publishing', 0);
  const seqs: number[] = [];
  const published = await publishAll(remote, bodies(ctx.stdin ?? process.stdin, defaultTopic), options, (batch) => {
    seqs.push(...batch);
    if (!remote.json) ctx.stdout.write(batch.map((s) => `${s}\n`).join(''));
    bar.update(seqs.length, seqs.length);
  });
  if (published.isErr()) return err(published.error);
  if (remote.json) ctx.stdout.write(`${JSON.stringify({ seqs })}\n`);
  bar.finish(`published ${published.value} messages`);
  return ok(0);
}

/** Each line as a publish body, checked here so that a bad one is named by its line number. */
async function* bodies(input: NodeJS.ReadableStream, defaultTopic: string | undefined): AsyncGenerator<Result<Numbered, CliFailure>> {
  for await (const next of ndjsonObjects(input)) {
    if (next.isErr()) {
      yield err(next.error);
      return;
    }
    const { line, value } = next.value;
    const parsed = PublishMessage.safeParse(value.topic === undefined && defaultTopic !== undefined ? { ...value, topic: defaultTopic } : value);
    if (!parsed.success) {
      yield err(failure('BAD_FORMAT', `line ${line}: ${describeIssues(parsed.error)}`));
      return;
    }
    const topic = checkTopic(parsed.data.topic);
    if (topic.isErr()) {
      yield err(failure(topic.error.code, `line ${line}: ${topic.error.message}`));
      return;
    }
    yield ok({ line, message: parsed.data });
  }
}
