import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // One PostgreSQL for the run; each test creates its own database on it.
    globalSetup: ['test/setup/postgres.ts'],
  },
});
