// ESLint (flat config): typescript-eslint's strict type-checked rules over src/, test/, bench/ and examples/,
// and the rule that a neverthrow Result is never dropped unread. `npm test` runs it.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { mustUseResult } from './eslint/must-use-result.js';

export default tseslint.config(
  { ignores: ['dist/', 'packages/*/dist/', 'node_modules/', 'drizzle/', 'data/', 'coverage/', 'scratch/', 'test/.snippets/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { eventbus: { rules: { 'must-use-result': mustUseResult } } },
    rules: {
      'eventbus/must-use-result': 'error',
      // With noUncheckedIndexedAccess, `a[i]!` after a bounds check is how the hot loops index arrays.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `return void send()` and `() => call()` are the codebase's way to end a branch with a call.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidOperator: true, ignoreVoidReturningFunctions: true }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `catch (e) { … throw e; }`: what is not ours to handle goes on as it came.
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true }],
      // `const { timestamp: _, ...rest } = o` drops a key.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // A `let` a callback reads before its one assignment (a handler set up before what it stops).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: {
      // vitest's asymmetric matchers (expect.any, expect.objectContaining) are typed any.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      // afterEach hooks guard against a setup that failed half-way, and waits re-read what a callback set.
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: globals.node },
    rules: { ...tseslint.configs.disableTypeChecked.rules, 'eventbus/must-use-result': 'off' },
  },
);
