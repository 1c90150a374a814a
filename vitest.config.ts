import { defineConfig } from 'vitest/config';

/**
 * The integration suites that must hold on either store run twice: once on SQLite (every
 * test file) and once on PostgreSQL (`PUSHHUB_TEST_STORE=postgres`: every `startHub` gets a
 * fresh database on the run's server, and so does every child hub of
 * test/helpers/child-hub.ts given a file path, the same one again for a restart on that
 * path). `*.postgres.test.ts` run on PostgreSQL only, among them the server itself killed
 * and stopped under load (postgres-crash), and commits in doubt (postgres-in-doubt: two bugs,
 * `it.fails` until they are fixed).
 *
 * SQLite-only, and why: single-hub, db-permissions, copy (the SQLite file: its lock, its
 * modes, its online backup; copies to and from PostgreSQL are copy-postgres.postgres); resource-faults (a full or read-only file system under the
 * file); auth-matrix and the fuzz files (they prove "nothing written" with SQLite's
 * data_version, test/helpers/store-writes.ts); secrets-in-logs (its CLI case has the hub
 * generate its secrets into the data folder, which a hub on PostgreSQL refuses to do);
 * npm-start, cli-realtime, private-urls, receiver-example (they spawn the CLI on a file, or
 * the example receiver, themselves: the CLI's defaults and flags, not the store).
 * realtime-lifecycle, slow-consumer, chaos-receiver and client pass on PostgreSQL run by
 * hand with PUSHHUB_TEST_STORE=postgres, and are left out of the second pass to keep
 * `npm test` short (they test the transports, not the store); webhook-shutdown, cors and
 * the browser files have not been tried on it.
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
  'test/integration/webhook-retention.test.ts',
  'test/integration/crash.test.ts',
  'test/integration/webhook-crash.test.ts',
  'test/integration/child-smoke.test.ts',
  'test/integration/keys.test.ts',
  'test/integration/presence.test.ts',
  'test/integration/operational-events.test.ts',
  'test/integration/replay.test.ts',
  'test/integration/operational-crash.test.ts',
  'test/reliability/key-rotation.test.ts',
  'test/reliability/seam.test.ts',
  'test/reliability/retention-realtime.test.ts',
  'test/reliability/crash-matrix.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // vitest's default number of workers (cores − 1: one file at a time on 2 cores). Two took
    // the run from 661 to ≈ 430 s, but their load made timing-bound tests fail in 3 of 4 runs.
    // One PostgreSQL per project for the run; each test creates its own database on it.
    globalSetup: ['test/setup/postgres.ts'],
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'], exclude: ['**/node_modules/**', 'test/**/*.postgres.test.ts'] } },
      {
        extends: true,
        test: { name: 'postgres', include: [...ON_BOTH_STORES, 'test/**/*.postgres.test.ts'], env: { PUSHHUB_TEST_STORE: 'postgres' } },
      },
    ],
  },
});
