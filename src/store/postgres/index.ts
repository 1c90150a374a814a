import pg from 'pg';
import type { Random } from '../../clock.js';
import type { ClaimedDelivery } from '../../domain/delivery.js';
import type { DeliveryState } from '../../domain/event-status.js';
import type { DisabledReason } from '../../domain/subscription.js';
import { cursorCodec, newEpoch } from '../../domain/cursor.js';
import { fillTemplateAfter, type ResponseTemplate } from '../../domain/response-template.js';
import { newId } from '../../domain/ids.js';
import {
  planOperational,
  subscriptionChangeEvents,
  subscriptionDeletedEvent,
  subscriptionDisabledEvent,
  type OperationalEvent,
} from '../../domain/operational.js';
import { fromTaskRow, replayTargets, TASK_COLUMNS, toTaskRow, type Task, type TaskRow } from '../../domain/task.js';
import { eventfulRecords, recordedEvents, type RecordedRow } from '../operational.js';
import { watcherOf } from '../subscriptions.js';
import type { Logger } from '../../logger.js';
import {
  NotDurableError,
  StaleSubscriptionsError,
  type ClaimBatch,
  type ClaimResult,
  type EventPage,
  type OperationalAppend,
  type Store,
  type StoreChange,
} from '../store.js';
import { hasSqlState, isUnavailable, pgStorageError } from './errors.js';
import { appendRows, initLog } from './log.js';
import { fromKeyRow, KEY_COLUMNS, toKeyRow, type KeyRow } from '../keys.js';
import { migrate } from './migrate.js';
import { postgresPresence } from './presence.js';
import { sessionLock } from './session-lock.js';
import { CHANGED_CHANNEL, startWatch } from './watch.js';
import {
  DELIVERY_COLUMNS,
  EVENT_COLUMNS,
  fromAttemptRow,
  fromDeliveryRow,
  fromEventRow,
  fromSubscriptionRow,
  SUBSCRIPTION_COLUMNS,
  toSubscriptionRow,
  type AttemptRow,
  type DeliveryRow,
  type EventRow,
  type SubscriptionRow,
} from '../rows.js';

export interface PostgresStoreOptions {
  url: string;
  /** Connections this hub keeps to the database. */
  poolSize: number;
  /** A statement running longer is cancelled (57014) and answered 503. */
  statementTimeoutMs: number;
  /** Waiting longer for a connection (the server down or every connection busy) is answered 503. */
  connectTimeoutMs: number;
  /** How often the head is read even without a notification (a safety net). */
  pollMs: number;
  /** How often the listening connection is checked. */
  heartbeatMs: number;
  random: Random;
  logger: Logger;
}

const INT8 = 20;
/**
 * Positions, times and counts are bigint in the schema; every one of them fits a double
 * (positions and epoch ms stay far below 2^53), so the pool reads them as numbers.
 */
