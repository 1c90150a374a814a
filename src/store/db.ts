import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { noWalSync, walSync, type WalSync } from './wal-sync.js';

export type Db = Database.Database;

export interface DbOptions {
  path: string;
  synchronous: 'FULL' | 'NORMAL';
  busyTimeoutMs: number;
  /** How long each group-commit WAL sync took, in seconds (for the metrics). */
  onWalSync?: (seconds: number) => void;
}

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/**
 * Opens (creating folder and file) the database in WAL mode and brings its schema up to
 * date. The connection always runs `synchronous=NORMAL`; `FULL` durability is added by
 * WalSync (an explicit fdatasync of the WAL after commit), see wal-sync.ts.
 */
export function openDatabase({ path, synchronous, busyTimeoutMs, onWalSync }: DbOptions): { db: Db; wal: WalSync } {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  db.pragma('foreign_keys = ON');
  // Checkpoints stay small and frequent so the WAL does not grow under steady load.
  db.pragma('wal_autocheckpoint = 1000');
  migrate(db);
  if (synchronous === 'NORMAL') return { db, wal: noWalSync };
  const wal = walSync(`${path}-wal`, onWalSync);
  wal.syncNow();
  syncDirectory(dirname(path)); // the WAL file's own directory entry
  return { db, wal };
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
  const files = readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort();
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
