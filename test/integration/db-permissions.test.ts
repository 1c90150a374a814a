import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '../helpers/hub.js';
import { publish } from '../helpers/webhooks.js';

// The database holds every webhook secret: only the hub's user may read it, whatever the
// umask. SQLite creates -wal and -shm with the main file's bits, so they follow it.

const mode = (path: string): number => statSync(path).mode & 0o777;
const root = mkdtempSync(join(tmpdir(), 'pushhub-perm-'));
let umask: number;
beforeAll(() => {
  // The usual umask: files 0644 and folders 0755 unless the hub asks for less.
  umask = process.umask(0o022);
});
afterAll(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

describe('database file permissions', () => {
  it('a new database is 0600 (with its -wal and -shm), in a new folder 0700', async () => {
    const db = join(root, 'fresh', 'data', 'pushhub.db');
    const hub = await startHub({ dir: root, config: { db } });
    try {
      await publish(hub, 'perm');
      expect(existsSync(`${db}-wal`) && existsSync(`${db}-shm`)).toBe(true);
      expect({ db: mode(db), wal: mode(`${db}-wal`), shm: mode(`${db}-shm`) }).toEqual({ db: 0o600, wal: 0o600, shm: 0o600 });
      expect(mode(join(root, 'fresh', 'data'))).toBe(0o700);
      expect(mode(join(root, 'fresh'))).toBe(0o700);
      expect(hub.logs.some((l) => l.msg === 'database files were readable by other users: set to mode 0600')).toBe(false);
    } finally {
      await hub.close();
    }
  });

  it('an existing database readable by others is tightened to 0600 at open, -wal and -shm too, and says so once', async () => {
    const db = join(root, 'old.db');
    // Made as before this fix: 0644, and kept open in WAL mode so -wal and -shm exist too.
    const other = new Database(db);
    try {
      other.pragma('journal_mode = WAL');
      other.exec('CREATE TABLE leftover (x); INSERT INTO leftover VALUES (1)');
      chmodSync(`${db}-wal`, 0o644);
      chmodSync(`${db}-shm`, 0o664);
      expect([mode(db), mode(`${db}-wal`), mode(`${db}-shm`)]).toEqual([0o644, 0o644, 0o664]);
      const hub = await startHub({ dir: root, config: { db } });
      try {
        await publish(hub, 'perm');
        expect([mode(db), mode(`${db}-wal`), mode(`${db}-shm`)]).toEqual([0o600, 0o600, 0o600]);
        const lines = hub.logs.filter((l) => l.msg === 'database files were readable by other users: set to mode 0600');
        expect(lines).toEqual([expect.objectContaining({ level: 30, files: [db, `${db}-wal`, `${db}-shm`] })]);
      } finally {
        await hub.close();
      }
    } finally {
      other.close();
    }
  });
});
