// PatternIndex, the trie the dispatcher asks "who wants this topic?", for many patterns at once. The rules
// of one topic or pattern are in protocol/topics.ts.
import { checkPattern, normalizePattern } from '../protocol/topics.js';

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
    if (checked.isErr()) throw new Error(`PatternIndex.add: ${checked.error.message}`);
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
