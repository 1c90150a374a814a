import type { TaskRow } from '../domain/task.js';
import type { KeyRow } from './keys.js';
import type { DeliveryAttemptRow, DeliveryRow, EventRow, SubscriptionRow } from './rows.js';

/** A copy that cannot be made as asked; nothing was written. */
export class CopyError extends Error {
  override name = 'CopyError';
}

/** Where a database's log stands: what a copy keeps so that every cursor of the source stays valid on it. */
export interface SnapshotHead {
  /** The cursor epoch. */
  epoch: string;
  /** The last position handed out (past the last event when the newest ones were pruned). */
  head: number;
  /** Every position up to this one was pruned (0: none). */
  prunedThrough: number;
  /** The last delivery seq handed out: the copy hands out the next ones after it. */
  deliveriesHead: number;
}

/** An Idempotency-Key with the response first given for it, its cursors filled in. */
export interface SavedKeyRow {
  key: string;
  fingerprint: string;
  response: string;
  created_at: number;
}

/** A table's rows, a page at a time (read with `for await`). */
export type Pages<R> = AsyncIterable<readonly R[]> | Iterable<readonly R[]>;

/**
 * One consistent snapshot of a hub's database, as `pushhub copy` moves it between stores:
 * each table's rows in pages, in key order (a page at a time in memory, however large the
 * log). Rows are the shared ones of rows.ts. Not included, on purpose: what belongs to a
 * running hub (its lock, leases, keys claimed by a request still under way).
 */
export interface Snapshot {
  head: SnapshotHead;
  events(): Pages<EventRow>;
  subscriptions(): Pages<SubscriptionRow>;
  /** As stored: a target releases those in flight, as a hub does at start. */
  deliveries(): Pages<DeliveryRow>;
  attempts(): Pages<DeliveryAttemptRow>;
  idempotencyKeys(): Pages<SavedKeyRow>;
  apiKeys(): Pages<KeyRow>;
  /** Background tasks with their progress, unclaimed: a hub on the target resumes those still running. */
  tasks(): Pages<TaskRow>;
}

/** A snapshot held open (a read transaction) until closed. */
export interface OpenSnapshot {
  snapshot: Snapshot;
  close(): Promise<void>;
}

/** What a target wrote. */
export interface CopyCounts {
  events: number;
  subscriptions: number;
  deliveries: number;
}

/** Rows per page read and per statement written. */
export const PAGE_ROWS = 1000;

/** Message of an error for a CopyError's text. */
export function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Refuses a source this pushhub cannot read whole: one migrated by a newer pushhub (`version`
 * above `latest`), or an older one that lacks tables it copies (a hub of this version
 * migrates it at start).
 */
export function checkSourceSchema(name: string, version: number, latest: number, missingTables: readonly string[]): void {
  if (version > latest) {
    throw new CopyError(`${name}: its schema (version ${version}) is newer than this pushhub knows (${latest}): copy it with a newer pushhub`);
  }
  if (missingTables.length > 0) {
    throw new CopyError(
      `${name}: its schema (version ${version}) is older than this pushhub's (no ${missingTables.join(', ')}): start this version's hub on it once (it migrates at start), then copy`,
    );
  }
}
