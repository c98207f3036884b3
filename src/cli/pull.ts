// `eventbus fetch <consumer>`, `eventbus ack <consumer> <seq>...` and `eventbus nack <consumer> <seq>...`: a
// durable consumer pulled over POST /api/consumers/<id>/fetch, ack and nack (PROTOCOL.md §8, §9). Fetched
// messages print as `tail` prints them (NDJSON with `delivery` and `ack_deadline` under --json), acked at once
// with --ack; an ack or nack goes to the broker that answered the fetch, which holds the deliveries.
import type { Command } from 'commander';
import { okAsync } from 'neverthrow';
import type { z } from 'zod';
import type { Acked, Fetched, Nacked } from '../protocol/http-bodies.js';
import { countArg, seqArg, waitArg } from './args.js';
import { act, type CliContext } from './command.js';
import { callApi, printResult, remoteCommand, remoteOf } from './remote.js';

const path = (consumer: string, action: string): string => `/api/consumers/${encodeURIComponent(consumer)}/${action}`;

export function addFetch(program: Command, ctx: CliContext): Command {
  return remoteCommand(program, ctx, 'fetch', "pull a consumer's messages (as one of its members), printed as tail prints them")
    .argument('<consumer>', 'the consumer')
    .option('--max <n>', 'at most this many (1 to 1000; default 10)', countArg)
    .option('--wait <ms>', 'with none ready, wait up to this long for some (whole ms, or 10s; at most 30s; default 0)', waitArg)
    .option('--ack', 'ack them once printed')
    .addHelpText(
      'after',
      "\nUnacked, each comes back after the consumer's ack timeout; ack or nack them through the same broker.\n\nExamples:\n  eventbus fetch billing --max 100 --wait 10s\n  eventbus fetch billing --ack --json",
    )
    .action(
      act(ctx, (consumer: string, options: { max?: number; wait?: number; ack?: boolean }, command: Command) =>
        remoteOf(command, ctx).asyncAndThen((remote) =>
          callApi(remote, 'POST', path(consumer, 'fetch'), { max: options.max, wait_ms: options.wait }).andThen((answer) => {
            const { messages } = answer as z.infer<typeof Fetched>;
            for (const m of messages) ctx.stdout.write(remote.json ? `${JSON.stringify(m)}\n` : `${m.seq} ${m.topic} ${m.payload}\n`);
            if (options.ack !== true || messages.length === 0) return okAsync(0);
            return callApi(remote, 'POST', path(consumer, 'ack'), { seqs: messages.map((m) => m.seq) }).map(() => 0);
          }),
        ),
      ),
    );
}

export function addAck(program: Command, ctx: CliContext): Command {
  return remoteCommand(program, ctx, 'ack', 'ack messages fetched from a consumer, by seq')
    .argument('<consumer>', 'the consumer')
    .argument('<seq...>', 'the seqs fetched', (text: string, previous: number[] | undefined) => [...(previous ?? []), seqArg(text)])
    .addHelpText('after', '\nPrints how many were acked (seqs not fetched from this broker, or acked already, are counted out).\n\nExample:\n  eventbus ack billing 41 42')
    .action(
      act(ctx, (consumer: string, seqs: number[], _options: unknown, command: Command) =>
        remoteOf(command, ctx).asyncAndThen((remote) =>
          callApi(remote, 'POST', path(consumer, 'ack'), { seqs }).map((answer) => {
            printResult(ctx, remote, answer as z.infer<typeof Acked>, (a) => [`acked ${a.acked}`]);
            return 0;
          }),
        ),
      ),
    );
}

export function addNack(program: Command, ctx: CliContext): Command {
  return remoteCommand(program, ctx, 'nack', "hand fetched messages back: sent again after --delay, or the consumer's backoff")
    .argument('<consumer>', 'the consumer')
    .argument('<seq...>', 'the seqs fetched', (text: string, previous: number[] | undefined) => [...(previous ?? []), seqArg(text)])
    .option('--delay <ms>', "send them again after this long (whole ms, or 10s, 5m); default: the consumer's backoff, none: at once", waitArg)
    .addHelpText('after', '\nPrints how many were nacked.\n\nExamples:\n  eventbus nack billing 41\n  eventbus nack billing 41 42 --delay 30s')
    .action(
      act(ctx, (consumer: string, seqs: number[], options: { delay?: number }, command: Command) =>
        remoteOf(command, ctx).asyncAndThen((remote) =>
          callApi(remote, 'POST', path(consumer, 'nack'), { seqs, delay_ms: options.delay }).map((answer) => {
            printResult(ctx, remote, answer as z.infer<typeof Nacked>, (a) => [`nacked ${a.nacked}`]);
            return 0;
          }),
        ),
      ),
    );
}
