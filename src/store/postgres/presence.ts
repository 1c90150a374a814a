import type pg from 'pg';
import type { Store } from '../store.js';
import { CHANGED_CHANNEL } from './watch.js';

type PresenceOps = Pick<Store, 'writePresence' | 'readPresence' | 'presenceHeartbeat' | 'releasePresence'>;

export interface PresenceDeps {
  hubId: string;
  transaction: <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;
  rows: <R extends pg.QueryResultRow>(name: string, text: string, values?: unknown[]) => Promise<R[]>;
}

/** Advisory-lock namespace of channel occupancy ("pres"); the second key is the channel's hash. */
const OCCUPANCY_LOCK = 0x70726573;

const RENEW_HUB = `INSERT INTO presence_hubs (id, expires_at) VALUES ($1, now() + $2 * interval '1 millisecond')
  ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at RETURNING (xmax = 0) AS inserted`;

/** Channels with a subscriber on some hub (any row, an expired hub's too: its rows leave with the sweep, which reports them). */
const OCCUPIED_OF = `SELECT c AS channel FROM unnest($1::text[]) AS c WHERE EXISTS (SELECT 1 FROM channel_occupancy o WHERE o.channel = c)`;

/**
 * This hub's member changes in one statement: it is alive (expiry renewed), its leaves and
 * joins, and one notification per channel changed (`presence:<hub>:<channel>`, hub ids hold
 * no colon), sent at commit. A sub is never both left and joined in one write.
 */
const WRITE_MEMBERS = `WITH renew AS (
    INSERT INTO presence_hubs (id, expires_at) VALUES ($1, now() + $2 * interval '1 millisecond')
    ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at
  ), gone AS (
    DELETE FROM presence_members p USING unnest($3::text[], $4::text[]) AS t(c, s)
    WHERE p.hub_id = $1 AND p.channel = t.c AND p.sub = t.s
  ), came AS (
    INSERT INTO presence_members (channel, sub, hub_id, info)
    SELECT c, s, $1, i FROM unnest($5::text[], $6::text[], $7::text[]) AS t(c, s, i)
    ON CONFLICT (channel, sub, hub_id) DO UPDATE SET info = EXCLUDED.info
  )
  SELECT pg_notify('${CHANGED_CHANNEL}', 'presence:' || $1 || ':' || c) FROM unnest($8::text[]) AS c`;

/**
 * This hub's occupancy changes (under the channels' locks, taken by the statement before, so
 * its snapshot sees every other hub's committed rows): for each channel, whether any hub had
 * a subscriber there before, and whether one has after (the statement's own changes are not
 * visible to it, so "after" is: another hub has, or this one now does).
 */
const WRITE_OCCUPANCY = `WITH before AS (
    SELECT c,
      EXISTS (SELECT 1 FROM channel_occupancy o WHERE o.channel = c) AS was,
      EXISTS (SELECT 1 FROM channel_occupancy o WHERE o.channel = c AND o.hub_id <> $1) AS others
    FROM unnest($4::text[]) AS c
  ), here AS (
    INSERT INTO channel_occupancy (channel, hub_id) SELECT c, $1 FROM unnest($2::text[]) AS c ON CONFLICT DO NOTHING
  ), gone AS (
    DELETE FROM channel_occupancy WHERE hub_id = $1 AND channel = ANY($3::text[])
  )
  SELECT c AS channel, was, others OR c = ANY($2::text[]) AS now FROM before`;

/** The notification of a channel whose members changed: `presence:<hub>:<channel>` (hub ids hold no colon). */
const NOTIFY = `SELECT pg_notify('${CHANGED_CHANNEL}', 'presence:' || $1 || ':' || c) FROM unnest($2::text[]) AS c`;

/**
 * Presence on PostgreSQL: each hub's rows (members, occupied channels) under a heartbeat,
 * read as the union of the live hubs. Occupancy is decided under a lock per channel (taken in
 * key order: two hubs locking several never deadlock), so "first" and "last" are each seen by
 * one hub only.
 */
