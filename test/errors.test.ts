// Every error code a client can receive is documented for users.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { ERROR_CODES } from '../src/errors.js';

test('every error code is documented in the README', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const undocumented = ERROR_CODES.filter((code) => !readme.includes(`| \`${code}\` |`));
  expect(undocumented).toEqual([]);
});
