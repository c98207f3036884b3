// `eventbus schedules`: every schedule (every page of GET /api/schedules) as a table or JSON; `eventbus schedule
// add|rm|pause|resume`: one recurring schedule made over PUT /api/schedules/<id>, or removed, paused or resumed
// (PROTOCOL.md §9, §11). Each subcommand prints the schedule as it is afterwards (`rm`: its id).
import { text } from 'node:stream/consumers';
import { Option, type Command } from 'commander';
import { okAsync, type ResultAsync } from 'neverthrow';
import type { z } from 'zod';
import type { Schedule, ScheduleList } from '../protocol/http-bodies.js';
import { durationArg, timeArg } from './args.js';
import { act, subcommand, type CliContext } from './command.js';
import { usageError, type CliFailure } from './failure.js';
import { table, timeCell } from './output.js';
import { callApi, printResult, remoteCommand, remoteOf, requestAction, type ApiRequest, type Remote } from './remote.js';

type WireSchedule = z.infer<typeof Schedule>;

const KINDS = ['once', 'cron', 'every'] as const;
const path = (id: string, action = ''): string => `/api/schedules/${encodeURIComponent(id)}${action}`;

const UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
] as const;

/** An interval in the largest unit that divides it (`--every` takes the same words back). */
export function durationText(ms: number): string {
  const unit = UNITS.find(([, size]) => ms % size === 0 && ms >= size);
  return unit === undefined ? `${ms}ms` : `${ms / unit[1]}${unit[0]}`;
}

export function scheduleRows(schedules: readonly WireSchedule[]): string[] {
  return table(
    ['id', 'kind', 'topic', 'cron/every', 'timezone', 'next fire', 'last fire', 'fires', 'missed', 'paused'],
    schedules.map((s) => [
      s.id,
      s.kind,
      s.topic,
      s.cron ?? (s.every_ms === null ? '-' : `every ${durationText(s.every_ms)}`),
      s.timezone,
      timeCell(s.next_at),
      timeCell(s.last_at),
      s.fires,
      s.missed,
      s.paused ? 'yes' : 'no',
    ]),
  );
}

/** Every schedule (of one kind, when given), a page of 1000 at a time. */
function everySchedule(remote: Remote, kind: string | undefined): ResultAsync<WireSchedule[], CliFailure> {
  const all: WireSchedule[] = [];
  const page = (from: string | null): ResultAsync<WireSchedule[], CliFailure> => {
    const query = new URLSearchParams({ limit: '1000', ...(kind === undefined ? {} : { kind }), ...(from === null ? {} : { from }) });
    return callApi(remote, 'GET', `/api/schedules?${query.toString()}`).andThen((answer) => {
      const { schedules, next } = answer as z.infer<typeof ScheduleList>;
      all.push(...schedules);
      return next === null || schedules.length === 0 ? okAsync(all) : page(next);
    });
  };
  return page(null);
}

export function addSchedules(program: Command, ctx: CliContext): Command {
  return remoteCommand(program, ctx, 'schedules', 'every schedule: recurring ones and delayed messages not yet due, with next and last fire')
    .addOption(new Option('--kind <kind>', 'only this kind').choices(KINDS))
    .addHelpText('after', '\nExamples:\n  eventbus schedules\n  eventbus schedules --kind cron --json')
    .action(
      act(ctx, (options: { kind?: string }, command: Command) =>
        remoteOf(command, ctx).asyncAndThen((remote) =>
          everySchedule(remote, options.kind).map((schedules) => {
            printResult(ctx, remote, { schedules }, (l) => scheduleRows(l.schedules));
            return 0;
          }),
        ),
      ),
    );
}

interface AddOptions {
  cron?: string;
  every?: number;
  tz?: string;
  start?: number;
  end?: number;
}

/** A schedule's subcommand: its request, then the schedule (or what the API answered) printed. */
function scheduleAction<A extends unknown[]>(ctx: CliContext, request: (...args: A) => ApiRequest | CliFailure | Promise<ApiRequest | CliFailure>) {
  return requestAction(ctx, request, (a) => ('kind' in (a as object) ? scheduleRows([a as WireSchedule]) : [`removed ${(a as { id: string }).id}`]));
}

export function addSchedule(program: Command, ctx: CliContext): Command {
  const schedule = subcommand(program, ctx, 'schedule', 'add, remove, pause or resume one schedule');
  remoteCommand(schedule, ctx, 'add', 'make or replace a recurring schedule: a cron expression or a fixed interval')
    .argument('<id>', 'the schedule')
    .argument('<topic>', 'the topic each fire publishes to')
    .argument('[payload]', 'the payload each fire publishes; read from stdin when omitted (one trailing newline removed)')
    .addOption(new Option('--cron <expr>', 'a cron expression of 5 fields, or 6 with seconds first').conflicts('every'))
    .addOption(new Option('--every <duration>', 'fire at this interval (1s or more: 90s, 10m, 24h, 1d)').argParser(durationArg).conflicts('tz'))
    .option('--tz <zone>', 'with --cron: the IANA time zone the expression is read in (default UTC)')
    .option('--start <t>', 'no fire before this time (ms or ISO 8601); --every fires first then', timeArg)
    .option('--end <t>', 'no fire after this time (ms or ISO 8601)', timeArg)
    .addHelpText('after', "\nExamples:\n  eventbus schedule add nightly reports.daily go --cron '0 2 * * *' --tz Europe/Berlin\n  eventbus schedule add heartbeat health.ping '{}' --every 30s")
    .action(
      scheduleAction(ctx, async (id: string, topic: string, payload: string | undefined, options: AddOptions) => {
        if (options.cron === undefined && options.every === undefined) return usageError('give --cron or --every');
        const body = payload ?? (await text(ctx.stdin ?? process.stdin)).replace(/\r?\n$/, '');
        return {
          method: 'PUT',
          path: path(id),
          body: { topic, payload: body, cron: options.cron, every_ms: options.every, timezone: options.tz, start_at: options.start, end_at: options.end },
        };
      }),
    );
  remoteCommand(schedule, ctx, 'rm', 'remove a schedule (a delayed message not yet due is never appended)')
    .argument('<id>', 'the schedule')
    .addHelpText('after', '\nExample:\n  eventbus schedule rm nightly')
    .action(scheduleAction(ctx, (id: string): ApiRequest => ({ method: 'DELETE', path: path(id) })));
  for (const action of ['pause', 'resume'] as const) {
    remoteCommand(schedule, ctx, action, action === 'pause' ? 'stop a schedule firing, on every broker' : 'resume a paused schedule from its next fire time after now')
      .argument('<id>', 'the schedule')
      .addHelpText('after', `\nExample:\n  eventbus schedule ${action} nightly`)
      .action(scheduleAction(ctx, (id: string): ApiRequest => ({ method: 'POST', path: path(id, `/${action}`) })));
  }
  return schedule;
}
