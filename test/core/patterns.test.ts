// Topic/pattern validation and matching (PROTOCOL.md §2), checked by examples and against a regex-based
// reference matcher; PatternIndex checked against filtering a plain list of pairs.

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { checkPattern, checkTopic, isExactPattern, PatternIndex, topicMatches } from '../../src/core/patterns.js';

/** Reference semantics, written independently of the implementation: translate the pattern to a regex. */
function referenceMatches(pattern: string, topic: string): boolean {
  const segments = pattern.split('.');
  const last = segments[segments.length - 1];
  const hasRest = last === '#' || last === '>';
  const fixed = (hasRest ? segments.slice(0, -1) : segments)
    .map((s) => (s === '*' ? '[^.]+' : s.replace(/[-:]/g, '\\$&')))
    .join('\\.');
  const source = !hasRest ? fixed : fixed === '' ? '.+' : `${fixed}(?:\\..+)?`;
  return new RegExp(`^${source}$`).test(topic);
}

const smallSegment = fc.constantFrom('a', 'b', 'c');
const smallTopic = fc.array(smallSegment, { minLength: 1, maxLength: 4 }).map((s) => s.join('.'));
const smallPattern = fc
  .tuple(
    fc.array(fc.constantFrom('a', 'b', '*'), { minLength: 0, maxLength: 4 }),
    fc.constantFrom(undefined, '#', '>'),
  )
  .filter(([segments, rest]) => segments.length > 0 || rest !== undefined)
  .map(([segments, rest]) => [...segments, ...(rest === undefined ? [] : [rest])].join('.'));

const anySegment = fc.stringMatching(/^[A-Za-z0-9_:-]{1,12}$/);
const anyTopic = fc.array(anySegment, { minLength: 1, maxLength: 6 }).map((s) => s.join('.'));

describe('checkTopic', () => {
  test.each(['user_message', 'chat.user1', 'orders.created', 'a', 'A-b_c:d.9', 'x.y.z.w'])('accepts %j', (topic) => {
    expect(checkTopic(topic)._unsafeUnwrap()).toBe(topic);
  });

  test.each([
    ['', /empty/],
    ['a..b', /empty segment/],
    ['.a', /empty segment/],
    ['a.', /empty segment/],
    ['a b', /invalid character " "/],
    ['a/b', /invalid character "\/"/],
    ['caf\u00e9', /invalid character "é"/],
    ['a.*', /invalid character "\*"/],
    ['a.#', /invalid character "#"/],
    ['a\nb', /invalid character "\\n"/],
  ])('rejects %j with BAD_TOPIC', (topic, reason) => {
    const error = checkTopic(topic)._unsafeUnwrapErr();
    expect(error.code).toBe('BAD_TOPIC');
    expect(error.reason).toMatch(reason);
    expect(error.reason).not.toMatch(/[\r\n]/);
  });

  test('names the empty segment in the reason', () => {
    expect(checkTopic('a..b')._unsafeUnwrapErr().reason).toBe('topic "a..b" has an empty segment');
  });

  test('accepts 255 bytes and rejects 256', () => {
    expect(checkTopic('a'.repeat(255)).isOk()).toBe(true);
    expect(checkTopic(`${'a'.repeat(127)}.${'b'.repeat(127)}`).isOk()).toBe(true);
    const error = checkTopic('a'.repeat(256))._unsafeUnwrapErr();
    expect(error.code).toBe('BAD_TOPIC');
    expect(error.reason).toMatch(/256 bytes/);
  });

  test('counts the limit in UTF-8 bytes, not characters', () => {
    expect(checkTopic('\u00e9'.repeat(200))._unsafeUnwrapErr().reason).toMatch(/400 bytes/);
  });

  test('agrees with the grammar on arbitrary strings', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'Z', '0', '_', '-', ':', '.', ' ', '*', 'é'), maxLength: 300 });
    fc.assert(
      fc.property(text, (topic) => {
        const valid =
          /^[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*$/.test(topic) && new TextEncoder().encode(topic).length <= 255;
        expect(checkTopic(topic).isOk()).toBe(valid);
      }),
    );
  });
});

