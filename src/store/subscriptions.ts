import type { DisabledReason, Subscription } from '../domain/subscription.js';
import type { Db } from './db.js';
import { fromSubscriptionRow, SUBSCRIPTION_COLUMNS, toSubscriptionRow, type SubscriptionRow } from './rows.js';

export interface SubscriptionsRepo {
  all(): Subscription[];
  get(id: string): Subscription | undefined;
  /** Inserts or replaces the whole row. */
  put(sub: Subscription): void;
  /** Switches a subscription off (or on, with reason null) without touching anything else. */
  setEnabled(id: string, enabled: boolean, reason: DisabledReason | null, now: number): void;
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
  const setEnabled = db.prepare<[number, string | null, number, string]>(
    'UPDATE subscriptions SET enabled = ?, disabled_reason = ?, updated_at = ? WHERE id = ?',
  );
  const del = db.prepare<[string]>('DELETE FROM subscriptions WHERE id = ?');
  return {
    all: () => all.all().map(fromRow),
    get: (id) => {
      const row = get.get(id);
      return row && fromRow(row);
    },
    put: (sub) => void put.run(toRow(sub)),
    setEnabled: (id, enabled, reason, now) => void setEnabled.run(enabled ? 1 : 0, reason, now, id),
    delete: (id) => del.run(id).changes > 0,
  };
}
