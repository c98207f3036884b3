// The values the operator commands take on their command line (PROTOCOL.md §9): seqs, counts, times (ms since
// the epoch or ISO 8601), durations and filter JSON. Each parser throws commander's InvalidArgumentError, which
// the program reports as a usage error (exit 2) naming the option.
import { InvalidArgumentError } from 'commander';
import { parseDurationMs } from '../config/values.js';

const WHOLE = /^\d{1,16}$/;

/** A seq: 1 or more. */
export function seqArg(text: string): number {
  if (!WHOLE.test(text) || Number(text) < 1) throw new InvalidArgumentError('expected a seq (a whole number, 1 or more)');
  return Number(text);
}

/** A count or a rate: 1 or more. */
export function countArg(text: string): number {
  if (!WHOLE.test(text) || Number(text) < 1) throw new InvalidArgumentError('expected a whole number, 1 or more');
  return Number(text);
}

/** A duration in seconds, more than 0 (decimals allowed: `0.5`). */
export function secondsArg(text: string): number {
  if (!/^\d{1,9}(\.\d{1,3})?$/.test(text) || Number(text) <= 0) throw new InvalidArgumentError('expected a number of seconds, more than 0');
  return Number(text);
}

/** A time: ms since the epoch, or an ISO 8601 date and time (`2026-12-01T22:00:00Z`). */
export function timeArg(text: string): number {
  if (WHOLE.test(text)) return Number(text);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) throw new InvalidArgumentError('expected ms since the epoch or an ISO 8601 time such as 2026-12-01T22:00:00Z');
  return ms;
}

/** A duration as the settings take it (`90s`, `10m`, `24h`, `1d`, `500ms`; seconds when bare), in ms. */
export function durationArg(text: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined || !Number.isSafeInteger(ms)) throw new InvalidArgumentError('expected a whole number with ms, s, m, h or d, such as 90s, 10m, 24h or 1d');
  return ms;
}

/** A wait or a delay: whole ms when bare (as the API's `wait_ms` and `delay_ms`), or with a unit (`500ms`, `10s`, `1m`). */
export function waitArg(text: string): number {
  const ms = /^\d{1,16}$/.test(text) ? Number(text) : parseDurationMs(text);
  if (ms === undefined || !Number.isSafeInteger(ms)) throw new InvalidArgumentError('expected whole ms, or a number with ms, s, m or h, such as 500, 10s or 1m');
  return ms;
}

/** A filter as subscribe takes it: a JSON object (the broker judges its paths and operators). */
export function filterArg(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError('expected a filter as JSON, such as \'{"payload.amount":{"$gt":100}}\'');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError('expected a JSON object');
  return value as Record<string, unknown>;
}

/** A repeatable option's values, in order. */
export function collect<T>(parse: (text: string) => T): (text: string, previous: T[] | undefined) => T[] {
  return (text, previous) => [...(previous ?? []), parse(text)];
}
