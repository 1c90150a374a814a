import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export interface TestDatabase {
  url: string;
  /** A pool on it, closed by drop(). */
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** A new, empty database on the run's PostgreSQL (test/setup/postgres.ts), dropped by drop(). */
export async function freshDatabase(): Promise<TestDatabase> {
  const admin = inject('postgresUrl');
  const name = `pushhub_${randomBytes(6).toString('hex')}`;
  const root = new pg.Client({ connectionString: admin });
  await root.connect();
  await root.query(`CREATE DATABASE ${name}`);
  await root.end();
  const url = Object.assign(new URL(admin), { pathname: `/${name}` }).toString();
  const pool = new pg.Pool({ connectionString: url, max: 20 });
  return {
    url,
    pool,
    async drop() {
      await pool.end();
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}
