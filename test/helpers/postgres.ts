import pg from 'pg';
import { inject } from 'vitest';
import { createDatabase } from './embedded-postgres.js';

export interface TestDatabase {
  url: string;
  /** A pool on it, closed by drop(). */
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** A new, empty database on the run's PostgreSQL (test/setup/postgres.ts), dropped by drop(). */
export async function freshDatabase(): Promise<TestDatabase> {
  const db = await createDatabase(inject('postgresUrl'));
  const pool = new pg.Pool({ connectionString: db.url, max: 20 });
  return {
    url: db.url,
    pool,
    async drop() {
      await pool.end();
      await db.drop();
    },
  };
}
