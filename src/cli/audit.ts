// `eventbus audit`: the audit log (PROTOCOL.md §12), every administrative action and every refusal, oldest
// first, read over GET /api/audit a page at a time from --from-time until the last page or --limit entries;
// a table for people or one JSON document `{"entries":[...]}`, as the other lists. Progress on stderr only
// once it takes more than one page.
import type { Command } from 'commander';
import { okAsync, type ResultAsync } from 'neverthrow';
import type { z } from 'zod';
import type { AuditEntry, AuditPage } from '../protocol/credential-bodies.js';
import { countArg, timeArg } from './args.js';
import { act, type CliContext } from './command.js';
import type { CliFailure } from './failure.js';
import { cell, progress, table, timeCell, type Progress } from './output.js';
import { callApi, printResult, remoteCommand, remoteOf, type Remote } from './remote.js';

type WireAuditEntry = z.infer<typeof AuditEntry>;

// The API's own cap on a page.
const PAGE = 1000;
// Wide enough for a refusal's code and most of its reason; --json has it whole.
const OUTCOME_WIDTH = 80;

interface Options {
  fromTime?: number;
  limit?: number;
}

export function auditRows(entries: readonly WireAuditEntry[]): string[] {
  return table(
    ['at', 'credential', 'peer', 'action', 'target', 'outcome'],
    entries.map((e) => [timeCell(e.at), e.credential ?? '-', e.peer, e.action, e.target ?? '-', cell(e.outcome, OUTCOME_WIDTH)]),
  );
}

/** The entries from `fromTime` (the oldest kept when undefined), up to `limit` of them, a page at a time. */
function readAudit(ctx: CliContext, remote: Remote, fromTime: number | undefined, limit: number): ResultAsync<WireAuditEntry[], CliFailure> {
  const all: WireAuditEntry[] = [];
  // Started on the second page: a log read in one request needs no progress.
  let bar: Progress | undefined;
  const page = (after: number | null): ResultAsync<WireAuditEntry[], CliFailure> => {
    const query = new URLSearchParams({ limit: String(Math.min(PAGE, limit - all.length)) });
    if (fromTime !== undefined) query.set('from_time', String(fromTime));
    if (after !== null) query.set('after', String(after));
    return callApi(remote, 'GET', `/api/audit?${query.toString()}`).andThen((answer) => {
      const { entries, next } = answer as z.infer<typeof AuditPage>;
      all.push(...entries);
      if (next === null || entries.length === 0 || all.length >= limit) {
        bar?.finish(`read ${all.length} audit log entries`);
        return okAsync(all);
      }
      bar ??= progress(ctx, 'reading the audit log (entries)', 0);
      bar.update(all.length, Number.isFinite(limit) ? limit : all.length);
      return page(next);
    });
  };
  return page(null).orTee(() => bar?.stop());
}

export function addAudit(program: Command, ctx: CliContext): Command {
  return remoteCommand(program, ctx, 'audit', 'the audit log, oldest first: every administrative action and every refusal (admin only)')
    .option('--from-time <t>', 'from the first entry at or after this time (ms or ISO 8601; default: the oldest kept)', timeArg)
    .option('--limit <n>', 'at most this many entries (default: all)', countArg)
    .addHelpText(
      'after',
      '\nThe outcome is "ok", or the code and reason of a refusal or failure (cut to 80 characters; --json has it whole).\nEntries are kept for EVENTBUS_AUDIT_MAX_AGE.\n\nExamples:\n  eventbus audit --from-time 2026-12-01T00:00:00Z\n  eventbus audit --limit 50 --json',
    )
    .action(
      act(ctx, (options: Options, command: Command) =>
        remoteOf(command, ctx).asyncAndThen((remote) =>
          readAudit(ctx, remote, options.fromTime, options.limit ?? Infinity).map((entries) => {
            printResult(ctx, remote, { entries }, (l) => auditRows(l.entries));
            return 0;
          }),
        ),
      ),
    );
}
