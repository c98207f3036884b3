// Pulling a durable consumer's messages over the API (PROTOCOL.md §8: fetch, ack, nack, extend) and the limits a
// consumer may carry of its own (`ack_timeout_ms`, `max_deliveries`, `max_in_flight`): their bounds, and the one
// check every front-end and the broker API run. Pure.
import { err, ok, type Result } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';
import { MAX_BACKOFF_WAIT_MS } from './redelivery-backoff.js';

/** A fetch takes at most this many messages (PROTOCOL.md §8), and this many when it names none. */
export const MAX_FETCH = 1000;
export const DEFAULT_FETCH = 10;
/** The longest a fetch waits for a first message (PROTOCOL.md §8): past it a proxy or client may give up first. */
export const MAX_FETCH_WAIT_MS = 30_000;
/** The furthest an extend moves an ack deadline (PROTOCOL.md §8), and the longest ack timeout a consumer may have. */
export const MAX_ACK_DEADLINE_MS = 43_200_000;
/** The longest a nack may ask the redelivery to wait: the backoff's bound, for the same reason. */
export const MAX_NACK_DELAY_MS = MAX_BACKOFF_WAIT_MS;
// Far past any useful figure, and inside the 32-bit integer columns that keep them and the attempt counts.
export const MAX_DELIVERIES_LIMIT = 1_000_000;
export const MAX_IN_FLIGHT_LIMIT = 1_000_000;

type BadArgs = BrokerError<'BAD_ARGS'>;

/** What each check says of a bad value, for the front-ends' schemas too. */
export const RULES = {
  max: `max must be a whole number from 1 to ${MAX_FETCH}`,
  waitMs: `wait_ms must be a whole number of ms from 0 to ${MAX_FETCH_WAIT_MS}`,
  seqs: 'seqs must be whole numbers from 1',
  extendMs: `ms must be a whole number of ms from 0 to ${MAX_ACK_DEADLINE_MS} (12 h)`,
  nackDelayMs: `delay_ms must be a whole number of ms from 0 to ${MAX_NACK_DELAY_MS} (24 h)`,
} as const;

const isWhole = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;

/** What a fetch asks for, checked. */
export interface FetchRequest {
  readonly max: number;
  readonly waitMs: number;
}

export function checkFetch(max: number | undefined, waitMs: number | undefined): Result<FetchRequest, BadArgs> {
  const n = max ?? DEFAULT_FETCH;
  if (!isWhole(n, 1, MAX_FETCH)) return err(brokerError('BAD_ARGS', RULES.max));
  const wait = waitMs ?? 0;
  if (!isWhole(wait, 0, MAX_FETCH_WAIT_MS)) return err(brokerError('BAD_ARGS', RULES.waitMs));
  return ok({ max: n, waitMs: wait });
}

/** The seqs of an ack, nack or extend: whole numbers from 1 (whether each was delivered is the broker's to say). */
export function checkSeqs(seqs: readonly unknown[]): Result<readonly number[], BadArgs> {
  for (const seq of seqs) if (!isWhole(seq, 1, Number.MAX_SAFE_INTEGER)) return err(brokerError('BAD_ARGS', RULES.seqs));
  return ok(seqs as readonly number[]);
}

export function checkExtendMs(ms: unknown): Result<number, BadArgs> {
  return isWhole(ms, 0, MAX_ACK_DEADLINE_MS) ? ok(ms) : err(brokerError('BAD_ARGS', RULES.extendMs));
}

export function checkNackDelay(delayMs: unknown): Result<number | undefined, BadArgs> {
  if (delayMs === undefined) return ok(undefined);
  return isWhole(delayMs, 0, MAX_NACK_DELAY_MS) ? ok(delayMs) : err(brokerError('BAD_ARGS', RULES.nackDelayMs));
}

/** A consumer's own limits as given: a number sets one, null gives it back to the setting, undefined keeps it. */
export interface ConsumerLimitsInput {
  readonly ackTimeoutMs?: number | null | undefined;
  readonly maxDeliveries?: number | null | undefined;
  readonly maxInFlight?: number | null | undefined;
}

/** Each limit's wire name and bounds, for the check and the documents. */
export const CONSUMER_LIMITS = {
  ackTimeoutMs: { name: 'ack_timeout_ms', max: MAX_ACK_DEADLINE_MS, setting: 'EVENTBUS_ACK_TIMEOUT_MS' },
  maxDeliveries: { name: 'max_deliveries', max: MAX_DELIVERIES_LIMIT, setting: 'EVENTBUS_MAX_DELIVERIES' },
  maxInFlight: { name: 'max_in_flight', max: MAX_IN_FLIGHT_LIMIT, setting: 'EVENTBUS_MAX_IN_FLIGHT' },
} as const;

/** What the check says of a bad limit. */
export const limitRule = (key: keyof typeof CONSUMER_LIMITS): string =>
  `${CONSUMER_LIMITS[key].name} must be a whole number from 1 to ${CONSUMER_LIMITS[key].max}, or null for ${CONSUMER_LIMITS[key].setting}`;

export function checkConsumerLimits(input: ConsumerLimitsInput): Result<ConsumerLimitsInput, BadArgs> {
  for (const key of Object.keys(CONSUMER_LIMITS) as (keyof typeof CONSUMER_LIMITS)[]) {
    const value = input[key];
    if (value !== undefined && value !== null && !isWhole(value, 1, CONSUMER_LIMITS[key].max)) return err(brokerError('BAD_ARGS', limitRule(key)));
  }
  return ok(input);
}
