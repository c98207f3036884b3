import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Each test file gets its own process: native SQLite handles and sockets never leak between files.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
