// Reading the log over the HTTP API (GET /api/messages, page after page) and the broker's head (GET
// /api/stats), for the commands that read a slice of it: tail --last/--no-follow, export, replay --dry-run.
import { okAsync, type ResultAsync } from 'neverthrow';
import type { z } from 'zod';
import type { Message, MessagesPage, Stats } from '../protocol/http-bodies.js';
import type { CliFailure } from './failure.js';
import { callApi, type Remote } from './remote.js';

export type WireMessage = z.infer<typeof Message>;

/** Where a slice starts: a seq, the first message at or after a time, or seq 1. */
export interface SliceStart {
  readonly fromSeq?: number | undefined;
  readonly fromTime?: number | undefined;
}

/** The seq of the last message stored, as the broker says now. */
export function headSeq(remote: Remote): ResultAsync<number, CliFailure> {
  return callApi(remote, 'GET', '/api/stats').map((answer) => (answer as z.infer<typeof Stats>).head_seq);
}

/** One page of `pattern`'s messages from `from`; `limit` as the API caps it. */
export function messagesPage(remote: Remote, from: SliceStart, pattern: string | undefined, limit: number): ResultAsync<z.infer<typeof MessagesPage>, CliFailure> {
  const query = new URLSearchParams({ limit: String(limit) });
  if (from.fromSeq !== undefined) query.set('from_seq', String(from.fromSeq));
  else if (from.fromTime !== undefined) query.set('from_time', String(from.fromTime));
  if (pattern !== undefined) query.set('pattern', pattern);
  return callApi(remote, 'GET', `/api/messages?${query.toString()}`).map((answer) => answer as z.infer<typeof MessagesPage>);
}

// The API's own cap on a page.
const PAGE = 1000;

/**
 * Calls `each` with every message of `pattern` from `from` up to `toSeq` (inclusive), in seq order, a page
 * at a time; `scanned` after each page says how far the log has been read. Stops early when `each` answers false.
 */
export function readSlice(
  remote: Remote,
  from: SliceStart,
  toSeq: number,
  pattern: string | undefined,
  each: (m: WireMessage) => unknown,
  scanned: (nextSeq: number) => void = () => {},
): ResultAsync<void, CliFailure> {
  const step = (start: SliceStart): ResultAsync<void, CliFailure> =>
    messagesPage(remote, start, pattern, PAGE).andThen((page) => {
      for (const m of page.messages) {
        if (m.seq > toSeq || each(m) === false) return okAsync(undefined);
      }
      scanned(Math.min(page.next_seq, toSeq + 1));
      // An empty page with next_seq where it started is the end of the log.
      const ended = page.next_seq > toSeq || (page.messages.length === 0 && page.next_seq === start.fromSeq);
      return ended ? okAsync(undefined) : step({ fromSeq: page.next_seq });
    });
  return step(from);
}
