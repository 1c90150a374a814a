import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../helpers/embedded-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PostgreSQL server for this run: tests create their own databases on it (test/helpers/postgres.ts). */
    postgresUrl: string;
  }
}

/** One real PostgreSQL 17 for the whole test run (test/helpers/embedded-postgres.ts), stopped at the end. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startEmbeddedPostgres({ maxConnections: 300 });
  project.provide('postgresUrl', server.url);
  return () => server.stop();
}
