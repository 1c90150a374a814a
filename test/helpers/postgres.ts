import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';

export interface TestDatabase {
  url: string;
  /** A pool on it, closed by drop(). */
  pool: pg.Pool;
  /** Once; a second call waits for the first. */
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
  let dropped: Promise<void> | undefined;
  return {
    url,
    pool,
    drop: () =>
      (dropped ??= (async () => {
        await pool.end();
        const client = new pg.Client({ connectionString: admin });
        await client.connect();
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await client.end();
      })()),
  };
}

/** Databases standing in for SQLite files: kept until drop(), or until the run's server goes. */
const databasesOfFiles = new Map<string, Promise<TestDatabase>>();

/**
 * The database that stands in for a SQLite file path on PostgreSQL runs: a fresh one the
 * first time, the same one for the same path after (a hub restarted on its file finds its
 * data again, in process or as a child).
 */
export function databaseFor(file: string): Promise<TestDatabase> {
  const key = resolve(file);
  let db = databasesOfFiles.get(key);
  if (!db) {
    db = freshDatabase().then((fresh) => ({
      ...fresh,
      async drop() {
        databasesOfFiles.delete(key);
        await fresh.drop();
      },
    }));
    databasesOfFiles.set(key, db);
    db.catch(() => databasesOfFiles.delete(key));
  }
  return db;
}
