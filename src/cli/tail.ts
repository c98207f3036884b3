// `eventbus tail <pattern>`: the log's messages as `<seq> <topic> <payload>` lines (NDJSON with --json),
// followed live over Server-Sent Events (GET /api/subscribe) like `tail -f` until Ctrl-C, which exits 0. A
// dropped connection is resumed with Last-Event-ID, so nothing is missed or printed twice (PROTOCOL.md §9).
import type { Command } from 'commander';
import { createParser } from 'eventsource-parser';
import { err, ok, okAsync, type Result, type ResultAsync } from 'neverthrow';
import { checkPattern } from '../protocol/topics.js';
import { countArg, seqArg, timeArg } from './args.js';
import { act, type CliContext } from './command.js';
import { failure, type CliFailure } from './failure.js';
import { headSeq, messagesPage, readSlice, type WireMessage } from './log-pages.js';
import { isAborted, pause, untilInterrupted } from './interrupt.js';
import { answerOf, headersFor, reason, remoteCommand, remoteOf, type Remote } from './remote.js';

interface Options {
  fromSeq?: number;
  fromTime?: number;
  last?: number;
  follow: boolean;
}

// A dropped event stream is opened again after this long, so that a broker restarting is not hammered.
const RECONNECT_MS = 1000;

export function addTail(program: Command, ctx: CliContext): Command {
  const tail = remoteCommand(program, ctx, 'tail', 'print the messages of a pattern and follow the live log until Ctrl-C')
    .argument('<pattern>', 'topics to print (orders.*, #)')
    .option('--from-seq <n>', 'start at this seq', seqArg)
    .option('--from-time <t>', 'start at the first message at or after this time (ms or ISO 8601)', timeArg)
    .option('--last <n>', 'start with the last n messages of the pattern', countArg)
    .option('--no-follow', 'stop at the head as it was at start')
    .addHelpText('after', '\nWithout a start option, only what is published after tail starts is printed.\n\nExamples:\n  eventbus tail \'orders.*\'\n  eventbus tail \'#\' --last 20 --no-follow\n  eventbus tail audit.login --from-time 2026-12-01T22:00:00Z --json');
  for (const name of ['from-seq', 'from-time', 'last']) {
    tail.options.find((o) => o.long === `--${name}`)!.conflicts(['from-seq', 'from-time', 'last'].filter((n) => n !== name).map((n) => n.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())));
  }
  return tail.action(
    act(ctx, async (pattern: string, options: Options, command: Command) => {
      const remote = remoteOf(command, ctx);
      if (remote.isErr()) return err(remote.error);
      const checked = checkPattern(pattern);
      if (checked.isErr()) return err(failure(checked.error.code, checked.error.message));
      const head = await headSeq(remote.value);
      if (head.isErr()) return err(head.error);
      const start = await startSeq(remote.value, pattern, head.value, options);
      if (start.isErr()) return err(start.error);
      const print = (m: Omit<WireMessage, 'status'>): void => {
        ctx.stdout.write(remote.value.json ? `${JSON.stringify(m)}\n` : `${m.seq} ${m.topic} ${m.payload}\n`);
      };
      if (!options.follow) {
        return readSlice(remote.value, { fromSeq: start.value }, head.value, pattern, ({ status: _, ...m }) => print(m)).map(() => 0);
      }
      return follow(ctx, remote.value, pattern, start.value - 1, print);
    }),
  );
}

/** The first seq to print: as asked, or the head's next when nothing is. */
function startSeq(remote: Remote, pattern: string, head: number, options: Options): ResultAsync<number, CliFailure> {
  if (options.fromSeq !== undefined) return okAsync(options.fromSeq);
  if (options.fromTime !== undefined) {
    return messagesPage(remote, { fromTime: options.fromTime }, undefined, 1).map((page) => page.messages[0]?.seq ?? page.next_seq);
  }
  if (options.last !== undefined) return lastStart(remote, pattern, head, options.last);
  return okAsync(head + 1);
}

// A first look back of this many seqs per message asked for; each further look goes this many times further.
const LOOK_BACK_GROWTH = 8;

/**
 * The seq of the `n`-th last message of `pattern` at or below `head`: the log is read forward (the API's only
 * direction) over a window ending at the head, widened until it holds n matches or starts at seq 1.
 */
function lastStart(remote: Remote, pattern: string, head: number, n: number): ResultAsync<number, CliFailure> {
  const look = (window: number): ResultAsync<number, CliFailure> => {
    const from = Math.max(1, head - window + 1);
    const seqs: number[] = [];
    let matched = 0;
    return readSlice(remote, { fromSeq: from }, head, pattern, (m) => {
      matched += 1;
      seqs.push(m.seq);
      if (seqs.length > n) seqs.shift();
    }).andThen(() => (matched >= n || from === 1 ? okAsync(seqs[0] ?? head + 1) : look(window * LOOK_BACK_GROWTH)));
  };
  return look(n);
}

/** The live tail after `lastSeq`, until Ctrl-C; reconnects after a drop from the last seq printed. */
async function follow(ctx: CliContext, remote: Remote, pattern: string, lastSeq: number, print: (m: Omit<WireMessage, 'status'>) => void): Promise<Result<number, CliFailure>> {
  return untilInterrupted(async (signal) => {
    let last = lastSeq;
    let connected = false;
    while (!isAborted(signal)) {
      const url = new URL(`/api/subscribe?${new URLSearchParams({ pattern }).toString()}`, remote.url);
      const headers = { ...headersFor(remote, 'text/event-stream'), 'last-event-id': String(last) };
      try {
        const response = await remote.fetch(url, { headers, signal });
        if (response.status !== 200) {
          const refused = answerOf(response.status, await response.text(), `GET ${url.pathname}`, remote);
          return err(refused.isErr() ? refused.error : failure('UNAVAILABLE', `GET ${url.pathname} answered ${response.status}`));
        }
        connected = true;
        const parser = createParser({
          onEvent: (event) => {
            if (event.event !== 'message') return;
            const m = JSON.parse(event.data) as Omit<WireMessage, 'status'>;
            last = m.seq;
            print(m);
          },
        });
        const decoder = new TextDecoder();
        for await (const chunk of response.body ?? []) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
      } catch (e) {
        if (isAborted(signal)) break;
        // Out of reach from the start: nothing to resume, and a wrong --url should not hang.
        if (!connected) return err(failure('UNAVAILABLE', `cannot reach the broker at ${remote.url.origin}: ${reason(e)}`));
      }
      if (isAborted(signal)) break;
      ctx.stderr.write(`tail: connection lost after seq ${last}; reconnecting\n`);
      await pause(RECONNECT_MS, signal);
    }
    return ok(0);
  });
}
