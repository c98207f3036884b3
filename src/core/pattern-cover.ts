// Whether a subscription's pattern is covered by the patterns a credential may read (PROTOCOL.md §12): every
// topic the pattern can match is matched by one of them. Patterns are read as automata over segments, run
// side by side: the allowed ones as a set of states, the asked one driving them. Where the asked pattern has
// `*` or `#`, any segment may come, and segments differ only in which literal of the allowed patterns they
// equal, so one segment of each such class (and one equal to none) stands for all.
import { normalizePattern } from '../protocol/topics.js';

/** Pattern `i` of the allowed, its segment `at` next: encoded as one number, i * STRIDE + at. */
type State = number;
// A pattern has at most 128 segments (255 bytes with a dot between each).
const STRIDE = 256;

/**
 * Whether every topic `pattern` matches is matched by one of `allowed`. All must be valid patterns (§2); `>`
 * is read as `#`.
 */
export function patternCovered(pattern: string, allowed: readonly string[]): boolean {
  return new Cover(allowed).covers(normalizePattern(pattern).split('.'));
}

class Cover {
  readonly #allowed: readonly (readonly string[])[];
  /** One segment of each class the allowed patterns tell apart: each of their literals, and one that is none. */
  readonly #classes: readonly string[];
  /** Whether every continuation ends in a match, by set of states: answered once each. */
  readonly #universal = new Map<string, boolean>();
  /** #walk's answers, by where in the asked pattern and set of states: a `*` tries every class. */
  readonly #walked = new Map<string, boolean>();

  constructor(allowed: readonly string[]) {
    this.#allowed = allowed.map((p) => normalizePattern(p).split('.'));
    const literals = new Set<string>();
    for (const segments of this.#allowed) for (const s of segments) if (s !== '*' && s !== '#') literals.add(s);
    // A segment may not contain a space (§2), so this one equals no literal.
    this.#classes = [...literals, ' '];
  }

  covers(asked: readonly string[]): boolean {
    return this.#walk(asked, 0, this.#start(), false);
  }

  #start(): State[] {
    return this.#allowed.map((_, i) => i * STRIDE);
  }

  /** Every topic from here on matches: `asked` from `at` on, with the allowed patterns in `states`. */
  #walk(asked: readonly string[], at: number, states: readonly State[], consumed: boolean): boolean {
    if (at === asked.length) return !consumed || states.some((s) => this.#accepting(s));
    const segment = asked[at]!;
    if (segment === '#') return this.#universalFrom(states, consumed);
    if (segment !== '*') return this.#walk(asked, at + 1, this.#step(states, segment), true);
    const key = `${at}:${states.join(',')}`;
    let answer = this.#walked.get(key);
    if (answer === undefined) {
      answer = this.#classes.every((c) => this.#walk(asked, at + 1, this.#step(states, c), true));
      this.#walked.set(key, answer);
    }
    return answer;
  }

  /** Whether every sequence of segments (the empty one too, once a segment has come) leads to a match. */
  #universalFrom(states: readonly State[], consumed: boolean): boolean {
    const seen = new Set<string>();
    const queue: [readonly State[], boolean][] = [[states, consumed]];
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
      const [set, some] = next;
      const key = `${some ? 1 : 0}:${set.join(',')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const known = this.#universal.get(key);
      if (known === true) continue;
      if (known === false || (some && !set.some((s) => this.#accepting(s)))) {
        this.#universal.set(key, false);
        return false;
      }
      for (const c of this.#classes) queue.push([this.#step(set, c), true]);
    }
    for (const key of seen) this.#universal.set(key, true);
    return true;
  }

  /** Where `states` go on `segment`; sorted and without repeats, so equal sets have equal keys. */
  #step(states: readonly State[], segment: string): State[] {
    const out = new Set<State>();
    for (const s of states) {
      const p = this.#allowed[Math.floor(s / STRIDE)]!;
      const at = s % STRIDE;
      const want = p[at];
      if (want === '#') out.add(s);
      else if (want === '*' || want === segment) out.add(s + 1);
    }
    return [...out].sort((a, b) => a - b);
  }

  #accepting(s: State): boolean {
    const p = this.#allowed[Math.floor(s / STRIDE)]!;
    const at = s % STRIDE;
    return at === p.length || p[at] === '#';
  }
}
