import Database from 'better-sqlite3';
import { expect } from 'vitest';
import type { TestHub } from './hub.js';

/**
 * Watches a hub's database for writes through a second, read-only connection: SQLite's
 * `data_version` changes whenever another connection commits a change, whatever the table
 * (events, idempotency keys, subscriptions, deliveries). "Nothing was written" is then one
 * exact check, not a count of the tables a test thought of.
 */
export interface WriteWatcher {
  /** A token that changes with every commit the hub makes. */
  version(): number;
  close(): void;
}

export function watchWrites(hub: TestHub): WriteWatcher {
  const db = new Database(hub.config.db, { readonly: true, fileMustExist: true });
  return {
    version: () => db.pragma('data_version', { simple: true }) as number,
    close: () => db.close(),
  };
}

/** Asserts a response is a refusal in the documented error shape (optionally with this status and code). */
export async function expectApiError(res: Response, status?: number, code?: string): Promise<{ code: string; message: string; details?: unknown }> {
  const text = await res.text();
  if (status !== undefined) expect(res.status, text).toBe(status);
  expect(res.status, text).toBeGreaterThanOrEqual(400);
  expect(res.status, text).toBeLessThan(500);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text) as { error: { code: string; message: string; details?: unknown } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toMatch(/^[a-z_]+$/);
  expect(typeof body.error.message).toBe('string');
  if (code !== undefined) expect(body.error.code).toBe(code);
  return body.error;
}
