// Publishing many messages over the HTTP API, for `publish --ndjson` and `import`: the batch form of POST
// /api/publish (all or none of a batch stored), a bounded number of batches in flight, the seqs answered in
// input order. A batch the broker refuses stops the run, naming the input lines it held.
import { err, ok, type Result } from 'neverthrow';
import type { z } from 'zod';
import type { PublishedBatch, PublishMessage } from '../protocol/http-bodies.js';
import { failure, type CliFailure } from './failure.js';
import { callApi, type Remote } from './remote.js';

export interface PublishLimits {
  /** Messages per request. */
  readonly batch: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
}

/** A request body stays well under the broker's default EVENTBUS_HTTP_MAX_BODY (16 MiB) whatever the batch size. */
const BATCH_BYTES = 1 << 20;

export interface Numbered {
  /** The input line it came from, from 1. */
  readonly line: number;
  readonly message: PublishMessage;
}

interface Sent {
  readonly first: number;
  readonly last: number;
  readonly answer: Promise<Result<z.infer<typeof PublishedBatch>, CliFailure>>;
}

/** What a run published: every message, and how many of them repeated a message id already stored. */
export interface PublishedCount {
  readonly messages: number;
  readonly duplicates: number;
}

/**
 * Publishes what `messages` yields (a failure it yields stops the run) and calls `published` with each batch's
 * seqs, in input order. Resolves with the numbers published.
 */
export async function publishAll(
  remote: Remote,
  messages: AsyncIterable<Result<Numbered, CliFailure>>,
  limits: PublishLimits,
  published: (seqs: readonly number[]) => void,
): Promise<Result<PublishedCount, CliFailure>> {
  const inFlight: Sent[] = [];
  let count = 0;
  let duplicates = 0;
  const settleOldest = async (): Promise<Result<void, CliFailure>> => {
    const sent = inFlight.shift()!;
    const answer = await sent.answer;
    if (answer.isErr()) {
      const lines = sent.first === sent.last ? `line ${sent.first}` : `lines ${sent.first}-${sent.last}`;
      return err(failure(answer.error.code, `${lines}: ${answer.error.message}`));
    }
    count += answer.value.seqs.length;
    duplicates += answer.value.duplicates.filter(Boolean).length;
    // Null where a message was stored for later (it has no seq yet).
    published(answer.value.seqs.filter((seq): seq is number => seq !== null));
    return ok(undefined);
  };
  let batch: Numbered[] = [];
  let bytes = 0;
  const send = async (): Promise<Result<void, CliFailure>> => {
    if (batch.length === 0) return ok(undefined);
    const body = { messages: batch.map((n) => n.message) };
    inFlight.push({ first: batch[0]!.line, last: batch.at(-1)!.line, answer: Promise.resolve(callApi(remote, 'POST', '/api/publish', body)).then((r) => r.map((a) => a as z.infer<typeof PublishedBatch>)) });
    batch = [];
    bytes = 0;
    return inFlight.length >= limits.concurrency ? settleOldest() : ok(undefined);
  };
  // What is in flight is settled (its seqs printed) before any failure is told.
  const drain = async (): Promise<Result<void, CliFailure>> => {
    while (inFlight.length > 0) {
      const settled = await settleOldest();
      if (settled.isErr()) return settled;
    }
    return ok(undefined);
  };
  for await (const next of messages) {
    if (next.isErr()) return (await drain()).andThen(() => err(next.error));
    const size = JSON.stringify(next.value.message).length;
    if (batch.length > 0 && bytes + size > BATCH_BYTES) {
      const sent = await send();
      if (sent.isErr()) return err(sent.error);
    }
    batch.push(next.value);
    bytes += size;
    if (batch.length >= limits.batch) {
      const sent = await send();
      if (sent.isErr()) return err(sent.error);
    }
  }
  const last = await send();
  if (last.isErr()) return err(last.error);
  return (await drain()).map(() => ({ messages: count, duplicates }));
}
