import type { StoredKey } from '../auth/keys.js';
import type { Scope } from '../auth/scopes.js';
import type { Db } from './db.js';

/** An API key row, as both stores keep it (scopes as JSON text). */
export interface KeyRow {
  id: string;
  name: string;
  scopes: string;
  prefix: string;
  hash: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
}

export const KEY_COLUMNS = ['id', 'name', 'scopes', 'prefix', 'hash', 'created_at', 'expires_at', 'last_used_at'] as const;

export const fromKeyRow = (r: KeyRow): StoredKey => ({
  id: r.id,
  name: r.name,
  scopes: JSON.parse(r.scopes) as Scope[],
  prefix: r.prefix,
  hash: r.hash,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  lastUsedAt: r.last_used_at,
});

export const toKeyRow = (k: StoredKey): KeyRow => ({
  id: k.id,
  name: k.name,
  scopes: JSON.stringify(k.scopes),
  prefix: k.prefix,
  hash: k.hash,
  created_at: k.createdAt,
  expires_at: k.expiresAt,
  last_used_at: k.lastUsedAt,
});

export interface KeysRepo {
  insert(key: StoredKey): void;
  all(): StoredKey[];
  byHash(hash: string): StoredKey | undefined;
  delete(id: string): boolean;
  /** last_used_at only moves forward. */
  used(id: string, at: number): void;
}

export function keysRepo(db: Db): KeysRepo {
  const COLUMNS = KEY_COLUMNS.join(', ');
  const insert = db.prepare<[KeyRow]>(`INSERT INTO api_keys (${COLUMNS}) VALUES (${KEY_COLUMNS.map((c) => `@${c}`).join(', ')})`);
  const all = db.prepare<[], KeyRow>(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at, id`);
  const byHash = db.prepare<[string], KeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE hash = ?`);
  const del = db.prepare<[string]>('DELETE FROM api_keys WHERE id = ?');
  const used = db.prepare<[number, string, number]>('UPDATE api_keys SET last_used_at = ? WHERE id = ? AND coalesce(last_used_at, 0) < ?');
  return {
    insert: (key) => void insert.run(toKeyRow(key)),
    all: () => all.all().map(fromKeyRow),
    byHash: (hash) => {
      const row = byHash.get(hash);
      return row && fromKeyRow(row);
    },
    delete: (id) => del.run(id).changes > 0,
    used: (id, at) => void used.run(at, id, at),
  };
}
