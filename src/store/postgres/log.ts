import type { Pool } from 'pg';
import type { NewEvent, StoredEvent } from '../../domain/envelope.js';

/** The channel every append notifies, with the new head as payload (never the events: 8000-byte limit, lost while disconnected). */
export const HEAD_CHANNEL = 'pushhub_head';

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
 */
const APPEND = `
WITH head AS (
  UPDATE log_head SET seq = seq + cardinality($1::text[]) RETURNING seq - cardinality($1::text[]) AS base, seq AS last
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
}

/** Runs the append on `on` (a pool or a client); resolves with the position before the first event. */
export async function appendRows(on: Queryable, { events, deliveries = [], keys = [], now = 0 }: AppendRows): Promise<number> {
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
    ],
  });
  return Number(rows[0]!.base);
}

/** Appends events alone; returns the position of the first. */
export async function appendEvents(pool: Pool, events: readonly NewEvent[]): Promise<number> {
  return (await appendRows(pool, { events })) + 1;
}

type Queryable = Pick<Pool, 'query'>;

interface EventRow {
  seq: string;
  id: string;
  channel: string;
  type: string;
  occurred_at: string;
  received_at: string;
  data: string;
}

const toEvent = (r: EventRow): StoredEvent => ({
  seq: Number(r.seq),
  id: r.id,
  channel: r.channel,
  type: r.type,
  occurredAt: Number(r.occurred_at),
  receivedAt: Number(r.received_at),
  data: r.data,
});

/** A page of one channel after a position, oldest first. */
export async function readChannel(pool: Pool, channel: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  const { rows } = await pool.query<EventRow>({
    name: 'pushhub_read_channel',
    text: 'SELECT seq, id, channel, type, occurred_at, received_at, data FROM events WHERE channel = $1 AND seq > $2 ORDER BY seq LIMIT $3',
    values: [channel, afterSeq, limit],
  });
  return rows.map(toEvent);
}

/** A page of the whole log after a position, oldest first (a hub catching up with the others' appends). */
export async function readLog(pool: Pool, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  const { rows } = await pool.query<EventRow>({
    name: 'pushhub_read_log',
    text: 'SELECT seq, id, channel, type, occurred_at, received_at, data FROM events WHERE seq > $1 ORDER BY seq LIMIT $2',
    values: [afterSeq, limit],
  });
  return rows.map(toEvent);
}

/** The last position handed out, committed. */
export async function headSeq(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ seq: string }>('SELECT seq FROM log_head');
  return Number(rows[0]!.seq);
}
