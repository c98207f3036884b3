// PatternIndex: checked by examples and against filtering a plain list of (pattern, value) pairs.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PatternIndex } from '../../src/core/patterns.js';
import { topicMatches } from '../../src/protocol/topics.js';
import { smallTopic, smallPattern } from '../helpers/topic-arbitraries.js';

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
