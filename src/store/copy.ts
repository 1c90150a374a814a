import { closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export interface CopySummary {
  events: number;
  subscriptions: number;
  deliveries: number;
  /** The cursor epoch the copy keeps: every cursor of the source stays valid on it. */
  epoch: string;
}

/** A copy that cannot be made as asked; nothing was written. */
export class CopyError extends Error {
  override name = 'CopyError';
}

const URL_RE = /^[a-z][a-z0-9+.-]*:\/\//i;

function sqlitePath(value: string, side: 'from' | 'to'): string {
  if (URL_RE.test(value)) {
    throw new CopyError(`--${side} ${value}: only SQLite files can be copied by this version (PostgreSQL is not supported yet)`);
  }
  return value;
}

/**
 * Copies a hub's SQLite database into a new file with SQLite's online backup: the source
 * may be in use by a running hub (the copy is a consistent snapshot of one moment). Everything is copied as it is:
 * events at their positions with the database's epoch (so every cursor stays valid on the
 * copy), subscriptions with their secrets, deliveries with their state and attempts. The
 * target must not exist, or be empty; it is created 0600 (it holds every webhook secret).
 */
export async function copyDatabase(from: string, to: string): Promise<CopySummary> {
  const source = sqlitePath(from, 'from');
  const target = sqlitePath(to, 'to');
  if (!existsSync(source)) throw new CopyError(`--from ${source}: no such database`);
  if (existsSync(target) && statSync(target).size > 0) throw new CopyError(`--to ${target}: exists and is not empty; the copy goes into a new or empty file`);
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    const epoch = (db.prepare("SELECT value FROM settings WHERE key = 'epoch'").pluck().get() as string | undefined) ?? '';
    if (!epoch) throw new CopyError(`--from ${source}: not a pushhub database (no epoch)`);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    closeSync(openSync(target, 'a', 0o600));
    // All pages in one step, inside one read transaction: a copy made in small steps starts
    // over whenever the running hub writes between two of them, and may never finish under
    // steady load. One step reads one snapshot; in WAL mode it does not hold the writer back.
    await db.backup(target, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
  const copy = new Database(target, { fileMustExist: true });
  try {
    const check = copy.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new CopyError(`--to ${target}: the copy failed its integrity check (${String(check)})`);
    const count = (table: string): number => copy.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
    return {
      events: count('events'),
      subscriptions: count('subscriptions'),
      deliveries: count('deliveries'),
      epoch: copy.prepare("SELECT value FROM settings WHERE key = 'epoch'").pluck().get() as string,
    };
  } finally {
    copy.close();
  }
}
