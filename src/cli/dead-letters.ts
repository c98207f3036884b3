// `eventbus dead-letters <consumer>`: a consumer's dead letters listed (every page of GET
// /api/consumers/<id>/dead-letters), or those selected by --seq and --where requeued (POST .../requeue) or
// purged (DELETE .../dead-letters) (PROTOCOL.md §9). --where is judged here for the list and a purge, with the
// broker's own filter code, and by the broker for a requeue.
import type { Command } from 'commander';
import { err, ok, okAsync, type ResultAsync } from 'neverthrow';
import type { z } from 'zod';
import { compileFilter, type MessageFilter } from '../protocol/filter.js';
import type { DeadLetter, DeadLettersPage } from '../protocol/http-bodies.js';
import { collect, filterArg, seqArg } from './args.js';
import { act, type CliContext } from './command.js';
import { failure, usageError, type CliFailure } from './failure.js';
import { cell, table } from './output.js';
import { callApi, printResult, remoteCommand, remoteOf, type Remote } from './remote.js';

type WireDeadLetter = z.infer<typeof DeadLetter>;

interface Options {
  requeue?: boolean;
  purge?: boolean;
  seq?: number[];
  where?: Record<string, unknown>;
}

export function addDeadLetters(program: Command, ctx: CliContext): Command {
  return remoteCommand(program, ctx, 'dead-letters', "list a consumer's dead letters, or requeue or purge them")
    .argument('<consumer>', 'the consumer')
    .option('--requeue', 'deliver the selected dead letters to the consumer again')
    .option('--purge', 'delete the selected dead letters')
    .option('--seq <n>', 'select this seq (repeatable; none given: all)', collect(seqArg))
    .option('--where <filter>', 'select those this filter (JSON, as on subscribe) matches', filterArg)
    .addHelpText('after', "\nExamples:\n  eventbus dead-letters billing\n  eventbus dead-letters billing --requeue --seq 41 --seq 42\n  eventbus dead-letters billing --purge --where '{\"topic\":\"orders.test\"}'")
    .action(
      act(ctx, (id: string, options: Options, command: Command) => {
        if (options.requeue === true && options.purge === true) return err(usageError('give --requeue or --purge, not both'));
        const where = options.where === undefined ? ok(undefined) : compileFilter(options.where);
        if (where.isErr()) return err(failure(where.error.code, `--where: ${where.error.message}`));
        return remoteOf(command, ctx).asyncAndThen((remote) => {
          const base = `/api/consumers/${encodeURIComponent(id)}/dead-letters`;
          const seqs = options.seq;
          if (options.requeue === true) {
            return callApi(remote, 'POST', `${base}/requeue`, { seqs, filter: options.where }).map((answer) => done(ctx, remote, answer, `requeued ${(answer as { requeued: number }).requeued}`));
          }
          const selected = (d: WireDeadLetter): boolean => (seqs === undefined || seqs.includes(d.seq)) && (where.value === undefined || matches(where.value, d));
          if (options.purge === true) {
            // Without --where the broker selects; with it, the seqs it matches are sent (none: nothing is).
            const chosen: ResultAsync<number[] | undefined, CliFailure> = where.value === undefined ? okAsync(seqs) : everyDeadLetter(remote, base).map((all) => all.filter(selected).map((d) => d.seq));
            return chosen.andThen((purge) =>
              (purge?.length === 0 ? okAsync({ deleted: 0 }) : callApi(remote, 'DELETE', base, { seqs: purge })).map((answer) => done(ctx, remote, answer, `deleted ${(answer as { deleted: number }).deleted}`)),
            );
          }
          return everyDeadLetter(remote, base).map((all) => {
            const listed = all.filter(selected);
            printResult(ctx, remote, { dead_letters: listed }, (l) =>
              table(
                ['seq', 'topic', 'deliveries', 'dead at', 'reason', 'payload'],
                l.dead_letters.map((d) => [d.seq, d.topic, d.deliveries, new Date(d.dead_at).toISOString(), cell(d.reason, 30), cell(d.payload)]),
              ),
            );
            return 0;
          });
        });
      }),
    );
}

function done(ctx: CliContext, remote: Remote, answer: unknown, line: string): number {
  printResult(ctx, remote, answer, () => [line]);
  return 0;
}

/** A message or dead letter as the API answers it, judged as the broker judges it: by seq, topic, payload and metadata. */
export function matches(filter: MessageFilter, m: Pick<WireDeadLetter, 'seq' | 'topic' | 'payload' | 'metadata'>): boolean {
  return filter({ seq: m.seq, topic: m.topic, payload: m.payload, metadata: JSON.stringify(m.metadata), messageId: null, ttlSeconds: 0, orderingKey: null, createdAt: 0 });
}

/** Every dead letter of the consumer whose dead letters are at `base`, a page at a time. */
export function everyDeadLetter(remote: Remote, base: string): ResultAsync<WireDeadLetter[], CliFailure> {
  const all: WireDeadLetter[] = [];
  const page = (from: number): ResultAsync<WireDeadLetter[], CliFailure> =>
    callApi(remote, 'GET', `${base}?from_seq=${from}&limit=1000`).andThen((answer): ResultAsync<WireDeadLetter[], CliFailure> => {
      const { dead_letters, next_seq } = answer as z.infer<typeof DeadLettersPage>;
      all.push(...dead_letters);
      return dead_letters.length === 0 || next_seq <= from ? okAsync(all) : page(next_seq);
    });
  return page(1);
}