describe('checkPattern', () => {
  test.each(['chat.*', '*.created', 'orders.#', '#', '*', '*.*', 'a.*.b.#', 'orders.created'])('accepts %j', (p) => {
    expect(checkPattern(p)._unsafeUnwrap()).toBe(p);
  });

  test('normalises a trailing > to #', () => {
    expect(checkPattern('orders.>')._unsafeUnwrap()).toBe('orders.#');
    expect(checkPattern('>')._unsafeUnwrap()).toBe('#');
  });

  test.each([
    ['', /empty/],
    ['a*', /whole segment/],
    ['*a.b', /whole segment/],
    ['a.b#', /whole segment/],
    ['**', /whole segment/],
    ['a.#.b', /only be the last/],
    ['#.a', /only be the last/],
    ['a.>.b', /only be the last/],
    ['a..*', /empty segment/],
    ['a.*.', /empty segment/],
    ['a b.*', /invalid character/],
    [`${'a'.repeat(254)}.*`, /256 bytes/],
  ])('rejects %j with BAD_PATTERN', (pattern, reason) => {
    const error = checkPattern(pattern)._unsafeUnwrapErr();
    expect(error.code).toBe('BAD_PATTERN');
    expect(error.reason).toMatch(reason);
  });

  test('accepts 255 bytes and rejects 256', () => {
    expect(checkPattern(`${'a'.repeat(253)}.#`).isOk()).toBe(true);
    expect(checkPattern(`${'a'.repeat(254)}.#`)._unsafeUnwrapErr().code).toBe('BAD_PATTERN');
  });
});

describe('topicMatches', () => {
  test.each([
    ['chat.*', 'chat.user1', true],
    ['chat.*', 'chat', false],
    ['chat.*', 'chat.a.b', false],
    ['*.created', 'orders.created', true],
    ['*.created', 'orders.deleted', false],
    ['*.created', 'created', false],
    ['orders.#', 'orders', true],
    ['orders.#', 'orders.eu.created', true],
    ['orders.#', 'ordersx', false],
    ['orders.#', 'payments.orders', false],
    ['orders.>', 'orders.eu', true],
    ['#', 'anything.at.all', true],
    ['>', 'x', true],
    ['orders.created', 'orders.created', true],
    ['orders.created', 'orders.create', false],
    ['a.*.#', 'a', false],
    ['a.*.#', 'a.b', true],
    ['a.*.#', 'a.b.c.d', true],
  ])('%j against %j is %s', (pattern, topic, expected) => {
    expect(topicMatches(pattern, topic)).toBe(expected);
  });

  test('agrees with the reference matcher, and the generated cases match often enough to mean something', () => {
    const pairs = fc.sample(fc.tuple(smallPattern, smallTopic), { numRuns: 2000, seed: 42 });
    const matching = pairs.filter(([p, t]) => referenceMatches(p, t)).length;
    expect(matching / pairs.length).toBeGreaterThan(0.15);
    expect(matching / pairs.length).toBeLessThan(0.85);
    fc.assert(
      fc.property(smallPattern, smallTopic, (pattern, topic) => {
        expect(topicMatches(pattern, topic)).toBe(referenceMatches(pattern, topic));
      }),
      { numRuns: 2000 },
    );
  });

  test('every valid topic is a valid pattern that matches itself', () => {
    fc.assert(
      fc.property(anyTopic, (topic) => {
        expect(checkTopic(topic).isOk()).toBe(true);
        expect(checkPattern(topic).isOk()).toBe(true);
        expect(isExactPattern(topic)).toBe(true);
        expect(topicMatches(topic, topic)).toBe(true);
      }),
    );
  });

  test('# matches every topic and * matches exactly the one-segment topics', () => {
    fc.assert(
      fc.property(anyTopic, (topic) => {
        expect(topicMatches('#', topic)).toBe(true);
        expect(topicMatches('*', topic)).toBe(!topic.includes('.'));
      }),
    );
  });
});

describe('isExactPattern', () => {
  test.each([
    ['orders.created', true],
    ['orders.*', false],
    ['orders.#', false],
    ['orders.>', false],
    ['*', false],
  ])('%j is exact: %s', (pattern, expected) => {
    expect(isExactPattern(pattern)).toBe(expected);
  });
});

