// The grammars of the settings whose values are more than a number or a word: durations, retention rules
// (EVENTBUS_RETENTION) and OpenSSL cipher lists (EVENTBUS_TLS_CIPHERS).
import tls from 'node:tls';
import { err, ok, type Result } from 'neverthrow';
import type { RetentionRule } from '../config.js';
import { brokerError, type BrokerError } from '../errors.js';
import { checkPattern } from '../protocol/topics.js';

const DURATION = /^(\d+)(ms|s|m|h|d)?$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `<duration>`: a whole number with ms|s|m|h|d (seconds when bare). */
export function parseDurationMs(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[(m[2] ?? 's') as keyof typeof UNIT_MS];
}

/**
 * `EVENTBUS_RETENTION`: rules separated by `;`, each `<pattern> [max_age=<duration>] [max_messages=<n>]`; a
 * refusal says which rule is wrong (the caller names the setting).
 */
export function parseRetention(text: string): Result<RetentionRule[], BrokerError<'BAD_ARGS'>> {
  const refused = (why: string, cause?: unknown): Result<never, BrokerError<'BAD_ARGS'>> => err(brokerError('BAD_ARGS', why, cause));
  const rules: RetentionRule[] = [];
  for (const part of text.split(';').map((s) => s.trim()).filter(Boolean)) {
    const [pattern = '', ...options] = part.split(/\s+/);
    const checked = checkPattern(pattern);
    if (checked.isErr()) return refused(`rule "${part}": ${checked.error.message}`, checked.error);
    let maxAgeMs: number | undefined;
    let maxMessages: number | undefined;
    for (const option of options) {
      const [name, value = ''] = option.split('=');
      if (name === 'max_age' && parseDurationMs(value) !== undefined) maxAgeMs = parseDurationMs(value);
      else if (name === 'max_messages' && /^\d+$/.test(value) && Number(value) > 0) maxMessages = Number(value);
      else return refused(`rule "${part}": expected max_age=<number>[ms|s|m|h|d] or max_messages=<n>, got "${option}"`);
    }
    if (maxAgeMs === undefined && maxMessages === undefined) return refused(`rule "${part}" sets neither max_age nor max_messages`);
    rules.push({ pattern, maxAgeMs, maxMessages });
  }
  return ok(rules);
}

/**
 * What is wrong with an OpenSSL cipher list, or undefined. OpenSSL takes a list as long as one of its names
 * matches, so a misspelt suite would be dropped without a word: each name is tried on its own too (`!`, `-`,
 * `+` and `@` items only remove, reorder or sort).
 */
export function cipherListProblem(list: string): string | undefined {
  const tryList = (ciphers: string): string | undefined => {
    try {
      tls.createSecureContext({ ciphers });
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  };
  for (const item of list.split(/[:, ]+/)) {
    if (item === '' || /^[!+@-]/.test(item)) continue;
    if (tryList(item) !== undefined) return `${item} names no cipher suite OpenSSL knows`;
  }
  const whole = tryList(list);
  return whole === undefined ? undefined : `not an OpenSSL cipher list (${whole})`;
}
