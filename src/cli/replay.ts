// `eventbus replay --to <address>`: a side replay (PROTOCOL.md §9). The slice of the log goes through the
// broker's own push delivery, so every address kind (tcp, udp, ws, http) works as for any consumer, by a
// temporary consumer of its own that is removed afterwards; no other consumer's position moves. The slice's
// end is a filter on `seq` ({"seq":{"$lte":M}}), so the temporary consumer is never sent anything past it;
// --rate sends it in windows of N matching messages, one window a second (see docs/cli.md). The command gives
// up when no delivery succeeds for --give-up-after seconds while the address cannot be reached; the consumer
// is removed on the way out, after a signal too, and carries a lease (--lease) that the command renews, so
// that the broker removes it by itself when the command is killed.
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { err, ok, type Result } from 'neverthrow';
import type { z } from 'zod';
import { compileFilter, type MessageFilter } from '../protocol/filter.js';
import { parseAddress } from '../protocol/address.js';
import type { Consumer } from '../protocol/http-bodies.js';
import { checkPattern } from '../protocol/topics.js';
import { countArg, filterArg, secondsArg, seqArg, timeArg } from './args.js';
import { act, type CliContext } from './command.js';
import { everyDeadLetter, matches } from './dead-letters.js';
import { failure, usageError, type CliFailure } from './failure.js';
import { headSeq, messagesPage, readSlice, type WireMessage } from './log-pages.js';
import { pause, signalExitCode, untilInterrupted, type StopSignal } from './interrupt.js';
import { progress, type Progress } from './output.js';
import { callApi, remoteCommand, remoteOf, type Remote } from './remote.js';

type WireConsumer = z.infer<typeof Consumer>;

interface Options {
  to: string;
  pattern: string;
  fromSeq?: number;
  fromTime?: number;
  toSeq?: number;
  toTime?: number;
  where?: Record<string, unknown>;
  rate?: number;
  dryRun?: boolean;
  giveUpAfter: number;
  lease: number;
}

// How often the temporary consumer's lag is read while the slice is delivered.
const POLL_MS = 100;
// What --dry-run shows of the slice.
const DRY_RUN_SHOWN = 5;
// The signals after which the temporary consumer is removed before the command exits.
const STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
// The lease is renewed this many times within its length: a renewal or two may be late or lost.
const RENEWALS_PER_LEASE = 3;

export function addReplay(program: Command, ctx: CliContext): Command {
  const replay = remoteCommand(program, ctx, 'replay', "send a slice of the log to a push address, moving no consumer's position")
    .requiredOption('--to <address>', 'where to send it: tcp://, udp://, ws:// or http://host:port[/path]')
    .requiredOption('--pattern <pattern>', 'the topics of the slice')
    .option('--from-seq <n>', 'the slice starts at this seq (default 1)', seqArg)
    .option('--from-time <t>', 'the slice starts at the first message at or after this time (ms or ISO 8601)', timeArg)
    .option('--to-seq <n>', 'the slice ends at this seq, inclusive (default: the head at start)', seqArg)
    .option('--to-time <t>', 'the slice ends with the last message at or before this time', timeArg)
    .option('--where <filter>', 'only the messages this filter (JSON, as on subscribe) matches', filterArg)
    .option('--rate <n>', 'send at most n messages a second', countArg)
    .option('--dry-run', 'print how many messages the slice holds and the first few; send nothing')
    .option('--give-up-after <s>', 'fail when no delivery succeeds for this many seconds while the address cannot be reached', secondsArg, 30)
    .option('--lease <s>', "the temporary consumer's lease: the broker removes it this many seconds after the command is gone (renewed while it runs)", secondsArg, 30)
    .addHelpText(
      'after',
      "\nExits 0 once every message of the slice is delivered (acked, for http and ws); 1 when messages were dead-lettered or the address stayed unreachable for --give-up-after; 128 + the signal's number after SIGINT (130), SIGTERM (143) or SIGHUP (129), the temporary consumer removed.\n\nExamples:\n  eventbus replay --to http://127.0.0.1:8080/events --pattern 'orders.*' --from-time 2026-12-01T22:00:00Z --to-time 2026-12-01T23:00:00Z\n  eventbus replay --to tcp://127.0.0.1:9000 --pattern '#' --from-seq 1 --rate 100 --dry-run",
    );
  replay.options.find((o) => o.long === '--from-seq')!.conflicts('fromTime');
  replay.options.find((o) => o.long === '--to-seq')!.conflicts('toTime');
  return replay.action(
    act(ctx, async (options: Options, command: Command) => {
      const remote = remoteOf(command, ctx);
      if (remote.isErr()) return err(remote.error);
      const checked = checkPattern(options.pattern);
      if (checked.isErr()) return err(failure(checked.error.code, checked.error.message));
      const address = parseAddress(options.to);
      if (address.isErr()) return err(failure(address.error.code, `--to: ${address.error.message}`));
      if (options.where !== undefined && 'seq' in options.where) return err(usageError('--where: give the slice\'s seqs with --from-seq and --to-seq'));
      const where = options.where === undefined ? ok(undefined) : compileFilter(options.where);
      if (where.isErr()) return err(failure(where.error.code, `--where: ${where.error.message}`));
      const bounds = await sliceBounds(remote.value, options);
      if (bounds.isErr()) return err(bounds.error);
      const slice = { ...bounds.value, where: where.value };
      if (options.dryRun === true) return dryRun(ctx, remote.value, options, slice);
      return sendSlice(ctx, remote.value, options, slice);
    }),
  );
}

