// Topic and pattern grammar (PROTOCOL.md §2): validation, normalisation and matching one pattern against
// one topic. A pure leaf: no I/O, no clocks, no Node globals; settings, front-ends and the core share it.

import { err, ok, type Result } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';

const MAX_TOPIC_BYTES = 255;

// Fast path for the common case (every publish checks its topic); only a failure pays for a diagnosis.
const VALID_TOPIC = /^[A-Za-z0-9_:-]+(?:\.[A-Za-z0-9_:-]+)*$/;
const VALID_SEGMENT = /^[A-Za-z0-9_:-]+$/;
const INVALID_CHAR = /[^A-Za-z0-9_:-]/u;

export function checkTopic(topic: string): Result<string, BrokerError<'BAD_TOPIC'>> {
  const problem = describeProblem(topic, 'topic', false);
  return problem === undefined ? ok(topic) : err(brokerError('BAD_TOPIC', problem));
}

/**
 * Accepts a pattern and returns it normalised: a trailing `>` becomes `#`, so one subscription has one
 * spelling in storage and in PatternIndex.
 */
export function checkPattern(pattern: string): Result<string, BrokerError<'BAD_PATTERN'>> {
  const problem = describeProblem(pattern, 'pattern', true);
  return problem === undefined ? ok(normalizePattern(pattern)) : err(brokerError('BAD_PATTERN', problem));
}

/** Several patterns, normalised, in the order given, each once; the first bad one is the error. */
export function checkPatterns(raw: readonly string[]): Result<string[], BrokerError<'BAD_PATTERN'>> {
  const patterns: string[] = [];
  for (const p of raw) {
    const checked = checkPattern(p);
    if (checked.isErr()) return err(checked.error);
    if (!patterns.includes(checked.value)) patterns.push(checked.value);
  }
  return ok(patterns);
}

/** True when the pattern has no wildcard, so it matches exactly one topic: itself. */
export function isExactPattern(pattern: string): boolean {
  // In a valid pattern these characters only ever appear as whole wildcard segments.
  return !/[*#>]/.test(pattern);
}

/** Whether a valid pattern matches a valid topic. */
export function topicMatches(pattern: string, topic: string): boolean {
  const wanted = pattern.split('.');
  const have = topic.split('.');
  for (let i = 0; i < wanted.length; i++) {
    const segment = wanted[i];
    if (segment === '#' || segment === '>') return true; // always last: swallows what is left, even nothing
    if (i >= have.length) return false;
    if (segment !== '*' && segment !== have[i]) return false;
  }
  return wanted.length === have.length;
}

/** A trailing `>` spelled as `#`, so that one subscription has one spelling. */
export function normalizePattern(pattern: string): string {
  if (pattern === '>') return '#';
  return pattern.endsWith('.>') ? `${pattern.slice(0, -1)}#` : pattern;
}

/** Undefined when `text` is valid, else one line saying what is wrong. */
function describeProblem(text: string, kind: 'topic' | 'pattern', allowWildcards: boolean): string | undefined {
  if (text.length === 0) return `${kind} is empty`;
  // A valid topic is ASCII, so its length is its byte count.
  if (!allowWildcards && text.length <= MAX_TOPIC_BYTES && VALID_TOPIC.test(text)) return undefined;
  const bytes = utf8Length(text);
  if (bytes > MAX_TOPIC_BYTES) return `${kind} is ${bytes} bytes, over the ${MAX_TOPIC_BYTES}-byte limit`;
  const segments = text.split('.');
  const shown = quote(text);
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] ?? '';
    if (segment === '') return `${kind} ${shown} has an empty segment`;
    if (VALID_SEGMENT.test(segment)) continue;
    if (allowWildcards) {
      if (segment === '*') continue;
      if (segment === '#' || segment === '>') {
        if (i === segments.length - 1) continue;
        return `${kind} ${shown}: "${segment}" may only be the last segment`;
      }
      if (/[*#>]/.test(segment)) {
        return `${kind} ${shown}: a wildcard must be a whole segment, not part of "${quoteRaw(segment)}"`;
      }
    }
    const bad = INVALID_CHAR.exec(segment)?.[0] ?? segment;
    return `${kind} ${shown} has an invalid character ${quote(bad)} (allowed: letters, digits, _ - : and . between segments)`;
  }
  return undefined;
}

// Reasons go to clients on one line: escape control characters and keep a huge input from filling it.
function quote(text: string): string {
  return `"${quoteRaw(text)}"`;
}

function quoteRaw(text: string): string {
  const short = text.length > 64 ? `${text.slice(0, 64)}…` : text;
  return JSON.stringify(short).slice(1, -1);
}

// Buffer.byteLength would do, but this module stays free of Node globals so any runtime can share it.
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
