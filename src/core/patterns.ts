// Topic and pattern rules (PROTOCOL.md §2): validation, matching, and PatternIndex, the trie the
// dispatcher asks "who wants this topic?". Pure: no I/O, no clocks; imports only neverthrow and errors.

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

function normalizePattern(pattern: string): string {
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
    return `${kind} ${shown} has an invalid character ${quote(bad)} (allowed: letters, digits, _ - :)`;
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

interface TrieNode<T> {
  readonly literals: Map<string, TrieNode<T>>;
  star: TrieNode<T> | undefined;
  /** Values whose pattern ends at this node. */
  readonly exact: Set<T>;
  /** Values whose pattern ends at this node followed by `#`: they match here and everywhere below. */
  readonly rest: Set<T>;
}

const newNode = <T>(): TrieNode<T> => ({ literals: new Map(), star: undefined, exact: new Set(), rest: new Set() });

const isEmptyNode = <T>(node: TrieNode<T>): boolean =>
  node.literals.size === 0 && node.star === undefined && node.exact.size === 0 && node.rest.size === 0;

// 10,000 topics: a broker's working set of hot topics fits, while a flood of unique topics (one per
// user, per order) costs at most a few MB before the cache starts over.
const MATCH_CACHE_ENTRIES = 10_000;

const NO_VALUES: readonly never[] = Object.freeze([]);

/**
 * Maps patterns to values (subscriptions) and answers which values a topic reaches. Lookups walk a
 * segment trie, so their cost grows with the topic's depth rather than with the number of patterns,
 * and repeated topics are answered from a cache without allocating.
 */
export class PatternIndex<T> {
  readonly #root: TrieNode<T> = newNode();
  /** (pattern → values) pairs as registered, patterns normalised; makes add and remove idempotent. */
  readonly #pairs = new Map<string, Set<T>>();
  readonly #cache = new Map<string, readonly T[]>();
  #size = 0;

  /** How many (pattern, value) pairs are registered. */
  get size(): number {
    return this.#size;
  }

  /** Registers a pair; the pattern must be valid (an invalid one is a caller bug and throws). */
  add(pattern: string, value: T): void {
    const checked = checkPattern(pattern);
    if (checked.isErr()) throw new Error(`PatternIndex.add: ${checked.error.reason}`);
    const key = checked.value;
    let values = this.#pairs.get(key);
    if (values?.has(value) === true) return;
    if (values === undefined) {
      values = new Set();
      this.#pairs.set(key, values);
    }
    values.add(value);
    this.#size++;

    let node = this.#root;
    for (const segment of key.split('.')) {
      if (segment === '#') {
        node.rest.add(value);
        this.#cache.clear();
        return;
      }
      if (segment === '*') {
        node.star ??= newNode();
        node = node.star;
      } else {
        let child = node.literals.get(segment);
        if (child === undefined) {
          child = newNode();
          node.literals.set(segment, child);
        }
        node = child;
      }
    }
    node.exact.add(value);
    this.#cache.clear();
  }

  /** Unregisters a pair; a pair that is not registered is ignored. */
  remove(pattern: string, value: T): void {
    const key = normalizePattern(pattern);
    const values = this.#pairs.get(key);
    if (values === undefined || !values.delete(value)) return;
    if (values.size === 0) this.#pairs.delete(key);
    this.#size--;
    this.#cache.clear();

    // Walk down remembering the way, then prune nodes left empty so the trie does not keep dead branches.
    const path: { parent: TrieNode<T>; segment: string; node: TrieNode<T> }[] = [];
    let node = this.#root;
    const segments = key.split('.');
    const endsWithRest = segments[segments.length - 1] === '#';
    if (endsWithRest) segments.pop();
    for (const segment of segments) {
      const child = segment === '*' ? node.star : node.literals.get(segment);
      if (child === undefined) throw new Error(`PatternIndex: trie lost the branch for ${JSON.stringify(key)}`);
      path.push({ parent: node, segment, node: child });
      node = child;
    }
    (endsWithRest ? node.rest : node.exact).delete(value);
    for (let i = path.length - 1; i >= 0; i--) {
      const step = path[i];
      if (step === undefined || !isEmptyNode(step.node)) break;
      if (step.segment === '*') step.parent.star = undefined;
      else step.parent.literals.delete(step.segment);
    }
  }

  /**
   * Every value with at least one pattern matching `topic`, each once. The array is shared with the
   * cache and frozen: callers must not (and cannot) modify it.
   */
  match(topic: string): readonly T[] {
    const cached = this.#cache.get(topic);
    if (cached !== undefined) return cached;
    if (this.#size === 0) return NO_VALUES;

    const found = new Set<T>();
    collect(this.#root, topic.split('.'), 0, found);
    const result: readonly T[] = found.size === 0 ? NO_VALUES : Object.freeze([...found]);
    if (this.#cache.size >= MATCH_CACHE_ENTRIES) this.#cache.clear();
    this.#cache.set(topic, result);
    return result;
  }
}

function collect<T>(node: TrieNode<T>, segments: readonly string[], i: number, found: Set<T>): void {
  for (const value of node.rest) found.add(value); // `#` also matches zero remaining segments
  const segment = segments[i];
  if (segment === undefined) {
    for (const value of node.exact) found.add(value);
    return;
  }
  const literal = node.literals.get(segment);
  if (literal !== undefined) collect(literal, segments, i + 1, found);
  if (node.star !== undefined) collect(node.star, segments, i + 1, found);
}
