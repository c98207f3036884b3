// The lint rule that keeps a neverthrow Result from being dropped unread (eslint/must-use-result.js), run
// through the project's own ESLint config on snippets type-checked against the real neverthrow.
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// A file name no tsconfig covers, type-checked in TypeScript's default project; it is never written to disk.
const SNIPPET = 'lint-snippet.ts';
const eslint = new ESLint({
  cwd: ROOT,
  overrideConfig: { languageOptions: { parserOptions: { projectService: { allowDefaultProject: [SNIPPET] } } } },
});

const header = `import { ok, okAsync, type Result, type ResultAsync } from 'neverthrow';
declare function sync(): Result<number, string>;
declare function later(): ResultAsync<number, string>;
`;

/** How many times the rule reports `code`. */
async function dropped(code: string): Promise<number> {
  const [result] = await eslint.lintText(`${header}${code}\n`, { filePath: `${ROOT}${SNIPPET}` });
  const messages = result!.messages;
  expect(messages.filter((m) => m.fatal === true)).toEqual([]);
  return messages.filter((m) => m.ruleId === 'eventbus/must-use-result').length;
}

describe('eventbus/must-use-result', () => {
  // The first lint loads the config, its plugins and TypeScript's project for the snippet: seconds of CPU,
  // which a loaded machine can stretch past a test's timeout. Done once here, under a hook's longer one.
  beforeAll(async () => {
    await dropped('sync();');
  }, 180_000);

  test.each([
    'const r = sync();\nif (r.isErr()) console.log(r.error);',
    'void later().mapErr((e) => { console.log(e); });',
    'void later().orTee((e) => { console.log(e); });',
    'void later().match(() => 1, () => 2);',
    'export async function f(): Promise<number> { return (await later())._unsafeUnwrap(); }',
    'export function g(): ResultAsync<number, string> { return later(); }',
    'export const h = (): ResultAsync<number, string> => later();',
  ])('accepts a Result that is read: %s', async (code) => {
    expect(await dropped(code)).toBe(0);
  });

  test.each([
    'sync();',
    'void later();',
    'export async function f(): Promise<void> { await later(); }',
    'export const h = (): void => void later().map((n) => n + 1);',
    'void okAsync(1).andThen(() => ok(2));',
  ])('refuses a Result dropped unread: %s', async (code) => {
    expect(await dropped(code)).toBe(1);
  });
});