export const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8 && format !== 'binary') return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/**
 * The PostgreSQL store: the intents of `Store`, each one statement where it can be (the
 * append always is: one round trip) or one short transaction of a few statements built from
 * data the caller gathered before (a dispatcher pass). Commits are durable when they return
 * (`synchronous_commit` as the server has it), so readers see only what is durable.
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const { url, poolSize, statementTimeoutMs, connectTimeoutMs, random, logger } = options;
  const hubId = `hub_${random.bytes(8).toString('hex')}`;
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    statement_timeout: statementTimeoutMs,
    // The client side gives up a little after the server would: a server that stopped
    // answering (its host gone) does not hang a request for ever.
    query_timeout: statementTimeoutMs + 1000,
    connectionTimeoutMillis: connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'pushhub',
    types,
  });
  // An idle connection the server closed (restart, pg_terminate_backend) errors here; the
  // pool drops it and opens another on next use. Without a listener it would crash the hub.
  const lost = (err: Error): void => logger.warn({ err }, 'database connection lost');
  pool.on('error', lost);
  // The pool listens only to idle connections: one that dies while checked out (terminated,
  // the server restarting mid-pass) emits 'error' on its client, which would crash the hub
  // unheard. Its query in progress rejects anyway; this only keeps the event from being fatal.
  const checkout = async (): Promise<pg.PoolClient> => {
    const client = await pool.connect();
    client.on('error', lost);
    return client;
  };
  const checkin = (client: pg.PoolClient, broken?: Error): void => {
    client.off('error', lost);
    client.release(broken);
  };

  let epoch: string;
  try {
    const client = await checkout();
    try {
      await migrate(client);
    } finally {
      checkin(client);
    }
    epoch = await initLog(pool, () => newEpoch(random.bytes(10)));
  } catch (err) {
    await pool.end();
    throw err;
  }
  const retention = sessionLock(url, RETENTION_LOCK, connectTimeoutMs, logger);
  const codec = cursorCodec(epoch);

  const query = async <R extends pg.QueryResultRow>(name: string, text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> => {
    try {
      return await pool.query<R>({ name, text, values });
    } catch (err) {
      throw pgStorageError(err);
    }
  };
  const rows = async <R extends pg.QueryResultRow>(name: string, text: string, values: unknown[] = []): Promise<R[]> =>
    (await query<R>(name, text, values)).rows;

  /** Statements in one transaction on one connection (a dispatcher pass): nothing crosses back to the caller in between. */
  const transaction = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    let client: pg.PoolClient;
    try {
      client = await checkout();
    } catch (err) {
      throw pgStorageError(err);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      try {
        await client.query('COMMIT');
      } catch (err) {
        if (hasSqlState(err)) throw err; // refused: rolled back
        // The connection failed with COMMIT sent: it may have committed or not.
        broken = err as Error;
        throw new NotDurableError(pgStorageError(err));
      }
      return result;
    } catch (err) {
      if (err instanceof NotDurableError) throw err;
      if (isUnavailable(err)) broken = err as Error;
      else await client.query('ROLLBACK').catch((e: unknown) => void (broken = e as Error));
      throw pgStorageError(err);
    } finally {
      checkin(client, broken);
    }
  };

  // One append at a time from this hub: the group commit settles its commits in the order it
  // issued them, and with several connections a later append could take the head's lock
  // first and get the lower positions. Chained, issue order is position order; the group
  // commit keeps one in flight (appendsInFlight) and batches what arrives meanwhile.
  let appending: Promise<unknown> = Promise.resolve();
  const appendOnce = async (write: Parameters<Store['append']>[0]): Promise<number> => {
    let client: pg.PoolClient;
    try {
      client = await checkout();
    } catch (err) {
      throw pgStorageError(err); // nothing was sent
    }
    let broken: Error | undefined;
    try {
      return await appendRows(client, {
        events: write.events,
        deliveries: write.deliveries,
        keys: lastOfEachKey(write.idempotencyKeys),
        now: write.now,
        subscriptionsVersion: write.subscriptionsVersion,
      });
    } catch (err) {
      if (err instanceof StaleSubscriptionsError) throw err; // nothing written
      // The server answered with an error: the statement (its own transaction) rolled back.
      if (hasSqlState(err)) {
        if (isUnavailable(err)) broken = err as Error;
        throw pgStorageError(err);
      }
      // The connection failed with the statement sent: it may have committed or not.
      broken = err as Error;
      throw new NotDurableError(pgStorageError(err));
    } finally {
      checkin(client, broken);
    }
  };

  const page = async (name: string, filter: string, values: unknown[]): Promise<EventPage> => {
    // One statement, one snapshot: the head and the page agree.
    // No event after the filter: one row of the head with the event's columns null.
    const found = await rows<(EventRow | { [K in keyof EventRow]: null }) & { head: number; pruned_through: number }>(
      name,
      `SELECT h.seq AS head, h.pruned_through, e.seq, e.id, e.channel, e.type, e.occurred_at, e.received_at, e.data
       FROM log_head h LEFT JOIN LATERAL (
         SELECT seq, id, channel, type, occurred_at, received_at, data FROM events WHERE ${filter}
       ) e ON true`,
      values,
    );
    const first = found[0]!;
    return { head: first.head, prunedThrough: first.pruned_through, events: first.seq === null ? [] : (found as EventRow[]).map(fromEventRow) };
  };

  /**
   * Writes operational events with their deliveries inside a transaction of `client`: the
   * subscriptions that could match are read in it, the events appended like any commit (the
   * head's lock taken last, held only until the COMMIT that follows).
   */
  const writeOperational = async (client: pg.PoolClient, ops: readonly OperationalEvent[], now: number): Promise<OperationalAppend> => {
    if (ops.length === 0) return { events: [], deliveries: [] };
    const { rows: found } = await client.query<{ id: string; channels: string; types: string | null }>({
      name: 'pushhub_watchers',
      text: `SELECT id, channels, types FROM subscriptions WHERE channels LIKE '%"$%' ORDER BY created_at, id`,
    });
    const planned = planOperational(ops, found.map(watcherOf), now, random);
    const base = await appendRows(client, { events: planned.events, deliveries: planned.deliveries, now });
    return { events: planned.events.map((e, i) => ({ id: e.id, seq: base + 1 + i })), deliveries: planned.deliveries };
  };
  const subscriptionForUpdate = async (client: pg.PoolClient, id: string) => {
    const { rows: found } = await client.query<SubscriptionRow>({
      name: 'pushhub_subscription_for_update',
      text: `SELECT ${SUBSCRIPTION_LIST} FROM subscriptions WHERE id = $1 FOR UPDATE`,
      values: [id],
    });
    return found[0] && fromSubscriptionRow(found[0]);
  };

  const watchers: Array<(change: StoreChange) => void> = [];
  const watch = startWatch({
    url,
    connectTimeoutMs,
    heartbeatMs: options.heartbeatMs,
    pollMs: options.pollMs,
    async readHead() {
      const [h] = await rows<{ seq: number; subscriptions_version: number; keys_version: number }>(
        'pushhub_head',
        'SELECT seq, subscriptions_version, keys_version FROM log_head',
      );
      return { head: h!.seq, subscriptionsVersion: h!.subscriptions_version, keysVersion: h!.keys_version };
    },
    emit(change) {
      for (const w of watchers) {
        try {
          w(change);
        } catch (err) {
          logger.error({ err }, 'store watcher failed');
        }
      }
    },
    logger,
  });
  await watch.ready;

  return {
    epoch,
    hubId,
    watch: (listener) => void watchers.push(listener),
    health: () => ({ listening: watch.listening }),

    appendsInFlight: 1,
    append(write) {
      const result = appending.then(() => appendOnce(write));
      appending = result.catch(() => undefined);
      return result.then((base) => ({ seqs: write.events.map((_, i) => base + 1 + i) }));
    },

    async position() {
      const [h] = await rows<{ seq: number; pruned_through: number }>('pushhub_position', 'SELECT seq, pruned_through FROM log_head');
      return { head: h!.seq, prunedThrough: h!.pruned_through };
    },
    readChannel: (channel, afterSeq, limit) =>
      page('pushhub_page_channel', 'channel = $1 AND seq > $2 ORDER BY seq LIMIT $3', [channel, afterSeq, limit]),
    readLog: (afterSeq, limit) => page('pushhub_page_log', 'seq > $1 ORDER BY seq LIMIT $2', [afterSeq, limit]),
    async eventById(id) {
      const [row] = await rows<EventRow>('pushhub_event_by_id', `SELECT ${EVENT_LIST} FROM events WHERE id = $1`, [id]);
      return row && fromEventRow(row);
    },

    async claimKey(key, fingerprint, since, now) {
      const [row] = await rows<{ claimed: boolean; fingerprint: string | null; response_template: string | null; response_base: number; created_at: number }>(
        'pushhub_claim_key',
        CLAIM_KEY,
        [key, fingerprint, hubId, now, since, KEY_CLAIM_MS],
      );
      if (row!.claimed) return { state: 'claimed' };
      if (row!.response_template === null || row!.created_at < since) return { state: 'busy' };
      const template = JSON.parse(row!.response_template) as ResponseTemplate;
      return { state: 'saved', saved: { fingerprint: row!.fingerprint!, response: fillTemplateAfter(template, row!.response_base, codec.encode) } };
    },
    async releaseKey(key) {
      await query('pushhub_release_key', 'DELETE FROM idempotency_keys WHERE key = $1 AND claimed_by = $2 AND response_template IS NULL', [key, hubId]);
    },

    async subscription(id) {
      const [row] = await rows<SubscriptionRow>('pushhub_subscription', `SELECT ${SUBSCRIPTION_LIST} FROM subscriptions WHERE id = $1`, [id]);
      return row && fromSubscriptionRow(row);
    },
    async subscriptions() {
      // One statement, one snapshot: the version and the rows agree.
      const found = await rows<SubscriptionRow & { version: number }>(
        'pushhub_subscriptions',
        `SELECT h.subscriptions_version AS version, s.* FROM log_head h LEFT JOIN LATERAL (
           SELECT ${SUBSCRIPTION_LIST} FROM subscriptions ORDER BY created_at, id
         ) s ON true`,
      );
      return { version: found[0]!.version, subscriptions: found[0]!.id === null ? [] : found.map(fromSubscriptionRow) };
    },
    putSubscription: (sub) =>
      transaction(async (client) => {
        const before = await subscriptionForUpdate(client, sub.id);
        const row = toSubscriptionRow(sub);
        await client.query({
          name: 
'pushhub_put_subscription',
          text: `WITH put AS (
           INSERT INTO subscriptions (${SUBSCRIPTION_LIST}) VALUES (${SUBSCRIPTION_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})
           ON CONFLICT (id) DO UPDATE SET ${SUBSCRIPTION_COLUMNS.slice(1).map((c) => `${c} = excluded.${c}`).join(', ')}
         ), bumped AS (UPDATE log_head SET subscriptions_version = subscriptions_version + 1)
         SELECT pg_notify('${CHANGED_CHANNEL}', 'subscriptions')`,
          values: SUBSCRIPTION_COLUMNS.map((c) => row[c]),
        });
        await writeOperational(client, subscriptionChangeEvents(before, sub), sub.updatedAt);
      }),
    deleteSubscription: (id, now) =>
      transaction(async (client) => {
        const sub = await subscriptionForUpdate(client, id);
        if (!sub) return false;
        await client.query({
          name: 'pushhub_delete_subscription',
          text: `WITH gone AS (DELETE FROM subscriptions WHERE id = $1 RETURNING id),
           unleased AS (DELETE FROM subscription_leases WHERE subscription_id IN (SELECT id FROM gone)),
           bumped AS (UPDATE log_head SET subscriptions_version = subscriptions_version + 1 WHERE EXISTS (SELECT 1 FROM gone))
           SELECT count(*) AS deleted, pg_notify('${CHANGED_CHANNEL}', 'subscriptions') FROM gone`,
          values: [id],
        });
        await writeOperational(client, [subscriptionDeletedEvent(sub)], now);
        return true;
      }),
    appendOperational: (ops, now) => transaction((client) => writeOperational(client, ops, now)),

    async createTask(task) {
      const row = toTaskRow({ ...task, state: 'running', position: task.fromSeq, created: 0, error: null, updatedAt: task.createdAt });
      await query('pushhub_create_task', `INSERT INTO tasks (${TASK_LIST}) VALUES (${TASK_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`, TASK_COLUMNS.map((c) => row[c]));
    },
    async task(id) {
      const [row] = await rows<TaskRow>('pushhub_task', `SELECT ${TASK_LIST} FROM tasks WHERE id = $1`, [id]);
      return row && fromTaskRow(row);
    },
    async claimTask(now, leaseMs) {
      // Claims lapse on database time: the hubs' clocks need not agree.
      const [row] = await rows<TaskRow>(
        'pushhub_claim_task',
        `WITH clock AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms)
         UPDATE tasks SET owner = $1, lease_until = (SELECT ms FROM clock) + $2, updated_at = $3
         WHERE id = (SELECT id FROM tasks WHERE state = 'running' AND (owner IS NULL OR lease_until < (SELECT ms FROM clock))
                     ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING ${TASK_LIST}`,
        [hubId, leaseMs, now],
      );
      return row && fromTaskRow(row);
    },
    replayBatch: (taskId, now, leaseMs, limit) =>
      transaction(async (client) => {
        const run = <R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]) => client.query<R>({ name, text, values });
        const [held] = (await run<TaskRow>('pushhub_task_held', `SELECT ${TASK_LIST} FROM tasks WHERE id = $1 AND owner = $2 AND state = 'running' FOR UPDATE`, [taskId, hubId])).rows;
        if (!held) return undefined;
        const task = fromTaskRow(held);
        const [subRow] = (await run<SubscriptionRow>('pushhub_subscription_in_tx', `SELECT ${SUBSCRIPTION_LIST} FROM subscriptions WHERE id = $1`, [task.subscriptionId])).rows;
        let next: Task;
        let created = 0;
        if (!subRow) {
          next = { ...task, state: 'failed', error: 'the subscription was deleted', updatedAt: now };
        } else {
          const sub = fromSubscriptionRow(subRow);
          const page = (
            await run<EventRow>('pushhub_replay_page', `SELECT ${EVENT_LIST} FROM events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`, [task.position, task.toSeq, limit])
          ).rows.map(fromEventRow);
          const last = page.at(-1)?.seq ?? task.toSeq; // nothing left of the range: retention took it
          const had = await run<{ event_seq: number }>(
            'pushhub_replay_had',
            'SELECT event_seq FROM deliveries WHERE subscription_id = $1 AND event_seq > $2 AND event_seq <= $3',
            [sub.id, task.position, last],
          );
          const owed = replayTargets(sub, task, page, new Set(had.rows.map((r) => r.event_seq)));
          if (owed.length > 0) {
            await run(
              'pushhub_replay_insert',
              `WITH made AS (
                 INSERT INTO deliveries (id, subscription_id, event_id, event_seq, state, next_attempt_at, created_at, updated_at)
                 SELECT d.id, $1, d.event_id, d.event_seq, 'pending', $2, $2, $2
                 FROM unnest($3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY AS d (id, event_id, event_seq, n) ORDER BY d.n
               )
               SELECT pg_notify('${CHANGED_CHANNEL}', 'due:' || $1)`,
              [sub.id, now, owed.map(() => newId('dlv', { now: () => now }, random)), owed.map((e) => e.id), owed.map((e) => e.seq)],
            );
          }
          created = owed.length;
          next = { ...task, position: last, created: task.created + created, state: last >= task.toSeq ? 'succeeded' : 'running', updatedAt: now };
        }
        await run(
          'pushhub_task_update',
          `UPDATE tasks SET state = $2, position = $3, created = $4, error = $5, updated_at = $6,
             lease_until = (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $7 WHERE id = $1`,
          [next.id, next.state, next.position, next.created, next.error, now, leaseMs],
        );
        return { task: next, created };
      }),

    async createKey(key) {
      const row = toKeyRow(key);
      await query(
        'pushhub_create_key',
        `WITH put AS (INSERT INTO api_keys (${KEY_LIST}) VALUES (${KEY_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})),
         bumped AS (UPDATE log_head SET keys_version = keys_version + 1)
         SELECT pg_notify('${CHANGED_CHANNEL}', 'keys')`,
        KEY_COLUMNS.map((c) => row[c]),
      );
    },
    async listKeys() {
      return (await rows<KeyRow>('pushhub_list_keys', `SELECT ${KEY_LIST} FROM api_keys ORDER BY created_at, id`)).map(fromKeyRow);
    },
    async keyByHash(hash) {
      const [row] = await rows<KeyRow>('pushhub_key_by_hash', `SELECT ${KEY_LIST} FROM api_keys WHERE hash = $1`, [hash]);
      return row && fromKeyRow(row);
    },
    async revokeKey(id) {
      const [row] = await rows<{ deleted: number }>(
        'pushhub_revoke_key',
        `WITH gone AS (DELETE FROM api_keys WHERE id = $1 RETURNING id),
         bumped AS (UPDATE log_head SET keys_version = keys_version + 1 WHERE EXISTS (SELECT 1 FROM gone))
         SELECT count(*) AS deleted, pg_notify('${CHANGED_CHANNEL}', 'keys') FROM gone`,
        [id],
      );
      return row!.deleted > 0;
    },
    async recordKeysUsed(uses) {
      if (uses.length === 0) return;
      // Not a change other hubs need to hear of: no version, no notification.
      await query(
        'pushhub_keys_used',
        `UPDATE api_keys k SET last_used_at = u.at FROM unnest($1::text[], $2::bigint[]) AS u (id, at)
         WHERE k.id = u.id AND coalesce(k.last_used_at, 0) < u.at`,
        [uses.map((u) => u.id), uses.map((u) => u.at)],
      );
    },

    async delivery(id) {
      const [row] = await rows<DeliveryRow>('pushhub_delivery', `SELECT ${DELIVERY_LIST} FROM deliveries WHERE id = $1`, [id]);
      return row && fromDeliveryRow(row);
    },
    async deliveryAttempts(seq) {
      const found = await rows<AttemptRow>(
        'pushhub_attempts',
        'SELECT n, at, duration_ms, status, error, response_body FROM delivery_attempts WHERE delivery_seq = $1 ORDER BY n',
        [seq],
      );
      return found.map(fromAttemptRow);
    },
    async deliveriesOfEvent(eventSeq) {
      return (await rows<DeliveryRow>('pushhub_deliveries_of_event', `SELECT ${DELIVERY_LIST} FROM deliveries WHERE event_seq = $1 ORDER BY seq`, [eventSeq])).map(
        fromDeliveryRow,
      );
    },
    async listDeliveries({ subscriptionId, state, beforeSeq, limit }) {
      const where = ['seq < $1'];
      const values: unknown[] = [beforeSeq ?? Number.MAX_SAFE_INTEGER, limit];
      if (subscriptionId !== undefined) where.push(`subscription_id = $${values.push(subscriptionId)}`);
      if (state !== undefined) where.push(`state = $${values.push(state)}`);
      const name = `pushhub_list_deliveries_${subscriptionId === undefined ? 'all' : 'sub'}_${state === undefined ? 'any' : 'state'}`;
      return (await rows<DeliveryRow>(name, `SELECT ${DELIVERY_LIST} FROM deliveries WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $2`, values)).map(
        fromDeliveryRow,
      );
    },
    async deliveryCounts() {
      const found = await rows<{ subscription_id: string; waiting: number; dead: number }>(
        'pushhub_delivery_counts',
        `SELECT subscription_id, count(*) FILTER (WHERE ${WAITING}) AS waiting, count(*) FILTER (WHERE state = 'dead') AS dead
         FROM deliveries WHERE ${WAITING} OR state = 'dead' GROUP BY subscription_id`,
      );
      const waiting = new Map<string, number>();
      const dead = new Map<string, number>();
      for (const r of found) {
        if (r.waiting > 0) waiting.set(r.subscription_id, r.waiting);
        if (r.dead > 0) dead.set(r.subscription_id, r.dead);
      }
      return { waiting, dead };
    },

    async renewLeases(now, leaseMs) {
      const found = await rows<{ subscription_id: string | null; epoch: number; hubs: number; share: number; requeued: number }>('pushhub_renew_leases', RENEW_LEASES, [
        hubId,
        leaseMs,
        now,
      ]);
      return {
        leases: found.filter((r) => r.subscription_id !== null).map((r) => ({ subscriptionId: r.subscription_id!, epoch: r.epoch })),
        hubs: found[0]!.hubs,
        share: found[0]!.share,
        requeued: found[0]!.requeued,
      };
    },
    async releaseLeases(subscriptionIds) {
      // Expired, not deleted: the next owner's epoch follows this one's.
      if (subscriptionIds) {
        await query(
          'pushhub_release_some_leases',
          `WITH gone AS (UPDATE subscription_leases SET expires_at = now() WHERE owner = $1 AND subscription_id = ANY($2::text[]) AND expires_at > now())
           SELECT pg_notify('${CHANGED_CHANNEL}', 'leases')`,
          [hubId, subscriptionIds],
        );
        return;
      }
      await query(
        'pushhub_release_leases',
        `WITH gone AS (UPDATE subscription_leases SET expires_at = now() WHERE owner = $1 AND expires_at > now()),
         hub AS (DELETE FROM hubs WHERE id = $1)
         SELECT pg_notify('${CHANGED_CHANNEL}', 'leases')`,
        [hubId],
      );
    },
    retentionTurn: () => retention.tryHold(),
    ...postgresPresence({ hubId, transaction, rows }),
    recordAndClaim: ({ now, records, release, cancel, disable, claims, leases }) =>
      transaction(async (client) => {
        const run = (name: string, text: string, values: unknown[]) => client.query({ name, text, values });
        // Fencing: only subscriptions whose lease this hub holds at the epoch it acts under,
        // locked against a takeover until this pass commits.
        const held = (
          await run('pushhub_fence', FENCE, [hubId, leases.map((l) => l.subscriptionId), leases.map((l) => l.epoch)])
        ).rows.map((r: { subscription_id: string }) => r.subscription_id);
        const mine = new Set(held);
        // The operational events of this pass, from the rows as they were before it (locked:
        // the records below apply to exactly these).
        const eventful = eventfulRecords(records);
        const ops: OperationalEvent[] = [];
        if (eventful.length > 0) {
          const before = await run(
            'pushhub_recorded_rows',
            `SELECT d.seq, d.id, d.subscription_id, d.event_id, e.channel, d.last_status
             FROM deliveries d LEFT JOIN events e ON e.seq = d.event_seq
             WHERE d.seq = ANY($1::bigint[]) AND d.state = 'in_flight' AND ${fenced('$2')}
             FOR UPDATE OF d`,
            [eventful.map((r) => r.deliverySeq), held],
          );
          ops.push(...recordedEvents(eventful, before.rows as RecordedRow[]));
        }
        if (records.length > 0) {
          await run('pushhub_record_attempts', RECORD_ATTEMPTS, [
            records.map((r) => r.deliverySeq),
            records.map((r) => r.attempt.n),
            records.map((r) => r.attempt.at),
            records.map((r) => r.attempt.durationMs),
            records.map((r) => r.attempt.status),
            records.map((r) => r.attempt.error),
            records.map((r) => r.attempt.responseBody),
            held,
          ]);
          await run('pushhub_record_results', RECORD_RESULTS, [
            now,
            records.map((r) => r.deliverySeq),
            records.map((r) => r.result.state),
            records.map((r) => r.attempt.at),
            records.map((r) => r.attempt.status),
            records.map((r) => r.attempt.error),
            records.map((r) => ('nextAttemptAt' in r.result ? r.result.nextAttemptAt : now)),
            records.map((r) => ('nextAttemptAt' in r.result ? null : now)),
            held,
          ]);
        }
        if (release.length > 0) {
          await run(
            'pushhub_release',
            `UPDATE deliveries d SET ${releaseSet('$1')} WHERE seq = ANY($2::bigint[]) AND state = 'in_flight' AND ${fenced('$3')}`,
            [now, release, held],
          );
        }
        if (cancel.length > 0) {
          await run(
            'pushhub_cancel_claimed',
            `UPDATE deliveries d SET state = 'cancelled', last_error = 'subscription deleted', updated_at = $1, completed_at = $1
             WHERE seq = ANY($2::bigint[]) AND state = 'in_flight' AND ${fenced('$3')}`,
            [now, cancel, held],
          );
        }
        if (disable.length > 0) {
          const off = await run(
            'pushhub_disable',
            `WITH off AS (
               UPDATE subscriptions s SET enabled = false, disabled_reason = d.reason, updated_at = $1
               FROM unnest($2::text[], $3::text[]) AS d (id, reason) WHERE s.id = d.id AND s.enabled AND s.id = ANY($4::text[])
               RETURNING s.id, s.url, d.reason
             ), bumped AS (UPDATE log_head SET subscriptions_version = subscriptions_version + 1 WHERE EXISTS (SELECT 1 FROM off))
             SELECT off.*, pg_notify('${CHANGED_CHANNEL}', 'subscriptions') FROM off`,
            [now, disable.map((d) => d.id), disable.map((d) => d.reason), held],
          );
          for (const r of off.rows as Array<{ id: string; url: string; reason: DisabledReason }>) ops.push(subscriptionDisabledEvent(r, r.reason));
        }
        const results: ClaimResult[] = [];
        if (claims) await claimAll(client, claims, mine, now, results);
        // Last: the head's lock is held only until the COMMIT.
        await writeOperational(client, ops, now);
        return results;
      }),

    async releaseStrays(leases, known, now) {
      const result = await query(
        'pushhub_release_strays',
        `UPDATE deliveries d SET ${releaseSet('$1')}
         WHERE d.state = 'in_flight' AND NOT (d.seq = ANY($5::bigint[])) AND d.subscription_id IN (
           SELECT l.subscription_id FROM subscription_leases l
           JOIN unnest($2::text[], $3::bigint[]) AS h (id, epoch) ON l.subscription_id = h.id AND l.epoch = h.epoch
           WHERE l.owner = $4 AND l.expires_at > now()
         )`,
        [now, leases.map((l) => l.subscriptionId), leases.map((l) => l.epoch), hubId, known],
      );
      return result.rowCount ?? 0;
    },
    async requeueDelivery(id, now) {
      const [row] = await rows<DeliveryRow & { prior: DeliveryState }>(
        'pushhub_requeue',
        `WITH cur AS (SELECT seq, state FROM deliveries WHERE id = $1 FOR UPDATE),
         upd AS (
           UPDATE deliveries d SET
             cycle_attempts = CASE WHEN d.${FINISHED} THEN 0 ELSE d.cycle_attempts END,
             cycle_started_at = CASE WHEN d.${FINISHED} THEN NULL ELSE d.cycle_started_at END,
             state = CASE WHEN d.${FINISHED} THEN 'pending' ELSE d.state END,
             completed_at = NULL, next_attempt_at = $2, updated_at = $2
           FROM cur WHERE d.seq = cur.seq AND cur.state NOT IN ('in_flight', 'cancelled')
           RETURNING d.*
         )
         SELECT cur.state AS prior, upd.*, CASE WHEN upd.seq IS NULL THEN NULL ELSE pg_notify('${CHANGED_CHANNEL}', 'due:' || upd.subscription_id) END
         FROM cur LEFT JOIN upd ON true`,
        [id, now],
      );
      if (!row) return { ok: false, reason: 'not_found' };
      if (row.prior === 'in_flight') return { ok: false, reason: 'in_flight' };
      if (row.prior === 'cancelled') return { ok: false, reason: 'cancelled' };
      return { ok: true, delivery: fromDeliveryRow(row) };
    },
    async redriveDead(subscriptionId, now, batch, window = {}) {
      const [row] = await rows<{ requeued: number }>(
        'pushhub_redrive',
        `WITH requeued AS (
           UPDATE deliveries SET state = 'pending', cycle_attempts = 0, cycle_started_at = NULL, completed_at = NULL,
             next_attempt_at = $1, updated_at = $1
           WHERE seq IN (SELECT seq FROM deliveries WHERE state = 'dead' AND subscription_id = $2 AND created_at >= $4 AND created_at < $5
                         ORDER BY seq LIMIT $3 FOR UPDATE)
           RETURNING 1
         )
         SELECT count(*) AS requeued, pg_notify('${CHANGED_CHANNEL}', 'due:' || $2) FROM requeued`,
        [now, subscriptionId, batch, window.since ?? 0, window.until ?? Number.MAX_SAFE_INTEGER],
      );
      return row!.requeued;
    },
    async cancelWaiting(subscriptionId, now, batch) {
      const result = await query(
        'pushhub_cancel_waiting',
        `UPDATE deliveries SET state = 'cancelled', last_error = 'subscription deleted', updated_at = $1, completed_at = $1
         WHERE seq IN (SELECT seq FROM deliveries WHERE subscription_id = $2 AND ${WAITING} ORDER BY event_seq, seq LIMIT $3 FOR UPDATE)`,
        [now, subscriptionId, batch],
      );
      return result.rowCount ?? 0;
    },

    async pruneEvents(cutoff, batch) {
      // A prefix of the log: the oldest `batch` events, up to the first one too young.
      const [row] = await rows<{ pruned: number }>(
        'pushhub_prune_events',
        `WITH oldest AS (SELECT seq, received_at FROM events ORDER BY seq LIMIT $2),
         prefix AS (
           SELECT seq FROM oldest
           WHERE seq < coalesce((SELECT min(seq) FROM oldest WHERE received_at >= $1), 9223372036854775807)
         ),
         through AS (SELECT max(seq) AS seq, count(*) AS n FROM prefix),
         gone AS (DELETE FROM events WHERE seq <= (SELECT seq FROM through)),
         moved AS (
           UPDATE log_head SET pruned_through = greatest(pruned_through, (SELECT seq FROM through))
           WHERE (SELECT n FROM through) > 0
         )
         SELECT n AS pruned FROM through`,
        [cutoff, batch],
      );
      return row!.pruned;
    },
    async pruneIdempotencyKeys(cutoff, batch) {
      const result = await query(
        'pushhub_prune_keys',
        'DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2)',
        [cutoff, batch],
      );
      return result.rowCount ?? 0;
    },
    async pruneFinishedDeliveries(cutoff, batch) {
      const result = await query(
        'pushhub_prune_finished',
        `DELETE FROM deliveries WHERE seq IN
           (SELECT seq FROM deliveries WHERE ${FINISHED} AND completed_at < $1 ORDER BY completed_at LIMIT $2)`,
        [cutoff, batch],
      );
      return result.rowCount ?? 0;
    },
    async pruneDeliveriesOfPrunedEvents(batch) {
      const result = await query(
        'pushhub_prune_orphans',
        'DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries WHERE event_seq <= (SELECT pruned_through FROM log_head) LIMIT $1)',
        [batch],
      );
      return result.rowCount ?? 0;
    },

    async checkWritable() {
      const [row] = await rows<{ recovery: boolean; read_only: string }>(
        'pushhub_writable',
        "SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only",
      );
      if (row!.recovery || row!.read_only === 'on') {
        throw pgStorageError(Object.assign(new Error('the database is read-only'), { code: '25006' }));
      }
    },
    async close() {
      await appending;
      await watch.close();
      await retention.release();
      await pool.end();
    },
  };
}

