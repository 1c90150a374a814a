import { readdirSync } from 'node:fs';

/** The `NNNN_name.sql` files of a migrations folder, in the order they apply (both stores number theirs this way). */
export function migrationFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort();
}

/** The schema version the files of `dir` migrate a database to: a database at a higher one was written by a newer pushhub. */
export function latestVersion(dir: string): number {
  const last = migrationFiles(dir).at(-1);
  return last === undefined ? 0 : Number(last.slice(0, 4));
}
