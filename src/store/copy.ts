import { describeDb, isPostgresUrl } from '../config.js';
import { openPostgresSnapshot, writePostgresSnapshot } from './postgres/copy.js';
import { CopyError, type CopyCounts, type OpenSnapshot } from './snapshot.js';
import { backupSqlite, openSqliteSnapshot, writeSqliteSnapshot } from './sqlite-copy.js';

export { CopyError } from './snapshot.js';

export interface CopySummary extends CopyCounts {
  /** The cursor epoch the copy keeps: every cursor of the source stays valid on it. */
  epoch: string;
}

/** A database named on the command line; `name` is the flag and the database without a password, for messages. */
type Location = { kind: 'sqlite' | 'postgres'; value: string; name: string };

const URL_RE = /^[a-z][a-z0-9+.-]*:\/\//i;

function locate(value: string, side: 'from' | 'to'): Location {
  const name = `--${side} ${describeDb(value)}`;
  if (isPostgresUrl(value)) {
    if (!URL.canParse(value)) throw new CopyError(`${name}: not a valid postgres:// URL`);
    return { kind: 'postgres', value, name };
  }
  if (URL_RE.test(value)) throw new CopyError(`${name}: neither a SQLite file nor a postgres:// (postgresql://) URL`);
  return { kind: 'sqlite', value, name };
}

/**
 * Copies a hub's database into an empty one, SQLite file or PostgreSQL database either
 * side; the source may be in use by running hubs (the copy is one consistent snapshot).
 * Everything is kept as it is: events at their positions with the database's epoch and how
 * far retention pruned (so every cursor stays valid on the copy), subscriptions with their
 * secrets, deliveries with their state, seqs and attempts, the idempotency keys with their
 * saved responses. What belongs to a running hub is not copied: deliveries in flight are
 * written released (due now, as a hub's start leaves them), no lock, no claim. SQLite to
 * SQLite is SQLite's online backup; any other pair reads the source in pages and writes the
 * target in one transaction (a failed copy leaves it empty). A SQLite target is created 0600
 * (it holds every webhook secret). `now` (epoch ms): when released deliveries are due.
 */
export async function copyDatabase(from: string, to: string, now = Date.now()): Promise<CopySummary> {
  const source = locate(from, 'from');
  const target = locate(to, 'to');
  if (source.kind === 'sqlite' && target.kind === 'sqlite') return backupSqlite(source.value, source.name, target.value, target.name);
  const opened: OpenSnapshot = source.kind === 'sqlite' ? openSqliteSnapshot(source.value, source.name) : await openPostgresSnapshot(source.value, source.name);
  try {
    const write = target.kind === 'sqlite' ? writeSqliteSnapshot : writePostgresSnapshot;
    const counts = await write(target.value, target.name, opened.snapshot, now);
    return { ...counts, epoch: opened.snapshot.head.epoch };
  } finally {
    await opened.close();
  }
}