/** INSERT OR REPLACE semantics within one write: the last row of a key wins (ON CONFLICT cannot touch a row twice). */
function lastOfEachKey(keys: ReadonlyArray<{ key: string; fingerprint: string; response: ResponseTemplate }>) {
  const byKey = new Map<string, { key: string; fingerprint: string; template: string }>();
  for (const k of keys) byKey.set(k.key, { key: k.key, fingerprint: k.fingerprint, template: JSON.stringify(k.response) });
  return [...byKey.values()];
}

/** Back to where it was before the claim, due `now` (a parameter): an attempt that never got its answer is not counted. */
export const releaseSet = (now: string): string =>
  `state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END, next_attempt_at = ${now}, updated_at = ${now}`;

/** An arbitrary, fixed key, distinct from the migrations' one: the hub holding it runs retention. */
const RETENTION_LOCK = 0x72746e; // "rtn"
/** How long a hub's claim on an Idempotency-Key lasts: far longer than a commit may take. */
const KEY_CLAIM_MS = 30_000;

/**
 * Claims a key, unless a response no older than `since` is saved for it, or another hub's
 * claim on it has not expired. `cur` is the row before (the statement's snapshot); when
 * another hub inserted it meanwhile, neither comes back and the caller asks again.
 */
const CLAIM_KEY = `
WITH cur AS (SELECT fingerprint, response_template, response_base, created_at FROM idempotency_keys WHERE key = $1),
clock AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms),
claim AS (
  INSERT INTO idempotency_keys (key, fingerprint, claimed_by, claimed_until, created_at)
  SELECT $1, $2, $3, clock.ms + $6, $4 FROM clock
  ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, response_template = NULL, response_base = NULL,
    claimed_by = excluded.claimed_by, claimed_until = excluded.claimed_until, created_at = excluded.created_at
  WHERE (idempotency_keys.response_template IS NULL AND idempotency_keys.claimed_until < (SELECT ms FROM clock))
     OR (idempotency_keys.response_template IS NOT NULL AND idempotency_keys.created_at < $5)
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM claim) AS claimed, cur.* FROM (SELECT 1) AS one LEFT JOIN cur ON true`;

