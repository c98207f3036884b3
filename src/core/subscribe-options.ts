// What callers pass to subscribe and saveConsumer, and the pure checks that turn it into validated values (a
// stored consumer's filter too). No I/O and no clocks: the broker and the consumer registry run these before
// they touch any state.
import { err, ok, type Result } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';
import { compileFilter, type MessageFilter } from '../protocol/filter.js';
import { checkConsumerLimits, type ConsumerLimitsInput } from '../protocol/pull.js';
import { checkPushFormat, type PushFormat } from '../protocol/push-format.js';
import { checkBackoffMs } from '../protocol/redelivery-backoff.js';
import { checkPatterns } from '../protocol/topics.js';
import type { StartAt } from './types.js';

export interface SubscribeOptions {
  /** One pattern, or several (a message matching any is delivered once). */
  readonly pattern: string | readonly string[];
  /** Where to start when there is no stored position to resume (or, for a durable consumer, to rewind to). */
  readonly start?: StartAt | undefined;
  /** Durable consumer name: position stored, deliveries must be acked. */
  readonly consumer?: string | undefined;
  /** Queue group label; subscriptions of one consumer split its messages. */
  readonly group?: string | undefined;
  /** Unacked deliveries it may hold; absent: its consumer's max_in_flight, else EVENTBUS_MAX_IN_FLIGHT (no wider than the consumer's). */
  readonly maxInFlight?: number | undefined;
  /** Content filter (README, "Filters"). */
  readonly filter?: unknown;
  /**
   * Durable consumers: the redelivery backoff to set on the consumer (PROTOCOL.md §11), ms before its 1st, 2nd, …
   * redelivery of a message; null removes it; absent leaves the consumer's as it is.
   */
  readonly backoffMs?: readonly number[] | null | undefined;
}

export type SubscribeError = BrokerError<'BAD_PATTERN' | 'BAD_ARGS' | 'UNAVAILABLE'>;

export interface ConsumerInput {
  readonly id: string;
  /** Push address (`tcp://…` etc.), or null for a consumer read over the API. */
  readonly address: string | null;
  readonly patterns: readonly string[];
  readonly filter?: unknown;
  /**
   * A lease (ms): the consumer is removed once this long passes without another save giving it again (a side
   * replay's temporary consumer, whose command may be killed). Absent: an existing lease is kept as it is.
   */
  readonly leaseMs?: number;
  /** The redelivery backoff (PROTOCOL.md §11); null removes it; absent: an existing one is kept as it is. */
  readonly backoffMs?: readonly number[] | null | undefined;
  /**
   * What its http(s) pushes carry (PROTOCOL.md §13); null asks for the default again; absent: the one it has is
   * kept. `cloudevents` needs an http:// or https:// address.
   */
  readonly format?: PushFormat | null | undefined;
  /** Its own limits over the settings' (PROTOCOL.md §8): a number sets one, null gives it back to the setting, absent keeps it. */
  readonly limits?: ConsumerLimitsInput | undefined;
}

/** A content filter compiled for matching, with the JSON stored on the consumer's row (null: no filter). */
export interface OptionalFilter {
  readonly filter: MessageFilter | undefined;
  readonly json: string | null;
}

export interface CheckedSubscribe {
  readonly patterns: string[];
  readonly filter: OptionalFilter;
  /** Undefined: the consumer's window. */
  readonly maxInFlight: number | undefined;
  /** Undefined: the consumer's is kept. */
  readonly backoffMs: readonly number[] | null | undefined;
}

export interface CheckedConsumer {
  readonly patterns: string[];
  readonly filter: OptionalFilter;
  /** Undefined: the consumer's is kept. */
  readonly backoffMs: readonly number[] | null | undefined;
  /** Null: the default; undefined: the consumer's is kept (whether it fits the address is the registry's check). */
  readonly format: 'cloudevents' | null | undefined;
  readonly limits: ConsumerLimitsInput;
}

const CONSUMER_ID = /^[A-Za-z0-9_.:@-]{1,255}$/;

