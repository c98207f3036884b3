// A durable consumer's redelivery backoff (PROTOCOL.md §11) as users give it: `backoff_ms`, the waits before
// its first, second, … redelivery of a message. The one check every front-end and the broker API run. Pure.
import { err, ok, type Result } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';

// Longer than a day is a schedule, not a retry; it also keeps every wait far below setTimeout's limit
// (2^31 - 1 ms, about 24.8 days), past which Node fires the timer at once.
export const MAX_BACKOFF_WAIT_MS = 86_400_000;

// Each step is a wait someone chose; 32 covers any list written by hand (and past EVENTBUS_MAX_DELIVERIES
// steps are never reached), while keeping the consumer's row and every answer that shows it small.
export const MAX_BACKOFF_STEPS = 32;

/** What the check says of a bad list, for the front-ends' documents too. */
export const BACKOFF_RULE = `backoff_ms must be an array of 1 to ${MAX_BACKOFF_STEPS} whole numbers of ms, each from 0 to ${MAX_BACKOFF_WAIT_MS}`;

/** `backoff_ms` as given (a JSON value), checked; null clears a consumer's backoff. */
export function checkBackoffMs(value: unknown): Result<readonly number[] | null, BrokerError<'BAD_ARGS'>> {
  if (value === null) return ok(null);
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_BACKOFF_STEPS) return err(brokerError('BAD_ARGS', BACKOFF_RULE));
  for (const n of value as unknown[]) {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_BACKOFF_WAIT_MS) return err(brokerError('BAD_ARGS', BACKOFF_RULE));
  }
  return ok(value as number[]);
}
