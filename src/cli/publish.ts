// `eventbus publish <topic> [payload]`: one message (the payload from stdin when omitted, one trailing newline
// removed), its seq printed, or with --at/--in stored for later and its schedule printed (§11);
// `publish --ndjson`: one POST /api/publish body per line of stdin, published in batches, the seqs printed in
// input order (PROTOCOL.md §9).
import { text } from 'node:stream/consumers';
import { Option, type Command } from 'commander';
import { err, ok, type Result } from 'neverthrow';
import type { z } from 'zod';
import { describeIssues, PublishMessage, type Published, type Scheduled } from '../protocol/http-bodies.js';
import { checkTopic } from '../protocol/topics.js';
import { countArg, durationArg, timeArg } from './args.js';
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
  at?: number;
  in?: number;
}

export function addPublish(program: Command, ctx: CliContext): Command {
  return remoteCommand(program, ctx, 'publish', 'publish a message, or NDJSON publish bodies from stdin (--ndjson)')
    .argument('[topic]', 'the topic (with --ndjson: the topic of lines that give none)')
    .argument('[payload]', 'the payload; read from stdin when omitted (one trailing newline removed)')
    .option('--ndjson', 'read one publish body per line of stdin: {"topic","payload","message_id"?,"metadata"?,"ttl"?,"ordering_key"?}')
    .option('--batch <n>', 'with --ndjson: messages per request', countArg, 500)
    .option('--concurrency <n>', 'with --ndjson: requests in flight at once', countArg, 4)
    .addOption(new Option('--at <t>', 'append it to the log at this time (ms or ISO 8601), not before; prints its schedule').argParser(timeArg).conflicts('in'))
    .addOption(new Option('--in <duration>', 'append it to the log after this long (90s, 10m, 24h, 1d); prints its schedule').argParser(durationArg))
    .addHelpText(
      'after',
      '\nExamples:\n  eventbus publish orders.created \'{"id":7}\'\n  echo hello | eventbus publish chat.room1\n  eventbus publish reminders.send \'{"user":7}\' --in 24h\n  eventbus publish reports.daily go --at 2026-12-01T22:00:00Z\n  eventbus publish --ndjson orders.created < orders.ndjson',
    )
    .action(
      act(ctx, async (topic: string | undefined, payload: string | undefined, options: Options, command: Command) => {
        const remote = remoteOf(command, ctx);
        if (remote.isErr()) return err(remote.error);
        if (options.ndjson === true) {
          if (payload !== undefined) return err(usageError('--ndjson reads the payloads from stdin: give at most a default topic'));
          // Each line says its own time, as deliver_at or delay_ms; one time for them all would hide that.
          if (options.at !== undefined || options.in !== undefined) return err(usageError('--ndjson takes deliver_at or delay_ms on each line, not --at or --in'));
          return publishLines(ctx, remote.value, topic, options);
        }
        if (topic === undefined) return err(usageError("missing required argument 'topic'"));
        const body = payload ?? (await readPayload(ctx));
        const when = options.at === undefined ? (options.in === undefined ? {} : { delay_ms: options.in }) : { deliver_at: options.at };
        const published = await callApi(remote.value, 'POST', '/api/publish', { topic, payload: body, ...when });
        return published.map((answer) => {
          printResult(ctx, remote.value, answer as z.infer<typeof Published> | z.infer<typeof Scheduled>, publishedLine);
          return 0;
        });
      }),
    );
}

/**
 * The payload from stdin, one trailing newline removed. At a terminal the command would otherwise wait without
 * a word for what the user may not know it wants: it says so first, on stderr.
 */
async function readPayload(ctx: CliContext): Promise<string> {
  const stdin = ctx.stdin ?? process.stdin;
  if ((stdin as { isTTY?: boolean }).isTTY === true) ctx.stderr.write('reading the payload from stdin: type it, then Ctrl-D (or give it after the topic)\n');
  return (await text(stdin)).replace(/\r?\n$/, '');
}

/**
 * The seq, or for a message stored for later `scheduled <schedule id> <deliver_at as ISO 8601>`: a time that
 * has passed is published at once, so the answer says which of the two happened.
 */
function publishedLine(p: z.infer<typeof Published> | z.infer<typeof Scheduled>): string[] {
  const line = 'seq' in p ? String(p.seq) : `scheduled ${p.schedule_id} ${new Date(p.deliver_at).toISOString()}`;
  return [p.duplicate ? `${line} duplicate` : line];
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
  const { messages, duplicates } = published.value;
  bar.finish(`published ${messages} messages${duplicates === 0 ? '' : `, ${duplicates} of them repeated message ids already stored (nothing stored for those)`}`);
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