/**
 * One statement: this hub is seen alive, renews the leases it holds, and takes free or
 * expired ones up to its share (the subscriptions over the live hubs, rounded up); a lease
 * taken over gets the next epoch, and its deliveries left in flight go back to the queue.
 * An expired lease is never renewed, even one of ours: it is taken again, at a new epoch.
 * Two hubs after the same free lease: ON CONFLICT lets one have it.
 */
const RENEW_LEASES = `
WITH seen AS (
  INSERT INTO hubs (id, started_at, seen_at) VALUES ($1, now(), now()) ON CONFLICT (id) DO UPDATE SET seen_at = now()
), live AS (
  SELECT count(*) + CASE WHEN EXISTS (SELECT 1 FROM hubs WHERE id = $1 AND seen_at > now() - $2 * interval '1 millisecond') THEN 0 ELSE 1 END AS n
  FROM hubs WHERE seen_at > now() - $2 * interval '1 millisecond'
), renewed AS (
  UPDATE subscription_leases SET expires_at = now() + $2 * interval '1 millisecond'
  WHERE owner = $1 AND expires_at > now()
  RETURNING subscription_id, epoch
), fair AS (
  SELECT (SELECT count(*) FROM subscriptions)::numeric / (SELECT n FROM live) AS n
), share AS (
  -- Up to the fair share rounded up; rounded down while another live hub holds less than that.
  SELECT CASE WHEN EXISTS (
    SELECT 1 FROM hubs h WHERE h.id <> $1 AND h.seen_at > now() - $2 * interval '1 millisecond'
      AND (SELECT count(*) FROM subscription_leases l WHERE l.owner = h.id AND l.expires_at > now()) < floor((SELECT n FROM fair))
  ) THEN floor((SELECT n FROM fair)) ELSE ceil((SELECT n FROM fair)) END::integer AS n
), free AS (
  SELECT s.id FROM subscriptions s LEFT JOIN subscription_leases l ON l.subscription_id = s.id
  WHERE l.subscription_id IS NULL OR l.expires_at <= now()
  ORDER BY s.created_at, s.id
  LIMIT greatest(0, (SELECT n FROM share) - (SELECT count(*) FROM renewed))
), taken AS (
  INSERT INTO subscription_leases (subscription_id, owner, epoch, expires_at)
  SELECT id, $1, 1, now() + $2 * interval '1 millisecond' FROM free
  ON CONFLICT (subscription_id) DO UPDATE SET owner = excluded.owner, epoch = subscription_leases.epoch + 1, expires_at = excluded.expires_at
  WHERE subscription_leases.expires_at <= now()
  RETURNING subscription_id, epoch
), requeued AS (
  UPDATE deliveries SET ${releaseSet('$3')}
  WHERE state = 'in_flight' AND subscription_id IN (SELECT subscription_id FROM taken)
  RETURNING 1
), held AS (SELECT * FROM renewed UNION ALL SELECT * FROM taken)
SELECT (SELECT n FROM live) AS hubs, (SELECT n FROM share) AS share, (SELECT count(*) FROM requeued) AS requeued, held.*
FROM (SELECT 1) AS one LEFT JOIN held ON true`;

