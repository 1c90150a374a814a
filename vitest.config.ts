import { defineConfig } from 'vitest/config';

/**
 * The integration suites that must hold on either store run twice: once on SQLite (every
 * test file) and once on PostgreSQL (`PUSHHUB_TEST_STORE=postgres`: every `startHub` gets a
 * fresh database on the run's server). Files that reach into SQLite files, kill child
 * processes or fault the file system stay SQLite-only (see test/helpers/hub.ts).
 */
const ON_BOTH_STORES = [
  'test/integration/publish.test.ts',
  'test/integration/idempotency.test.ts',
  'test/integration/polling.test.ts',
  'test/integration/ws.test.ts',
  'test/integration/sse.test.ts',
  'test/integration/webhook-subscriptions.test.ts',
  'test/integration/webhook-delivery.test.ts',
  'test/integration/group-commit.test.ts',
  'test/integration/ops-and-errors.test.ts',
  'test/integration/retention.test.ts',
  'test/integration/webhook-slow-store.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // One PostgreSQL per project for the run; each test creates its own database on it.
    globalSetup: ['test/setup/postgres.ts'],
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'], exclude: ['**/node_modules/**', 'test/**/*.postgres.test.ts'] } },
      {
        extends: true,
        test: { name: 'postgres', include: [...ON_BOTH_STORES, 'test/integration/*.postgres.test.ts'], env: { PUSHHUB_TEST_STORE: 'postgres' } },
      },
    ],
  },
});
