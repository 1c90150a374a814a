import type { Watcher } from '../domain/operational.js';
import type { DisabledReason, Subscription } from '../domain/subscription.js';
import type { Db } from './db.js';
import { fromSubscriptionRow, SUBSCRIPTION_COLUMNS, toSubscriptionRow, type SubscriptionRow } from './rows.js';

export interface SubscriptionsRepo {
  all(): Subscription[];
  get(id: string): Subscription | undefined;
  /** Inserts or replaces the whole row. */
  put(sub: Subscription): void;
  /** Switches an enabled subscription off without touching anything else; returns it when it was on. */
  disable(id: string, reason: DisabledReason, now: number): { id: string; url: string } | undefined;
  /** The subscriptions whose patterns could match an operational event (a `$` pattern). */
  watchers(): Watcher[];
  /** Returns whether there was one to delete. */
  delete(id: string): boolean;
}

/** The shared row (rows.ts) as SQLite keeps it: the flags as 0 | 1. */
type Row = Omit<SubscriptionRow, 'ordered' | 'enabled'> & { ordered: number; enabled: number };

const COLUMNS = SUBSCRIPTION_COLUMNS.join(', ');
const fromRow = (r: Row): Subscription => fromSubscriptionRow({ ...r, ordered: r.ordered === 1, enabled: r.enabled === 1 });
const toRow = (s: Subscription): Row => {
  const r = toSubscriptionRow(s);
  return { ...r, ordered: r.ordered ? 1 : 0, enabled: r.enabled ? 1 : 0 };
};

export function subscriptionsRepo(db: Db): SubscriptionsRepo {
  const all = db.prepare<[], Row>(`SELECT ${COLUMNS} FROM subscriptions ORDER BY created_at, id`);
  const get = db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM subscriptions WHERE id = ?`);
  const put = db.prepare<[Row]>(
    `INSERT OR REPLACE INTO subscriptions (${COLUMNS}) VALUES (${SUBSCRIPTION_COLUMNS.map((c) => `@${c}`).join(', ')})`,
  );
  const disable = db.prepare<[string, number, string], { id: string; url: string }>(
    'UPDATE subscriptions SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ? AND enabled = 1 RETURNING id, url',
  );
  const watchers = db.prepare<[], { id: string; channels: string; types: string | null }>(
    `SELECT id, channels, types FROM subscriptions WHERE channels LIKE '%"$%' ORDER BY created_at, id`,
  );
  const del = db.prepare<[string]>('DELETE FROM subscriptions WHERE id = ?');
  return {
    all: () => all.all().map(fromRow),
    get: (id) => {
      const row = get.get(id);
      return row && fromRow(row);
    },
    put: (sub) => void put.run(toRow(sub)),
    disable: (id, reason, now) => disable.get(reason, now, id),
    watchers: () => watchers.all().map(watcherOf),
    delete: (id) => del.run(id).changes > 0,
  };
}

/** A subscription's patterns as `watchers` reads them (both stores). */
export function watcherOf(r: { id: string; channels: string; types: string | null }): Watcher {
  return { id: r.id, channels: JSON.parse(r.channels) as string[], types: r.types === null ? null : (JSON.parse(r.types) as string[]) };
}
