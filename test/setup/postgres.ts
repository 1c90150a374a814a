import type { TestProject } from 'vitest/node';
import { startPostgresServer } from '../helpers/postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PostgreSQL server for this run: tests create their own databases on it (test/helpers/postgres.ts). */
    postgresUrl: string;
  }
}

/** One real PostgreSQL 17 for the whole test run (test/helpers/postgres-server.ts), removed at the end. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startPostgresServer(['-c', 'max_connections=300']);
  project.provide('postgresUrl', server.url);
  return () => server.destroy();
}