interface Slice {
  readonly from: number;
  readonly to: number;
  readonly where: MessageFilter | undefined;
}

/** The slice's first and last seqs, times turned into seqs; the end no further than the head at start. */
async function sliceBounds(remote: Remote, options: Options): Promise<Result<{ from: number; to: number }, CliFailure>> {
  const head = await headSeq(remote);
  if (head.isErr()) return err(head.error);
  const firstAt = async (time: number): Promise<Result<number, CliFailure>> =>
    (await messagesPage(remote, { fromTime: time }, undefined, 1)).map((page) => page.messages[0]?.seq ?? page.next_seq);
  const from = options.fromTime === undefined ? ok(options.fromSeq ?? 1) : await firstAt(options.fromTime);
  if (from.isErr()) return err(from.error);
  const to = options.toTime === undefined ? ok(options.toSeq ?? head.value) : (await firstAt(options.toTime + 1)).map((seq) => seq - 1);
  if (to.isErr()) return err(to.error);
  return ok({ from: from.value, to: Math.min(to.value, head.value) });
}

/** The slice's messages, read over GET /api/messages and judged by --where here as the broker would. */
async function eachInSlice(remote: Remote, pattern: string, slice: Slice, each: (m: WireMessage) => unknown): Promise<Result<void, CliFailure>> {
  if (slice.from > slice.to) return ok(undefined);
  return readSlice(remote, { fromSeq: slice.from }, slice.to, pattern, (m) => (slice.where === undefined || matches(slice.where, m) ? each(m) : undefined));
}

async function dryRun(ctx: CliContext, remote: Remote, options: Options, slice: Slice): Promise<Result<number, CliFailure>> {
  let count = 0;
  const first: WireMessage[] = [];
  const read = await eachInSlice(remote, options.pattern, slice, (m) => {
    count += 1;
    if (first.length < DRY_RUN_SHOWN) first.push(m);
  });
  if (read.isErr()) return err(read.error);
  const seqs = { from_seq: slice.from, to_seq: slice.to };
  if (remote.json) ctx.stdout.write(`${JSON.stringify({ count, ...seqs, first })}\n`);
  else {
    ctx.stdout.write(`${count} messages (seqs ${slice.from} to ${slice.to}) would be sent to ${options.to}${count > 0 ? '; the first:' : ''}\n`);
    ctx.stdout.write(first.map((m) => `${m.seq} ${m.topic} ${m.payload}\n`).join(''));
  }
  return ok(0);
}