export function checkSubscribe(options: SubscribeOptions): Result<CheckedSubscribe, SubscribeError> {
  const raw = typeof options.pattern === 'string' ? [options.pattern] : options.pattern;
  if (raw.length === 0) return err(brokerError('BAD_PATTERN', 'at least one pattern is needed'));
  const patterns = checkPatterns(raw);
  if (patterns.isErr()) return err(patterns.error);
  // A group splits one durable consumer's messages; without a consumer there is nothing to split, and
  // delivering everything to each member would silently break what a queue-group user expects.
  if (options.group !== undefined && options.consumer === undefined) {
    return err(brokerError('BAD_ARGS', 'group needs a consumer: subscriptions with the same consumer and group split its messages'));
  }
  // Only a durable consumer's deliveries are redelivered: on anything else a backoff would never apply.
  if (options.backoffMs !== undefined && options.consumer === undefined) {
    return err(brokerError('BAD_ARGS', 'backoff_ms needs a consumer: only durable consumers have their messages redelivered'));
  }
  const backoffMs = checkOptionalBackoff(options.backoffMs);
  if (backoffMs.isErr()) return err(backoffMs.error);
  const maxInFlight = options.maxInFlight;
  if (maxInFlight !== undefined && (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1)) return err(brokerError('BAD_ARGS', 'max_in_flight must be a whole number from 1'));
  const start = options.start;
  if (start?.kind === 'seq' && (!Number.isSafeInteger(start.seq) || start.seq < 0)) {
    return err(brokerError('BAD_ARGS', 'starting_seq must be a whole number, 0 or more'));
  }
  if (start?.kind === 'time' && (!Number.isSafeInteger(start.timeMs) || start.timeMs < 0)) {
    return err(brokerError('BAD_ARGS', 'starting_time must be a whole number of ms since the epoch'));
  }
  const filter = compileOptionalFilter(options.filter);
  if (filter.isErr()) return err(filter.error);
  return ok({ patterns: patterns.value, filter: filter.value, maxInFlight, backoffMs: backoffMs.value });
}

/** Checks saveConsumer's input in the order callers see errors: name, then patterns, then filter, then backoff, then format, then limits. */
export function checkConsumer(input: ConsumerInput): Result<CheckedConsumer, SubscribeError> {
  const id = checkConsumerId(input.id);
  if (id.isErr()) return err(id.error);
  const patterns = checkPatterns(input.patterns);
  if (patterns.isErr()) return err(patterns.error);
  const filter = compileOptionalFilter(input.filter);
  if (filter.isErr()) return err(filter.error);
  const backoffMs = checkOptionalBackoff(input.backoffMs);
  if (backoffMs.isErr()) return err(backoffMs.error);
  const format = input.format === undefined ? ok(undefined) : checkPushFormat(input.format);
  if (format.isErr()) return err(format.error);
  const limits = checkConsumerLimits(input.limits ?? {});
  if (limits.isErr()) return err(limits.error);
  return ok({ patterns: patterns.value, filter: filter.value, backoffMs: backoffMs.value, format: format.value, limits: limits.value });
}

function checkOptionalBackoff(value: unknown): Result<readonly number[] | null | undefined, BrokerError<'BAD_ARGS'>> {
  return value === undefined ? ok(undefined) : checkBackoffMs(value);
}

export function checkConsumerId(id: string): Result<string, BrokerError<'BAD_ARGS'>> {
  if (CONSUMER_ID.test(id)) return ok(id);
  return err(brokerError('BAD_ARGS', `consumer name ${JSON.stringify(id.slice(0, 64))} must be 1-255 letters, digits or _ . : @ -`));
}

export function compileOptionalFilter(spec: unknown): Result<OptionalFilter, BrokerError<'BAD_ARGS'>> {
  if (spec === undefined || spec === null) return ok({ filter: undefined, json: null });
  return compileFilter(spec).map((filter) => ({ filter, json: JSON.stringify(spec) }));
}

/** A consumer's stored filter, compiled. */
export function parseStoredFilter(json: string | null): Result<OptionalFilter, BrokerError<'BAD_ARGS'>> {
  if (json === null) return compileOptionalFilter(undefined);
  try {
    return compileOptionalFilter(JSON.parse(json));
  } catch {
    return err(brokerError('BAD_ARGS', 'the stored filter is not valid JSON'));
  }
}
