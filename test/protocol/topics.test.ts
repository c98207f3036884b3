// The topic and pattern grammar (PROTOCOL.md §2): validation by examples and by property, and matching
// checked against a regex-based reference matcher.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { checkPattern, checkTopic, isExactPattern, topicMatches } from '../../src/protocol/topics.js';
import { smallTopic, smallPattern, anyTopic } from '../helpers/topic-arbitraries.js';

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
    expect(error.message).toMatch(reason);
    expect(error.message).not.toMatch(/[\r\n]/);
  });

  test('an invalid character is answered with every character a topic may hold, the dot between segments too', () => {
    expect(checkTopic('a b')._unsafeUnwrapErr().message).toBe('topic "a b" has an invalid character " " (allowed: letters, digits, _ - : and . between segments)');
  });

  test('names the empty segment in the reason', () => {
    expect(checkTopic('a..b')._unsafeUnwrapErr().message).toBe('topic "a..b" has an empty segment');
  });

  test('accepts 255 bytes and rejects 256', () => {
    expect(checkTopic('a'.repeat(255)).isOk()).toBe(true);
    expect(checkTopic(`${'a'.repeat(127)}.${'b'.repeat(127)}`).isOk()).toBe(true);
    const error = checkTopic('a'.repeat(256))._unsafeUnwrapErr();
    expect(error.code).toBe('BAD_TOPIC');
    expect(error.message).toMatch(/256 bytes/);
  });

  test('counts the limit in UTF-8 bytes, not characters', () => {
    expect(checkTopic('\u00e9'.repeat(200))._unsafeUnwrapErr().message).toMatch(/400 bytes/);
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
    expect(error.message).toMatch(reason);
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
