// Pattern containment (PROTOCOL.md §12): a subscription's pattern is covered by a credential's patterns when
// every topic it can match is matched by one of them. Held against brute force over every topic of a small
// alphabet, long enough for every pattern generated, and against the examples a reader would try.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { patternCovered } from '../../src/core/pattern-cover.js';
import { topicMatches } from '../../src/protocol/topics.js';
import { smallPattern } from '../helpers/topic-arbitraries.js';

/** Every topic of segments a, b, c and d (which no generated pattern names) up to `maxSegments` long. */
function topicsUpTo(maxSegments: number): string[] {
  const all: string[] = [];
  let level = [''];
  for (let n = 1; n <= maxSegments; n++) {
    level = level.flatMap((prefix) => ['a', 'b', 'c', 'd'].map((s) => (prefix === '' ? s : `${prefix}.${s}`)));
    all.push(...level);
  }
  return all;
}

// The generated patterns have at most five segments; a topic two longer than any of them behaves as all
// longer ones do.
const TOPICS = topicsUpTo(7);

function coveredByBruteForce(pattern: string, allowed: readonly string[]): boolean {
  return TOPICS.every((t) => !topicMatches(pattern, t) || allowed.some((a) => topicMatches(a, t)));
}

describe('pattern containment', () => {
  test.each([
    ['orders.*', ['orders.#'], true],
    ['orders.#', ['orders.#'], true],
    ['orders', ['orders.#'], true],
    ['orders.>', ['orders.#'], true],
    ['#', ['orders.#'], false],
    ['orders.#', ['orders.*'], false],
    ['*.created', ['orders.*'], false],
    ['orders.eu.created', ['orders.*.created'], true],
    ['orders.#', ['orders', 'orders.*.#'], true],
    ['orders.#', ['orders', 'orders.*'], false],
    ['*', ['#'], true],
    ['#', ['*.#'], true],
    ['#', ['*', '*.*.#'], true],
    ['#', ['*', '*.*'], false],
    ['a.*', ['a.b', 'a.c'], false],
    ['payments.*', ['orders.#'], false],
    ['orders.*', [], false],
  ] as const)('%s covered by %j: %s', (pattern, allowed, expected) => {
    expect(patternCovered(pattern, allowed)).toBe(expected);
  });

  test('agrees with brute force over every topic, for generated patterns and sets of them', () => {
    fc.assert(
      fc.property(smallPattern, fc.array(smallPattern, { maxLength: 4 }), (pattern, allowed) => {
        expect(patternCovered(pattern, allowed)).toBe(coveredByBruteForce(pattern, allowed));
      }),
      { numRuns: 300 },
    );
  });

  test('answers long patterns of many wildcards against many allowed ones (work bounded by the sets of states, not the wildcards)', () => {
    const allowed = Array.from({ length: 50 }, (_, i) => `t${i}.*.x${i}.*.#`);
    const stars = Array.from({ length: 40 }, () => '*').join('.');
    expect(patternCovered(`${stars}.#`, allowed)).toBe(false);
    expect(patternCovered(`t3.${stars}`, ['t3.#'])).toBe(true);
    expect(patternCovered(`t3.a.x3.${stars}`, allowed)).toBe(true);
  });
});