/**
 * A delivery `d` this pass may write: its subscription's lease is among those held (a
 * parameter, from FENCE), or its subscription is gone (no hub can own it any more: the one
 * that claimed the delivery finishes it).
 */
const fenced = (held: string): string =>
  `(d.subscription_id = ANY(${held}::text[]) OR NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = d.subscription_id))`;

/** The leases of a pass that this hub holds, at the epochs given, locked until the pass commits. */
const FENCE = `
SELECT l.subscription_id FROM subscription_leases l
JOIN unnest($2::text[], $3::bigint[]) AS h (id, epoch) ON l.subscription_id = h.id AND l.epoch = h.epoch
WHERE l.owner = $1 AND l.expires_at > now()
FOR SHARE OF l`;

/** Column lists for SELECT and INSERT. */
const EVENT_LIST = EVENT_COLUMNS.join(', ');
const DELIVERY_LIST = DELIVERY_COLUMNS.join(', ');
const SUBSCRIPTION_LIST = SUBSCRIPTION_COLUMNS.join(', ');
const KEY_LIST = KEY_COLUMNS.join(', ');
const TASK_LIST = TASK_COLUMNS.join(', ');

const WAITING = "state IN ('pending', 'retrying')";
const FINISHED = "state IN ('succeeded', 'dead', 'cancelled')";