/** A window of the slice: the seqs from `from` to `to`, all sent at once. */
interface Window {
  readonly from: number;
  readonly to: number;
  readonly count: number | undefined;
}

async function sendSlice(ctx: CliContext, remote: Remote, options: Options, slice: Slice): Promise<Result<number, CliFailure>> {
  const windows = await windowsOf(remote, options, slice);
  if (windows.isErr()) return err(windows.error);
  const done = (sent: number): Result<number, CliFailure> => {
    const summary = { sent, from_seq: slice.from, to_seq: slice.to, address: options.to };
    ctx.stdout.write(remote.json ? `${JSON.stringify(summary)}\n` : `sent ${sent} messages to ${options.to}\n`);
    return ok(0);
  };
  if (windows.value.length === 0) return done(0);
  const total = windows.value.reduce((n, w) => n + (w.count ?? 0), 0);
  const bar = progress(ctx, `replaying to ${options.to}`, total);
  const id = `replay-${randomUUID().slice(0, 8)}`;
  const path = `/api/consumers/${id}`;
  return untilInterrupted(async (signal) => {
    const sent = await sendWindows(remote, options, windows.value, path, bar, signal);
    // The temporary consumer is new: every dead letter it has is a message of the slice the address refused.
    const dead = sent.isOk() && !signal.aborted ? await everyDeadLetter(remote, `${path}/dead-letters`) : ok([]);
    // Removed whatever happened: a failure, a signal, or done. Not there: it was never made, or its lease lapsed.
    const removed = (await callApi(remote, 'DELETE', path)).orElse((e) => (e.code === 'UNKNOWN_CONSUMER' ? ok(undefined) : err(e)));
    if (sent.isErr() || dead.isErr() || removed.isErr() || signal.aborted || dead.value.length > 0) bar.stop();
    if (signal.aborted) {
      const by = signal.reason as StopSignal;
      const count = sent.isOk() ? sent.value : 0;
      ctx.stderr.write(`${by}: stopped after ${count} messages; ${removed.isOk() ? `the temporary consumer ${id} is removed` : `the temporary consumer ${id} could not be removed (its lease removes it within ${options.lease} s)`}\n`);
      return ok(signalExitCode(by));
    }
    if (sent.isErr()) return err(sent.error);
    if (dead.isErr()) return err(dead.error);
    if (removed.isErr()) return err(removed.error);
    if (dead.value.length > 0) {
      const last = dead.value.at(-1)!.reason;
      return err(failure('UNAVAILABLE', `${dead.value.length} of ${sent.value} messages could not be delivered to ${options.to} (dead-lettered after EVENTBUS_MAX_DELIVERIES attempts; the last: ${last})`));
    }
    bar.finish(`replayed ${sent.value} messages (seqs ${slice.from} to ${slice.to}) to ${options.to}`);
    return done(sent.value);
  }, STOP_SIGNALS);
}

/**
 * The windows the slice is sent in: the whole slice at once, or with --rate windows of that many matching
 * messages, found by reading the slice first.
 */
async function windowsOf(remote: Remote, options: Options, slice: Slice): Promise<Result<Window[], CliFailure>> {
  if (options.rate === undefined) return ok(slice.from > slice.to ? [] : [{ from: slice.from, to: slice.to, count: undefined }]);
  const seqs: number[] = [];
  const read = await eachInSlice(remote, options.pattern, slice, (m) => void seqs.push(m.seq));
  if (read.isErr()) return err(read.error);
  const windows: Window[] = [];
  for (let i = 0; i < seqs.length; i += options.rate) {
    const chunk = seqs.slice(i, i + options.rate);
    windows.push({ from: chunk[0]!, to: chunk.at(-1)!, count: chunk.length });
  }
  return ok(windows);
}

/**
 * Each window in turn: the temporary consumer's filter bounds it to the window's seqs, a rewind to its first
 * seq starts it, and it is done when the consumer's lag and in-flight deliveries are both 0. Meanwhile its lease
 * is renewed, and the command gives up when nothing moves for --give-up-after while the consumer is not
 * connected to the address (the broker retries a connection for ever; deliveries that fail on a connection
 * end as dead letters, which move the lag).
 */
