import type { DisabledReason, Subscription } from '../domain/subscription.js';
import type { Db } from './db.js';

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

interface Row {
  id: string;
  url: string;
  channels: string;
  types: string | null;
  description: string | null;
  ordered: number;
  max_in_flight: number;
  rate_limit_per_s: number | null;
  signature_scheme: string;
  retry: string | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: number | null;
  enabled: number;
  disabled_reason: string | null;
  created_at: number;
  updated_at: number;
}

const COLUMNS = [
  'id', 'url', 'channels', 'types', 'description', 'ordered', 'max_in_flight', 'rate_limit_per_s',
  'signature_scheme', 'retry', 'secret', 'previous_secret', 'previous_secret_expires_at', 'enabled',
  'disabled_reason', 'created_at', 'updated_at',
] as const;

function fromRow(r: Row): Subscription {
  return {
    id: r.id,
    url: r.url,
    channels: JSON.parse(r.channels) as string[],
    types: r.types === null ? null : (JSON.parse(r.types) as string[]),
    description: r.description,
    ordered: r.ordered === 1,
    maxInFlight: r.max_in_flight,
    rateLimitPerS: r.rate_limit_per_s,
    signatureScheme: r.signature_scheme as Subscription['signatureScheme'],
    retry: r.retry === null ? null : (JSON.parse(r.retry) as Subscription['retry']),
    secret: r.secret,
    previousSecret: r.previous_secret,
    previousSecretExpiresAt: r.previous_secret_expires_at,
    enabled: r.enabled === 1,
    disabledReason: r.disabled_reason as DisabledReason | null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toRow(s: Subscription): Row {
  return {
    id: s.id,
    url: s.url,
    channels: JSON.stringify(s.channels),
    types: s.types === null ? null : JSON.stringify(s.types),
    description: s.description,
    ordered: s.ordered ? 1 : 0,
    max_in_flight: s.maxInFlight,
    rate_limit_per_s: s.rateLimitPerS,
    signature_scheme: s.signatureScheme,
    retry: s.retry === null ? null : JSON.stringify(s.retry),
    secret: s.secret,
    previous_secret: s.previousSecret,
    previous_secret_expires_at: s.previousSecretExpiresAt,
    enabled: s.enabled ? 1 : 0,
    disabled_reason: s.disabledReason,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
  };
}

export function subscriptionsRepo(db: Db): SubscriptionsRepo {
  const all = db.prepare<[], Row>(`SELECT ${COLUMNS.join(', ')} FROM subscriptions ORDER BY created_at, id`);
  const get = db.prepare<[string], Row>(`SELECT ${COLUMNS.join(', ')} FROM subscriptions WHERE id = ?`);
  const put = db.prepare<[Row]>(
    `INSERT OR REPLACE INTO subscriptions (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`,
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