describe('PatternIndex', () => {
  test('returns each matching value once, even through several patterns', () => {
    const index = new PatternIndex<string>();
    index.add('orders.*', 'billing');
    index.add('orders.created', 'billing');
    index.add('#', 'audit');
    index.add('*.created', 'mailer');
    index.add('payments.#', 'ledger');
    expect([...index.match('orders.created')].sort()).toEqual(['audit', 'billing', 'mailer']);
    expect([...index.match('payments')].sort()).toEqual(['audit', 'ledger']);
    expect(index.match('orders.created.late')).toEqual(['audit']);
  });

  test('ignores a repeated pair and removes only the named pair', () => {
    const index = new PatternIndex<number>();
    index.add('a.*', 1);
    index.add('a.*', 1);
    index.add('a.b', 1);
    index.add('a.*', 2);
    expect(index.size).toBe(3);
    index.remove('a.*', 1);
    expect(index.size).toBe(2);
    expect([...index.match('a.b')].sort()).toEqual([1, 2]);
    expect(index.match('a.c')).toEqual([2]);
    index.remove('a.*', 1); // no longer registered
    index.remove('never.added', 7);
    expect(index.size).toBe(2);
  });

  test('treats > and # as the same pattern', () => {
    const index = new PatternIndex<string>();
    index.add('a.>', 'x');
    index.add('a.#', 'x');
    expect(index.size).toBe(1);
    expect(index.match('a')).toEqual(['x']);
    index.remove('a.#', 'x');
    expect(index.size).toBe(0);
    expect(index.match('a')).toEqual([]);
  });

  test('throws on an invalid pattern, which is a caller bug', () => {
    expect(() => new PatternIndex<number>().add('a.#.b', 1)).toThrow(/last segment/);
  });

  test('hands out frozen arrays and answers a repeated topic with the same array', () => {
    const index = new PatternIndex<number>();
    index.add('a.*', 1);
    const first = index.match('a.b');
    expect(Object.isFrozen(first)).toBe(true);
    expect(index.match('a.b')).toBe(first);
    index.add('a.b', 2);
    const second = index.match('a.b');
    expect(second).not.toBe(first);
    expect(first).toEqual([1]); // an earlier answer is never changed afterwards
    expect([...second].sort()).toEqual([1, 2]);
  });

  test('stays correct when more topics are looked up than the cache holds', () => {
    const index = new PatternIndex<number>();
    index.add('t.*', 1);
    for (let i = 0; i < 25_000; i++) expect(index.match(`t.${i}`)).toEqual([1]);
    expect(index.match('u.1')).toEqual([]);
  });

  test('matches exactly the values whose patterns match, after random adds and removals', () => {
    const pair = fc.tuple(smallPattern, fc.integer({ min: 0, max: 5 }));
    fc.assert(
      fc.property(
        fc.array(pair, { maxLength: 30 }),
        fc.array(fc.boolean(), { maxLength: 30 }),
        fc.array(smallTopic, { minLength: 1, maxLength: 10 }),
        (pairs, removals, topics) => {
          const index = new PatternIndex<number>();
          for (const [p, v] of pairs) index.add(p, v);
          for (const t of topics) index.match(t); // fill the cache so removals must invalidate it
          const removed = pairs.filter((_, i) => removals[i] === true);
          for (const [p, v] of removed) index.remove(p, v);
          const canonical = (p: string) => p.replace(/>$/, '#');
          const gone = new Set(removed.map(([p, v]) => `${canonical(p)} ${v}`));
          const kept = pairs.filter(([p, v]) => !gone.has(`${canonical(p)} ${v}`));

          expect(index.size).toBe(new Set(kept.map(([p, v]) => `${canonical(p)} ${v}`)).size);
          for (const topic of topics) {
            const got = index.match(topic);
            const expected = new Set(kept.filter(([p]) => topicMatches(p, topic)).map(([, v]) => v));
            expect(got.length).toBe(new Set(got).size);
            expect(new Set(got)).toEqual(expected);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