// Attempts are kept even for a delivery no longer in flight, as the SQLite store does; a row
// retention already removed has nothing to attach them to.
const RECORD_ATTEMPTS = `
INSERT INTO delivery_attempts (delivery_seq, n, at, duration_ms, status, error, response_body)
SELECT r.* FROM unnest($1::bigint[], $2::integer[], $3::bigint[], $4::integer[], $5::integer[], $6::text[], $7::text[])
  AS r (delivery_seq, n, at, duration_ms, status, error, response_body)
WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = r.delivery_seq AND ${fenced('$8')})
ON CONFLICT (delivery_seq, n) DO UPDATE SET at = excluded.at, duration_ms = excluded.duration_ms, status = excluded.status,
  error = excluded.error, response_body = excluded.response_body`;

const RECORD_RESULTS = `
UPDATE deliveries d SET state = r.state, attempts = d.attempts + 1, cycle_attempts = d.cycle_attempts + 1,
  cycle_started_at = coalesce(d.cycle_started_at, r.at), last_status = r.status, last_error = r.error,
  next_attempt_at = r.next_attempt_at, updated_at = $1, completed_at = r.completed_at
FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::integer[], $6::text[], $7::bigint[], $8::bigint[])
  AS r (seq, state, at, status, error, next_attempt_at, completed_at)
WHERE d.seq = r.seq AND d.state = 'in_flight' AND ${fenced('$9')}`;