async function sendWindows(
  remote: Remote,
  options: Options,
  windows: readonly Window[],
  path: string,
  bar: Progress,
  signal: AbortSignal,
): Promise<Result<number, CliFailure>> {
  const started = Date.now();
  const leaseMs = Math.ceil(options.lease * 1000);
  const giveUpMs = options.giveUpAfter * 1000;
  let renewedAt = Date.now();
  /** Gives the lease again when a renewal is due: a PUT that adds nothing, its address and filter kept. */
  const renew = async (): Promise<Result<unknown, CliFailure>> => {
    if (Date.now() - renewedAt < leaseMs / RENEWALS_PER_LEASE) return ok(undefined);
    renewedAt = Date.now();
    return callApi(remote, 'PUT', path, { patterns: [options.pattern], lease_ms: leaseMs });
  };
  /** Waits `ms` in steps, renewing the lease on the way; false when a signal ended the wait. */
  const wait = async (ms: number): Promise<Result<boolean, CliFailure>> => {
    const until = Date.now() + ms;
    for (;;) {
      const renewed = await renew();
      if (renewed.isErr()) return err(renewed.error);
      const left = until - Date.now();
      if (!(await pause(Math.min(left, POLL_MS), signal))) return ok(false);
      if (left <= POLL_MS) return ok(true);
    }
  };
  let sent = 0;
  for (const [i, window] of windows.entries()) {
    // --rate: window i starts no sooner than i seconds in.
    const waited = await wait(started + i * 1000 - Date.now());
    if (waited.isErr()) return err(waited.error);
    if (!waited.value) break;
    const filter = { ...options.where, seq: { $gte: window.from, $lte: window.to } };
    // Paused while the window is set up, so that no message of it is sent under the last window's filter.
    const steps = [
      { method: 'PUT', path, body: { address: options.to, patterns: [options.pattern], filter, lease_ms: leaseMs } },
      { method: 'POST', path: `${path}/pause` },
      { method: 'POST', path: `${path}/replay`, body: { from_seq: window.from } },
    ] as const;
    let rewound: WireConsumer | undefined;
    for (const step of steps) {
      const answer = await callApi(remote, step.method, step.path, 'body' in step ? step.body : undefined);
      if (answer.isErr()) return err(answer.error);
      rewound = answer.value as WireConsumer;
    }
    renewedAt = Date.now();
    const resumed = await callApi(remote, 'POST', `${path}/resume`);
    if (resumed.isErr()) return err(resumed.error);
    const size = rewound!.lag;
    if (window.count === undefined) bar.update(0, size);
    let last = { lag: size, inFlight: 0, at: Date.now() };
    for (;;) {
      const now = await callApi(remote, 'GET', path);
      if (now.isErr()) return err(now.error);
      const c = now.value as WireConsumer;
      bar.update(sent + size - c.lag);
      if (c.lag === 0 && c.in_flight === 0) break;
      if (c.lag !== last.lag || c.in_flight !== last.inFlight) last = { lag: c.lag, inFlight: c.in_flight, at: Date.now() };
      else if (c.state !== 'connected' && Date.now() - last.at >= giveUpMs) {
        const delivered = sent + size - c.lag;
        // The last failure the broker recorded for this consumer says why (a refused connection, say).
        const cause = c.last_failure === null ? '' : `: ${c.last_failure.error}`;
        return err(
          failure(
            'UNAVAILABLE',
            `no delivery to ${options.to} succeeded in ${options.giveUpAfter} s${cause} (the broker's push state: ${c.state}; ${delivered} of the slice's messages delivered)`,
          ),
        );
      }
      const waitedPoll = await wait(POLL_MS);
      if (waitedPoll.isErr()) return err(waitedPoll.error);
      if (!waitedPoll.value) return ok(sent + size - c.lag);
    }
    sent += size;
  }
  return ok(sent);
}