export function postgresPresence({ hubId, transaction, rows }: PresenceDeps): PresenceOps {
  const lockChannels = async (client: pg.PoolClient, channels: string[]): Promise<void> => {
    if (channels.length === 0) return;
    await client.query({
      name: 'pushhub_presence_lock',
      // In the order of the lock keys themselves: two channels sharing a hash cannot make two hubs wait on each other.
      text: 'SELECT pg_advisory_xact_lock($1, h) FROM (SELECT DISTINCT hashtext(c) AS h FROM unnest($2::text[]) AS c ORDER BY 1) AS t',
      values: [OCCUPANCY_LOCK, channels],
    });
  };
  const occupiedOf = async (client: pg.PoolClient, channels: string[]): Promise<Set<string>> =>
    new Set((await client.query<{ channel: string }>({ name: 'pushhub_occupied_of', text: OCCUPIED_OF, values: [channels] })).rows.map((r) => r.channel));

  return {
    async writePresence({ channels, replace, expiryMs }) {
      const left = channels.flatMap((c) => c.left.map((sub) => [c.channel, sub] as const));
      const joined = channels.flatMap((c) => c.joined.map((m) => [c.channel, m] as const));
      const changed = channels.filter((c) => c.left.length > 0 || c.joined.length > 0).map((c) => c.channel);
      const touched = channels.filter((c) => c.occupied !== undefined);
      const members = (notify: readonly string[]): unknown[] => [
        hubId,
        expiryMs,
        left.map(([c]) => c),
        left.map(([, s]) => s),
        joined.map(([c]) => c),
        joined.map(([, m]) => m.sub),
        joined.map(([, m]) => m.info),
        notify,
      ];
      // The common case under churn, members only: one statement, one round trip.
      if (!replace && touched.length === 0) {
        await rows('pushhub_presence_write', WRITE_MEMBERS, members(changed));
        return { occupied: [], vacated: [] };
      }
      return transaction(async (client) => {
        const run = (name: string, text: string, values: unknown[]) => client.query({ name, text, values });
        const notify = new Set(changed);
        if (replace) {
          const gone = await run('pushhub_presence_clear', 'DELETE FROM presence_members WHERE hub_id = $1 RETURNING channel', [hubId]);
          for (const r of gone.rows as Array<{ channel: string }>) notify.add(r.channel);
          await run('pushhub_occupancy_clear', 'DELETE FROM channel_occupancy WHERE hub_id = $1', [hubId]);
        }
        await run('pushhub_presence_write', WRITE_MEMBERS, members([...notify]));
        const changes = { occupied: [] as string[], vacated: [] as string[] };
        if (touched.length === 0) return changes;
        const names = touched.map((c) => c.channel).sort();
        await lockChannels(client, names);
        const on = touched.filter((c) => c.occupied).map((c) => c.channel);
        const off = touched.filter((c) => !c.occupied).map((c) => c.channel);
        const found = await run('pushhub_occupancy_write', WRITE_OCCUPANCY, [hubId, on, off, names]);
        if (replace) return changes;
        for (const r of found.rows as Array<{ channel: string; was: boolean; now: boolean }>) {
          if (!r.was && r.now) changes.occupied.push(r.channel);
          else if (r.was && !r.now) changes.vacated.push(r.channel);
        }
        return changes;
      });
    },

    async readPresence(channel, limit) {
      // One statement: the count and the page agree. No member: one row of the count, sub null.
      const found = await rows<{ n: number; sub: string | null; info: string | null }>(
        'pushhub_presence_read',
        `WITH m AS (
           SELECT DISTINCT ON (sub) sub, info, joined_at FROM presence_members
           WHERE channel = $1 AND hub_id IN (SELECT id FROM presence_hubs WHERE expires_at > now())
           ORDER BY sub, joined_at
         )
         SELECT (SELECT count(*) FROM m) AS n, p.sub, p.info
         FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT sub, info FROM m ORDER BY joined_at, sub LIMIT $2) p ON true`,
        [channel, limit],
      );
      const count = found[0]?.n ?? 0;
      return { count, members: found.filter((r) => r.sub !== null).map((r) => ({ sub: r.sub!, info: r.info! })) };
    },

    presenceHeartbeat: (expiryMs) =>
      transaction(async (client) => {
        const run = (name: string, text: string, values: unknown[]) => client.query({ name, text, values });
        const renewed = !(await run('pushhub_presence_renew', RENEW_HUB, [hubId, expiryMs])).rows[0].inserted;
        const dead = (await run('pushhub_presence_expired', 'DELETE FROM presence_hubs WHERE expires_at < now() RETURNING id', [])).rows.map(
          (r: { id: string }) => r.id,
        );
        if (dead.length === 0) return { renewed, vacated: [] };
        const owned = await run('pushhub_occupancy_of_hubs', 'SELECT DISTINCT channel FROM channel_occupancy WHERE hub_id = ANY($1::text[])', [dead]);
        const names = (owned.rows as Array<{ channel: string }>).map((r) => r.channel).sort();
        await lockChannels(client, names);
        const gone = await run(
          'pushhub_presence_sweep',
          'WITH d AS (DELETE FROM presence_members WHERE hub_id = ANY($1::text[]) RETURNING channel) SELECT DISTINCT channel FROM d',
          [dead],
        );
        await run('pushhub_occupancy_sweep', 'DELETE FROM channel_occupancy WHERE hub_id = ANY($1::text[])', [dead]);
        const still = await occupiedOf(client, names);
        const notify = (gone.rows as Array<{ channel: string }>).map((r) => r.channel);
        if (notify.length > 0) await run('pushhub_presence_notify', NOTIFY, [hubId, notify]);
        return { renewed, vacated: names.filter((c) => !still.has(c)) };
      }),

    async releasePresence(graceMs) {
      await rows('pushhub_presence_release', `UPDATE presence_hubs SET expires_at = now() + $2 * interval '1 millisecond' WHERE id = $1`, [hubId, graceMs]);
    },
  };
}
