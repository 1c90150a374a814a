import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ClientBase } from 'pg';
import { latestVersion, migrationFiles } from '../migration-files.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/** The database was migrated by a newer pushhub than this one. */
export class SchemaTooNewError extends Error {
  override name = 'SchemaTooNewError';
}

/** An arbitrary, fixed key: hubs starting together migrate one at a time. */
export const MIGRATION_LOCK = 0x70757368; // "push"

/**
 * Applies every `NNNN_name.sql` not yet applied, each in its own transaction, under an
 * advisory lock so that hubs starting at once do not race. Landed migrations are never
 * edited: a change is a new file. A database that has a migration this code does not know
 * was written by a newer pushhub: refused, as graphile-worker does, rather than run on a
 * schema it does not understand. Returns the version the database is at.
 */
export async function migrate(client: ClientBase, dir = MIGRATIONS_DIR): Promise<number> {
  const files = migrationFiles(dir);
  const known = latestVersion(dir);
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS pushhub_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM pushhub_migrations');
    const current = rows[0]?.version ?? 0;
    if (current > known) {
      throw new SchemaTooNewError(`the database schema is at version ${current}, newer than this pushhub knows (${known}): upgrade pushhub`);
    }
    for (const file of files) {
      const version = Number(file.slice(0, 4));
      if (version <= current) continue;
      const sql = readFileSync(`${dir}${file}`, 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO pushhub_migrations (version, name) VALUES ($1, $2)', [version, file]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
    return Math.max(current, known);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}

/** The schema version this code migrates a database to. */
export function latestSchemaVersion(): number {
  return latestVersion(MIGRATIONS_DIR);
}
