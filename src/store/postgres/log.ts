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
 * gaps), write the events at them, and notify the new head at commit. Returns the position
 * of the first event.
 */
const APPEND = `
WITH head AS (
  UPDATE log_head SET seq = seq + cardinality($1::text[]) RETURNING seq - cardinality($1::text[]) AS base, seq AS last
), written AS (
  INSERT INTO events (seq, id, channel, type, occurred_at, received_at, data)
  SELECT head.base + e.n, e.id, e.channel, e.type, e.occurred_at, e.received_at, e.data
  FROM head, unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[])
    WITH ORDINALITY AS e (id, channel, type, occurred_at, received_at, data, n)
)
SELECT base, pg_notify('${HEAD_CHANNEL}', last::text) FROM head`;

export async function appendEvents(pool: Pool, events: readonly NewEvent[]): Promise<number> {
  const { rows } = await pool.query<{ base: string }>({
    name: 'pushhub_append',
    text: APPEND,
    values: [
      events.map((e) => e.id),
      events.map((e) => e.channel),
      events.map((e) => e.type),
      events.map((e) => e.occurredAt),
      events.map((e) => e.receivedAt),
      events.map((e) => e.data),
    ],
  });
  return Number(rows[0]!.base) + 1;
}

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
