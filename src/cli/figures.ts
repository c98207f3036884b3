// `eventbus topics`, `eventbus stats` and `eventbus consumers`: what GET /api/topics, /api/stats and
// /api/consumers answer, as tables for people or the answer itself with --json (PROTOCOL.md §9).
import type { Command } from 'commander';
import type { z } from 'zod';
import type { Consumer, Stats, Topic } from '../protocol/http-bodies.js';
import { act, type CliContext } from './command.js';
import { cell, table } from './output.js';
import { callApi, printResult, remoteCommand, remoteOf } from './remote.js';

type WireConsumer = z.infer<typeof Consumer>;

/** A command that prints one GET's answer. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller's word for the answer's shape, as with JSON.parse
function showCommand<T>(program: Command, ctx: CliContext, name: string, summary: string, path: string, forPeople: (answer: T) => readonly string[]): Command {
  return remoteCommand(program, ctx, name, summary)
    .addHelpText('after', `\nExamples:\n  eventbus ${name}\n  eventbus ${name} --json --url http://127.0.0.1:3000`)
    .action(
      act(ctx, (_options: unknown, command: Command) =>
        remoteOf(command, ctx).asyncAndThen((remote) =>
          callApi(remote, 'GET', path).map((answer) => {
            printResult(ctx, remote, answer as T, forPeople);
            return 0;
          }),
        ),
      ),
    );
}

export function addTopics(program: Command, ctx: CliContext): Command {
  return showCommand<z.infer<typeof Topic>[]>(program, ctx, 'topics', 'the topics the log holds', '/api/topics', (topics) =>
    table(
      ['topic', 'messages', 'first seq', 'last seq', 'published/s'],
      topics.map((t) => [t.topic, t.messages, t.first_seq, t.last_seq, t.published_per_s]),
    ),
  );
}

export function addStats(program: Command, ctx: CliContext): Command {
  return showCommand<z.infer<typeof Stats>>(program, ctx, 'stats', "the broker's figures, and the brokers alive on its database", '/api/stats', (s) => [
    `node         ${s.node_id}`,
    `head seq     ${s.head_seq}`,
    `topics       ${s.topics}`,
    `consumers    ${s.consumers}`,
    `subscribers  ${s.subscriptions}`,
    `connections  ${Object.entries(s.connections).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`,
    `nodes        ${s.nodes.map((n) => n.node_id).join(', ')}`,
  ]);
}

export function consumerRows(consumers: readonly WireConsumer[]): string[] {
  return table(
    ['id', 'address', 'patterns', 'state', 'position', 'lag', 'in flight', 'dead letters', 'last failure', 'ack timeout ms', 'max deliveries', 'max in flight'],
    consumers.map((c) => [
      c.id,
      c.address ?? '-',
      c.patterns.join(',') + (c.filter === null ? '' : ` ${JSON.stringify(c.filter)}`),
      c.state,
      c.position,
      c.lag,
      c.in_flight,
      c.dead_letters,
      lastFailureCell(c.last_failure),
      c.ack_timeout_ms,
      c.max_deliveries,
      c.max_in_flight,
    ]),
  );
}

const LAST_FAILURE_WIDTH = 72;

/** When (to the second, UTC) and what, cut to a width that still shows an address or an HTTP status and the body's start; `-` for none. */
function lastFailureCell(failure: WireConsumer['last_failure']): string {
  if (failure === null) return '-';
  return `${new Date(failure.at).toISOString().replace(/\.\d{3}Z$/, 'Z')} ${cell(failure.error, LAST_FAILURE_WIDTH)}`;
}

export function addConsumers(program: Command, ctx: CliContext): Command {
  return showCommand<WireConsumer[]>(program, ctx, 'consumers', 'every consumer: state, position, lag, in flight, dead letters, last failure, limits', '/api/consumers', consumerRows);
}
