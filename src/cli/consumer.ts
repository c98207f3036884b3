// `eventbus consumer add|rm|replay|pause|resume`: one consumer managed as the registration commands of
// PROTOCOL.md §4 do it, over PUT, DELETE and POST /api/consumers/<id>[/replay|/pause|/resume]; each prints
// the consumer as it is afterwards (`rm`: its id).
import type { Command } from 'commander';
import type { z } from 'zod';
import type { Consumer } from '../protocol/http-bodies.js';
import { countArg, filterArg, seqArg, timeArg, waitArg } from './args.js';
import { subcommand, type CliContext } from './command.js';
import { usageError, type CliFailure } from './failure.js';
import { consumerRows } from './figures.js';
import { remoteCommand, requestAction, type ApiRequest } from './remote.js';

interface AddOptions {
  where?: Record<string, unknown>;
  ackTimeout?: number;
  maxDeliveries?: number;
  maxInFlight?: number;
}

const path = (id: string, action = ''): string => `/api/consumers/${encodeURIComponent(id)}${action}`;

/** A consumer's subcommand: its request, then the consumer (or what the API answered) printed. */
function consumerAction<A extends unknown[]>(ctx: CliContext, request: (...args: A) => ApiRequest | CliFailure) {
  return requestAction(ctx, request, (a) => ('position' in (a as object) ? consumerRows([a as z.infer<typeof Consumer>]) : [`removed ${(a as { id: string }).id}`]));
}

export function addConsumer(program: Command, ctx: CliContext): Command {
  const consumer = subcommand(program, ctx, 'consumer', 'add, remove, rewind, pause or resume one consumer (as the registration commands)');
  remoteCommand(consumer, ctx, 'add', 'register a consumer, or add patterns to it (an address: a push consumer)')
    .argument('<id>', 'the consumer')
    .argument('<address-or-pattern...>', 'its push address (tcp://, udp://, ws://, http://), if any, then its patterns')
    .option('--where <filter>', 'a content filter, as JSON', filterArg)
    .option('--ack-timeout <ms>', 'its own ack timeout (whole ms, or 90s, 5m), over EVENTBUS_ACK_TIMEOUT_MS', waitArg)
    .option('--max-deliveries <n>', 'its own deliveries of a message before a dead letter, over EVENTBUS_MAX_DELIVERIES', countArg)
    .option('--max-in-flight <n>', 'its own unacked deliveries per member, over EVENTBUS_MAX_IN_FLIGHT', countArg)
    .addHelpText(
      'after',
      "\nExamples:\n  eventbus consumer add billing http://127.0.0.1:8080/events 'orders.*'\n  eventbus consumer add audit '#' --where '{\"payload.amount\":{\"$gt\":1000}}'\n  eventbus consumer add reports 'reports.*' --ack-timeout 10m --max-deliveries 3",
    )
    .action(
      consumerAction(ctx, (id: string, words: string[], options: AddOptions) => {
        const [first = '', ...rest] = words;
        const address = first.includes('://') ? first : undefined;
        const patterns = address === undefined ? words : rest;
        if (patterns.length === 0) return usageError('give at least one pattern after the address');
        const limits = { ack_timeout_ms: options.ackTimeout, max_deliveries: options.maxDeliveries, max_in_flight: options.maxInFlight };
        return { method: 'PUT', path: path(id), body: { address, patterns, ...(options.where === undefined ? {} : { filter: options.where }), ...limits } };
      }),
    );
  remoteCommand(consumer, ctx, 'rm', 'remove a consumer (as UNREGISTER)')
    .argument('<id>', 'the consumer')
    .addHelpText('after', '\nExample:\n  eventbus consumer rm billing')
    .action(consumerAction(ctx, (id: string) => ({ method: 'DELETE', path: path(id) })));
  const replay = remoteCommand(consumer, ctx, 'replay', 'rewind a consumer: what follows is delivered to it again (as REPLAY)')
    .argument('<id>', 'the consumer')
    .option('--from-seq <n>', 'from this seq', seqArg)
    .option('--from-time <t>', 'from the first message at or after this time (ms or ISO 8601)', timeArg)
    .addHelpText('after', '\nExamples:\n  eventbus consumer replay billing --from-seq 1\n  eventbus consumer replay billing --from-time 2026-12-01T22:00:00Z');
  replay.options.find((o) => o.long === '--from-seq')!.conflicts('fromTime');
  replay.action(
    consumerAction(ctx, (id: string, options: { fromSeq?: number; fromTime?: number }) => {
      if (options.fromSeq === undefined && options.fromTime === undefined) return usageError('give --from-seq or --from-time');
      return { method: 'POST', path: path(id, '/replay'), body: options.fromSeq === undefined ? { from_time: options.fromTime } : { from_seq: options.fromSeq } };
    }),
  );
  for (const action of ['pause', 'resume'] as const) {
    remoteCommand(consumer, ctx, action, action === 'pause' ? 'stop deliveries to a consumer, on every broker, keeping its position' : 'resume a paused consumer')
      .argument('<id>', 'the consumer')
      .addHelpText('after', `\nExample:\n  eventbus consumer ${action} billing`)
      .action(consumerAction(ctx, (id: string) => ({ method: 'POST', path: path(id, `/${action}`) })));
  }
  return consumer;
}
