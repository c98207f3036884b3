// fast-check generators of topics and patterns, for the grammar's tests and the trie's.
import fc from 'fast-check';

const smallSegment = fc.constantFrom('a', 'b', 'c');
export const smallTopic = fc.array(smallSegment, { minLength: 1, maxLength: 4 }).map((s) => s.join('.'));
export const smallPattern = fc
  .tuple(
    fc.array(fc.constantFrom('a', 'b', '*'), { minLength: 0, maxLength: 4 }),
    fc.constantFrom(undefined, '#', '>'),
  )
  .filter(([segments, rest]) => segments.length > 0 || rest !== undefined)
  .map(([segments, rest]) => [...segments, ...(rest === undefined ? [] : [rest])].join('.'));

const anySegment = fc.stringMatching(/^[A-Za-z0-9_:-]{1,12}$/);
export const anyTopic = fc.array(anySegment, { minLength: 1, maxLength: 6 }).map((s) => s.join('.'));
