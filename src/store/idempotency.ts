import type { Db } from './db.js';

export interface SavedResponse {
  fingerprint: string;
  /** JSON text of the response body first given for the key. */
  response: string;
}

export interface IdempotencyRepo {
  /** The response saved for a key no older than `since` (epoch ms). */
  get(key: string, since: number): SavedResponse | undefined;
  /** Saves (or replaces an expired) key. Call inside the transaction that wrote the events. */
  put(key: string, saved: SavedResponse, now: number): void;
  pruneBatch(cutoff: number, batch: number): number;
}

export function idempotencyRepo(db: Db): IdempotencyRepo {
  const get = db.prepare<[string, number], SavedResponse>(
    'SELECT fingerprint, response FROM idempotency_keys WHERE key = ? AND created_at >= ?',
  );
  const put = db.prepare<[string, string, string, number]>(
    'INSERT OR REPLACE INTO idempotency_keys (key, fingerprint, response, created_at) VALUES (?, ?, ?, ?)',
  );
  const prune = db.prepare<[number, number]>(
    'DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys WHERE created_at < ? LIMIT ?)',
  );
  return {
    get: (key, since) => get.get(key, since),
    put: (key, saved, now) => void put.run(key, saved.fingerprint, saved.response, now),
    pruneBatch: (cutoff, batch) => prune.run(cutoff, batch).changes,
  };
}