/**
 * Takes the chosen rows (`due`, a CTE): in flight with their events, or cancelled when
 * retention already removed the event. Rows come back in `due` order.
 */
const TAKE = `
orphans AS (
  UPDATE deliveries d SET state = 'cancelled', last_error = 'event no longer retained', updated_at = $2, completed_at = $2
  FROM due WHERE d.seq = due.seq AND NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = d.event_seq)
  RETURNING d.seq
), taken AS (
  UPDATE deliveries d SET state = 'in_flight', updated_at = $2
  FROM due JOIN events e ON e.seq = due.event_seq
  WHERE d.seq = due.seq
  RETURNING d.seq, d.id, d.attempts, d.cycle_attempts, d.cycle_started_at, d.next_attempt_at, d.event_id, d.event_seq,
    e.channel, e.type, e.occurred_at, e.received_at, e.data
)`;

const CLAIM_DUE = `
WITH due AS (
  SELECT seq, event_seq FROM deliveries
  WHERE subscription_id = $1 AND ${WAITING} AND next_attempt_at <= $2
  ORDER BY next_attempt_at, seq LIMIT $3
  FOR UPDATE SKIP LOCKED
), ${TAKE}
SELECT (SELECT min(next_attempt_at) FROM deliveries
        WHERE subscription_id = $1 AND ${WAITING} AND seq NOT IN (SELECT seq FROM due)) AS next_due, t.*
FROM (SELECT 1) AS one LEFT JOIN taken t ON true
ORDER BY t.next_attempt_at, t.seq`;

