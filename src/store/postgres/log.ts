import type { Pool } from 'pg';
import type { NewEvent } from '../../domain/envelope.js';
import { StaleSubscriptionsError } from '../store.js';
import { HEAD_CHANNEL } from './watch.js';

/** The head row, created once with this database's epoch; returns the epoch in force (another hub's, if it was first). */
export async function initLog(pool: Pool, newEpoch: () => string): Promise<string> {
  await pool.query('INSERT INTO log_head (epoch) VALUES ($1) ON CONFLICT (id) DO NOTHING', [newEpoch()]);
  const { rows } = await pool.query<{ epoch: string }>('SELECT epoch FROM log_head');
  return rows[0]!.epoch;
}

/**
 * One statement, hence one round trip and one transaction: take `n` positions from the head
 * (its row lock serialises appends until commit, so positions are in commit order, without
 * gaps), write the events at them, their outbox rows and idempotency keys, and notify the new
 * head at commit. A key keeps its response as a template with the position before the
 * write's first event (`response_base`): its cursors are filled in when it is read, so no
 * cursor encoding lives in SQL. Returns that base: the events are at base + 1, base + 2, ….
 * The outbox rows were planned from the subscriptions at one version: when another hub has
 * changed them since, nothing is written (no head row comes back).
 */
const APPEND = `
WITH head AS (
  UPDATE log_head SET seq = seq + cardinality($1::text[])
  WHERE $14::bigint IS NULL OR subscriptions_version = $14
  RETURNING seq - cardinality($1::text[]) AS base, seq AS last
), written AS (
  INSERT INTO events (seq, id, channel, type, occurred_at, received_at, data)
  SELECT head.base + e.n, e.id, e.channel, e.type, e.occurred_at, e.received_at, e.data
  FROM head, unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[])
    WITH ORDINALITY AS e (id, channel, type, occurred_at, received_at, data, n)
), outbox AS (
  INSERT INTO deliveries (id, subscription_id, event_id, event_seq, state, next_attempt_at, created_at, updated_at)
  SELECT d.id, d.subscription_id, ($1::text[])[d.event + 1], head.base + d.event + 1, 'pending', $7, $7, $7
  FROM head, unnest($8::text[], $9::text[], $10::integer[]) WITH ORDINALITY AS d (id, subscription_id, event, n)
  ORDER BY d.n
), keys AS (
  INSERT INTO idempotency_keys (key, fingerprint, response_template, response_base, created_at)
  SELECT k.key, k.fingerprint, k.template, head.base, $7
  FROM head, unnest($11::text[], $12::text[], $13::text[]) AS k (key, fingerprint, template)
  ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, response_template = excluded.response_template,
    response_base = excluded.response_base, created_at = excluded.created_at, claimed_by = NULL, claimed_until = NULL
)
SELECT base, pg_notify('${HEAD_CHANNEL}', last::text) FROM head`;

/** What one append writes, as rows (see Store.append). */
export interface AppendRows {
  events: readonly NewEvent[];
  deliveries?: ReadonlyArray<{ id: string; subscriptionId: string; event: number }>;
  /** `template`: the ResponseTemplate as JSON. */
  keys?: ReadonlyArray<{ key: string; fingerprint: string; template: string }>;
  now?: number;
  subscriptionsVersion?: number | undefined;
}

/** Runs the append on `on` (a pool or a client); resolves with the position before the first event. Rejects with StaleSubscriptionsError when the version moved. */
export async function appendRows(on: Queryable, { events, deliveries = [], keys = [], now = 0, subscriptionsVersion }: AppendRows): Promise<number> {
  const { rows } = await on.query<{ base: string | number }>({
    name: 'pushhub_append',
    text: APPEND,
    values: [
      events.map((e) => e.id),
      events.map((e) => e.channel),
      events.map((e) => e.type),
      events.map((e) => e.occurredAt),
      events.map((e) => e.receivedAt),
      events.map((e) => e.data),
      now,
      deliveries.map((d) => d.id),
      deliveries.map((d) => d.subscriptionId),
      deliveries.map((d) => d.event),
      keys.map((k) => k.key),
      keys.map((k) => k.fingerprint),
      keys.map((k) => k.template),
      subscriptionsVersion ?? null,
    ],
  });
  if (rows.length === 0) throw new StaleSubscriptionsError();
  return Number(rows[0]!.base);
}

type Queryable = Pick<Pool, 'query'>;
