import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { noWalSync, walSync, type WalSync } from './wal-sync.js';
import { latestVersion, migrationFiles } from './migration-files.js';

export type Db = Database.Database;

export interface DbOptions {
  path: string;
  synchronous: 'FULL' | 'NORMAL';
  busyTimeoutMs: number;
  /** How long each group-commit WAL sync took, in seconds (for the metrics). */
  onWalSync?: (seconds: number) => void;
  /** Existing database files that other users could read and that were set to 0600 at open. */
  onPermissionsTightened?: (files: string[]) => void;
}

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/** An open database: the connection, its WAL sync, and the hub lock held on `<db>.lock`. */
export interface OpenDatabase {
  db: Db;
  wal: WalSync;
  lock: Db;
}

/**
 * Opens (creating folder and file) the database in WAL mode and brings its schema up to
 * date. The connection always runs `synchronous=NORMAL`; `FULL` durability is added by
 * WalSync (an explicit fdatasync of the WAL after commit), see wal-sync.ts.
 */
export function openDatabase({ path, synchronous, busyTimeoutMs, onWalSync, onPermissionsTightened }: DbOptions): OpenDatabase {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 }); // an existing folder may be shared (/tmp): left as it is
  // First: the checks below open and close the database file, and closing any descriptor of
  // a file drops every POSIX lock this process holds on it, a running hub's included.
  const lock = holdHubLock(path);
  const tightened = restrictToOwner(path);
  if (tightened.length > 0) onPermissionsTightened?.(tightened);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  db.pragma('foreign_keys = ON');
  // Checkpoints stay small and frequent so the WAL does not grow under steady load.
  db.pragma('wal_autocheckpoint = 1000');
  migrate(db);
  if (synchronous === 'NORMAL') return { db, wal: noWalSync, lock };
  const wal = walSync(`${path}-wal`, onWalSync);
  wal.syncNow();
  syncDirectory(dirname(path)); // the WAL file's own directory entry
  return { db, wal, lock };
}

/** Flushes, checkpoints and closes what openDatabase opened; the lock last: another hub may open the database from then on. */
export function closeDatabase({ db, wal, lock }: OpenDatabase): void {
  if (!db.open) return;
  wal.syncNow();
  db.pragma('wal_checkpoint(TRUNCATE)');
  wal.close();
  db.close();
  lock.close();
}

/** Another hub holds the database. */
export class DatabaseInUseError extends Error {
  override name = 'DatabaseInUseError';
  constructor(readonly path: string) {
    super(
      `${path} is in use by another pushhub hub (it holds ${path}.lock): one SQLite database serves one hub. ` +
        'Stop the other hub, or give this one its own PUSHHUB_DB.',
    );
  }
}

/**
 * One hub per SQLite file: two would each keep their own subscription index, idempotency
 * map and in-flight deliveries, and lose acknowledged events between them. The hub holds an
 * exclusive lock on `<db>.lock`, a small SQLite file of its own, for as long as it runs: the
 * database itself stays open to readers (a backup, `sqlite3`), and the operating system drops
 * the lock when the process dies, so a crashed hub never leaves a stale lock behind. In
 * EXCLUSIVE locking mode SQLite keeps the lock its first write took until the connection
 * closes.
 */
function holdHubLock(path: string): Db {
  const lockPath = `${path}.lock`;
  try {
    closeSync(openSync(lockPath, 'wx', 0o600)); // only when missing: nobody holds a lock on it then
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const lock = new Database(lockPath, { timeout: 0 });
  try {
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS hub (started_at INTEGER); DELETE FROM hub; INSERT INTO hub VALUES (unixepoch()); COMMIT');
  } catch (err) {
    lock.close();
    if (/^SQLITE_BUSY/.test(String((err as { code?: unknown }).code))) throw new DatabaseInUseError(path);
    throw err;
  }
  return lock;
}

/**
 * The database holds every webhook secret, so only its owner may read it. The file is
 * created 0600 before SQLite opens it because SQLite gives the `-wal` and `-shm` files it
 * creates the main file's permission bits; an existing database (and its -wal/-shm) with
 * group or other bits is set to 0600. Returns the files it tightened.
 */
function restrictToOwner(path: string): string[] {
  closeSync(openSync(path, 'a', 0o600)); // the mode applies only when this creates the file
  const tightened: string[] = [];
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    let mode: number;
    try {
      mode = statSync(file).mode;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    if ((mode & 0o077) === 0) continue;
    try {
      chmodSync(file, 0o600);
    } catch (err) {
      // Not its owner (a database shared through a group): it still opens, as before.
      if ((err as NodeJS.ErrnoException).code === 'EPERM') continue;
      throw err;
    }
    tightened.push(file);
  }
  return tightened;
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Applies every `NNNN_name.sql` newer than `user_version`, each in its own transaction.
 * Landed migrations are never edited: a change is a new file.
 */
export function migrate(db: Db, dir = MIGRATIONS_DIR): void {
  const files = migrationFiles(dir);
  const current = db.pragma('user_version', { simple: true }) as number;
  for (const file of files) {
    const version = Number(file.slice(0, 4));
    if (version <= current) continue;
    const sql = readFileSync(`${dir}${file}`, 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${version}`);
    }).immediate();
  }
}

/** The schema version this code migrates a database to. */
export function latestSchemaVersion(): number {
  return latestVersion(MIGRATIONS_DIR);
}