// The head is never skipped: FOR UPDATE, not SKIP LOCKED.
const CLAIM_HEAD = `
WITH head AS (
  SELECT seq, event_seq, next_attempt_at FROM deliveries
  WHERE subscription_id = $1 AND ${WAITING}
  ORDER BY event_seq, seq LIMIT 1
  FOR UPDATE
), due AS (SELECT seq, event_seq FROM head WHERE next_attempt_at <= $2), ${TAKE}
SELECT head.next_attempt_at AS head_due, (SELECT count(*) FROM orphans) AS orphans, t.*
FROM head LEFT JOIN taken t ON true`;

type ClaimRow = {
  seq: number | null;
  id: string;
  attempts: number;
  cycle_attempts: number;
  cycle_started_at: number | null;
  next_attempt_at: number;
  event_id: string;
  event_seq: number;
  channel: string;
  type: string;
  occurred_at: number;
  received_at: number;
  data: string;
};

const toClaimed = (subscriptionId: string, r: ClaimRow): ClaimedDelivery => ({
  seq: r.seq!,
  id: r.id,
  subscriptionId,
  attempt: r.attempts + 1,
  cycleAttempts: r.cycle_attempts,
  cycleStartedAt: r.cycle_started_at,
  event: { seq: r.event_seq, id: r.event_id, channel: r.channel, type: r.type, occurredAt: r.occurred_at, receivedAt: r.received_at, data: r.data },
});

/** The claims of a pass, in order, within its budget; only subscriptions this hub holds (`mine`). */
async function claimAll(client: pg.PoolClient, claims: ClaimBatch, mine: ReadonlySet<string>, now: number, results: ClaimResult[]): Promise<void> {
  let budget = claims.budget;
  for (const { subscriptionId, ordered, limit } of claims.requests) {
    if (budget <= 0) break;
    if (!mine.has(subscriptionId)) {
      results.push({ claimed: [], nextDueAt: null }); // not this hub's (any more): its owner claims
      continue;
    }
    const result = ordered ? await claimHead(client, subscriptionId, now) : await claimDue(client, subscriptionId, Math.min(limit, budget), now);
    budget -= result.claimed.length;
    results.push(result);
  }
}

async function claimDue(client: pg.PoolClient, subscriptionId: string, limit: number, now: number): Promise<ClaimResult> {
  const { rows } = await client.query<ClaimRow & { next_due: number | null }>({ name: 'pushhub_claim_due', text: CLAIM_DUE, values: [subscriptionId, now, limit] });
  return { claimed: rows.filter((r) => r.seq !== null).map((r) => toClaimed(subscriptionId, r)), nextDueAt: rows[0]?.next_due ?? null };
}

async function claimHead(client: pg.PoolClient, subscriptionId: string, now: number): Promise<ClaimResult> {
  const { rows } = await client.query<ClaimRow & { head_due: number; orphans: number }>({ name: 'pushhub_claim_head', text: CLAIM_HEAD, values: [subscriptionId, now] });
  const head = rows[0];
  if (!head) return { claimed: [], nextDueAt: null };
  if (head.head_due > now) return { claimed: [], nextDueAt: head.head_due };
  // An orphan head was cancelled: whatever follows is due to be looked at at once.
  if (head.orphans > 0 || head.seq === null) return { claimed: [], nextDueAt: now };
  return { claimed: [toClaimed(subscriptionId, head)], nextDueAt: null };
}
