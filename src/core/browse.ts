// Reading the log for people and tools (GET /api/messages): a page at a time, the messages the log holds in
// seq order, matching a pattern, with where the next page starts; or one message by its seq. A page reads a
// bounded number of rows, so a pattern that matches little never makes one request read the whole log.
import { errAsync, ok, okAsync, safeTry, type ResultAsync } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';
import { isExactPattern, topicMatches } from '../protocol/topics.js';
import type { EventStore, MessageRecord, StorageError } from './store-port.js';
import type { StoredMessage } from './types.js';

export interface BrowseRequest {
  readonly fromSeq: number;
  readonly pattern: string | undefined;
  readonly limit: number;
  /** Rows read at most; the page ends there, with fewer messages, when the pattern matched few. */
  readonly scanRows: number;
  /** The last seq announced: everything up to it is readable. */
  readonly head: number;
  readonly now: number;
}

export interface BrowsePage {
  readonly messages: MessageRecord[];
  /** The fromSeq of the next page. */
  readonly nextSeq: number;
}

/** Whether the log still holds the message: stored, and its TTL not passed (retention removes it soon). */
export function isHeld(message: StoredMessage, now: number): boolean {
  return message.ttlSeconds === 0 || message.createdAt + message.ttlSeconds * 1000 > now;
}

/** One message the log holds, with its status; `now` is read once the store answers. */
export function findMessage(store: EventStore, seq: number, now: () => number): ResultAsync<MessageRecord, BrokerError<'UNKNOWN_MESSAGE' | 'UNAVAILABLE'>> {
  return store
    .message(seq)
    .andThen((m) => (m !== undefined && isHeld(m, now()) ? okAsync(m) : errAsync(brokerError('UNKNOWN_MESSAGE', `the log holds no message ${seq}`))));
}

export function browse(store: EventStore, request: BrowseRequest): ResultAsync<BrowsePage, StorageError> {
  const { pattern, limit, scanRows, head, now } = request;
  // One exact topic reads along its index, not through the whole log.
  const topic = pattern !== undefined && isExactPattern(pattern) ? pattern : undefined;
  return safeTry(async function* () {
    const messages: MessageRecord[] = [];
    let from = Math.max(1, request.fromSeq);
    let scanned = 0;
    while (messages.length < limit && scanned < scanRows) {
      const want = Math.min(scanRows - scanned, Math.max(limit - messages.length, 100));
      const rows = yield* store.readRecords(from, want, topic);
      scanned += rows.length;
      for (const row of rows) {
        from = row.seq + 1;
        if ((pattern === undefined || topicMatches(pattern, row.topic)) && isHeld(row, now)) {
          messages.push(row);
          if (messages.length === limit) return ok({ messages, nextSeq: from });
        }
      }
      // The end of the log: seqs up to the head that were not read were deleted, or never used.
      if (rows.length < want) return ok({ messages, nextSeq: Math.max(from, head + 1) });
    }
    return ok({ messages, nextSeq: from });
  });
}
