import pg from 'pg';
import { KEY_COLUMNS as API_KEY_COLUMNS, type KeyRow as ApiKeyRow } from '../keys.js';
import { cursorCodec } from '../../domain/cursor.js';
import { fillTemplateAfter, type ResponseTemplate } from '../../domain/response-template.js';
import { TASK_COLUMNS, type TaskRow } from '../../domain/task.js';
import { ATTEMPT_COLUMNS, DELIVERY_COLUMNS, EVENT_COLUMNS, SUBSCRIPTION_COLUMNS, type DeliveryAttemptRow, type DeliveryRow, type EventRow, type SubscriptionRow } from '../rows.js';
import { checkSourceSchema, CopyError, PAGE_ROWS, reason, type CopyCounts, type OpenSnapshot, type Pages, type SavedKeyRow, type Snapshot, type SnapshotHead } from '../snapshot.js';
import { releaseSet, types } from './index.js';
import { latestSchemaVersion, migrate, MIGRATION_LOCK, SchemaTooNewError } from './migrate.js';

// `pushhub copy` on the PostgreSQL side. `name` is the flag and the URL without its
// password, for messages; the URL itself never goes into one.

/** The tables a copy reads and writes. Others (a later migration's) are left alone. */
const TABLES = ['log_head', 'events', 'subscriptions', 'deliveries', 'delivery_attempts', 'idempotency_keys', 'api_keys', 'tasks'] as const;

async function connect(url: string, name: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'pushhub copy', connectionTimeoutMillis: 10_000, types });
  // A connection lost while idle emits 'error'; the query under way (if any) rejects anyway.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new CopyError(`${name}: cannot connect (${reason(err)})`);
  }
  return client;
}

/** Which of `tables` the database lacks. */
async function missingTables(client: pg.ClientBase, tables: readonly string[]): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>('SELECT t AS name FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NULL', [tables]);
  return rows.map((r) => r.name);
}

/** The schema version the database is at (0: never migrated). */
async function schemaVersion(client: pg.ClientBase): Promise<number> {
  if ((await missingTables(client, ['pushhub_migrations'])).length > 0) return 0;
  const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM pushhub_migrations');
  return rows[0]?.version ?? 0;
}

/** Rows of a query in pages of PAGE_ROWS, through a cursor of the transaction `client` is in. */
async function* pages<R extends pg.QueryResultRow>(client: pg.ClientBase, name: string, cursor: string, sql: string): AsyncGenerator<R[]> {
  try {
    await client.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${sql}`);
    for (;;) {
      const { rows } = await client.query<R>(`FETCH FORWARD ${PAGE_ROWS} FROM ${cursor}`);
      if (rows.length > 0) yield rows;
      if (rows.length < PAGE_ROWS) break;
    }
    await client.query(`CLOSE ${cursor}`);
  } catch (err) {
    throw new CopyError(`${name}: reading failed (${reason(err)})`);
  }
}

/**
 * A PostgreSQL database as one snapshot: one REPEATABLE READ, READ ONLY transaction held
 * until closed, every table read through it in pages. Hubs keep writing meanwhile; the
 * snapshot sees the commits that preceded its first read and none after, so its log is a
 * prefix without gaps (positions are handed out in commit order). Idempotency keys still
 * claimed by a request under way (no response saved yet) are left out.
 */
export async function openPostgresSnapshot(url: string, name: string): Promise<OpenSnapshot> {
  const client = await connect(url, name);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const head = await readHead(client, name);
    const encode = cursorCodec(head.epoch).encode;
    const all = <R extends pg.QueryResultRow>(cursor: string, sql: string) => pages<R>(client, name, cursor, sql);
    const snapshot: Snapshot = {
      head,
      events: () => all<EventRow>('copy_events', `SELECT ${EVENT_COLUMNS.join(', ')} FROM events ORDER BY seq`),
      subscriptions: () => all<SubscriptionRow>('copy_subscriptions', `SELECT ${SUBSCRIPTION_COLUMNS.join(', ')} FROM subscriptions ORDER BY id`),
      deliveries: () => all<DeliveryRow>('copy_deliveries', `SELECT ${DELIVERY_COLUMNS.join(', ')} FROM deliveries ORDER BY seq`),
      attempts: () => all<DeliveryAttemptRow>('copy_attempts', `SELECT ${ATTEMPT_COLUMNS.join(', ')} FROM delivery_attempts ORDER BY delivery_seq, n`),
      apiKeys: () => all<ApiKeyRow>('copy_api_keys', `SELECT ${API_KEY_COLUMNS.join(', ')} FROM api_keys ORDER BY id`),
      tasks: () => all<TaskRow>('copy_tasks', `SELECT ${TASK_COLUMNS.join(', ')} FROM tasks ORDER BY id`),
      async *idempotencyKeys() {
        type Row = { key: string; fingerprint: string; response_template: string; response_base: number; created_at: number };
        const saved = all<Row>(
          'copy_keys',
          'SELECT key, fingerprint, response_template, response_base, created_at FROM idempotency_keys WHERE response_template IS NOT NULL ORDER BY key',
        );
        for await (const page of saved) {
          yield page.map((k) => ({
            key: k.key,
            fingerprint: k.fingerprint,
            response: fillTemplateAfter(JSON.parse(k.response_template) as ResponseTemplate, k.response_base, encode),
            created_at: k.created_at,
          }));
        }
      },
    };
    return {
      snapshot,
      async close() {
        await client.query('COMMIT').catch(() => undefined);
        await client.end().catch(() => undefined);
      },
    };
  } catch (err) {
    await client.end().catch(() => undefined);
    if (err instanceof CopyError) throw err;
    throw new CopyError(`${name}: reading failed (${reason(err)})`);
  }
}

/** The epoch and the heads, in the snapshot; refuses a database that is not a pushhub one this version reads. */
async function readHead(client: pg.ClientBase, name: string): Promise<SnapshotHead> {
  const missing = await missingTables(client, TABLES);
  if (missing.includes('log_head')) throw new CopyError(`${name}: not a pushhub database (no log_head table)`);
  checkSourceSchema(name, await schemaVersion(client), latestSchemaVersion(), missing);
  const { rows } = await client.query<{ seq: number; epoch: string; pruned_through: number; deliveries_head: number }>(
    `SELECT seq, epoch, pruned_through,
       greatest(coalesce(pg_sequence_last_value(pg_get_serial_sequence('deliveries', 'seq')::regclass), 0),
                (SELECT coalesce(max(seq), 0) FROM deliveries)) AS deliveries_head
     FROM log_head`,
  );
  const row = rows[0];
  if (!row) throw new CopyError(`${name}: not a pushhub database (no log head: no hub ever started on it)`);
  return { epoch: row.epoch, head: row.seq, prunedThrough: row.pruned_through, deliveriesHead: row.deliveries_head };
}

/** What a database holds already, in words; undefined when it is empty (or has no pushhub tables). */
async function contents(client: pg.ClientBase): Promise<string | undefined> {
  const missing = await missingTables(client, TABLES);
  const held: string[] = [];
  if (!missing.includes('log_head')) {
    const { rows } = await client.query<{ seq: number }>('SELECT seq FROM log_head');
    if ((rows[0]?.seq ?? 0) > 0) held.push(`a log at position ${rows[0]!.seq}`);
  }
  for (const table of TABLES.slice(1)) {
    if (missing.includes(table)) continue;
    const { rows } = await client.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${table}) AS any`);
    if (rows[0]!.any) held.push(table.replace('_', ' '));
  }
  return held.length === 0 ? undefined : held.join(', ');
}

/**
 * Writes a snapshot into an empty PostgreSQL database (no pushhub tables, or empty ones):
 * migrates it with the store's migrations, then writes everything in one transaction, so a
 * copy that fails leaves the database as empty as it was. The transaction holds the hub
 * lock (no hub may run on the target meanwhile, or start) and locks the tables it fills.
 * Rows keep their positions and seqs; deliveries in flight in the snapshot are released,
 * as a hub does at start; the deliveries' sequence goes on after the source's.
 */
export async function writePostgresSnapshot(url: string, name: string, snapshot: Snapshot, now: number): Promise<CopyCounts> {
  const client = await connect(url, name);
  let committing = false;
  try {
    // Before migrating: a database with data in it is left exactly as it is.
    const held = await contents(client).catch((err: unknown) => {
      throw new CopyError(`${name}: cannot read it (${reason(err)})`);
    });
    if (held) throw notEmpty(name, held);
    try {
      await migrate(client);
    } catch (err) {
      if (err instanceof SchemaTooNewError) throw new CopyError(`${name}: ${err.message}`);
      throw new CopyError(`${name}: migrating failed (${reason(err)})`);
    }
    await client.query('BEGIN');
    if (!(await lockOutHubs(client))) throw new CopyError(`${name}: in use by a running pushhub hub; the copy goes into a database no hub runs on`);
    await client.query(`LOCK TABLE ${TABLES.join(', ')} IN EXCLUSIVE MODE`);
    const late = await contents(client); // written between the check above and the lock
    if (late) throw notEmpty(name, late);
    const counts = await fill(client, snapshot, now);
    committing = true;
    await client.query('COMMIT');
    return counts;
  } catch (err) {
    if (committing) {
      throw new CopyError(`${name}: the connection failed while the copy committed (${reason(err)}): it may or may not have been written; look, empty the database if need be, and copy again`);
    }
    await client.query('ROLLBACK').catch(() => undefined);
    if (err instanceof CopyError) throw err;
    throw new CopyError(`${name}: the copy failed and was rolled back, nothing was written (${reason(err)})`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const notEmpty = (name: string, held: string): CopyError =>
  new CopyError(`${name}: is not empty (it holds ${held}); the copy goes into an empty database`);

/** Column → PostgreSQL type, for `unnest($n::type[])`; every column of the row. */
type ColumnTypes<R> = { readonly [K in keyof R]-?: string };

const EVENT_TYPES: ColumnTypes<EventRow> = {
  seq: 'bigint', id: 'text', channel: 'text', type: 'text', occurred_at: 'bigint', received_at: 'bigint', data: 'text',
};
const SUBSCRIPTION_TYPES: ColumnTypes<SubscriptionRow> = {
  id: 'text', url: 'text', channels: 'text', types: 'text', description: 'text', ordered: 'boolean', max_in_flight: 'integer',
  rate_limit_per_s: 'double precision', signature_scheme: 'text', retry: 'text', secret: 'text', previous_secret: 'text',
  previous_secret_expires_at: 'bigint', enabled: 'boolean', disabled_reason: 'text', created_at: 'bigint', updated_at: 'bigint',
  headers: 'text',
};
const DELIVERY_TYPES: ColumnTypes<DeliveryRow> = {
  seq: 'bigint', id: 'text', subscription_id: 'text', event_id: 'text', event_seq: 'bigint', state: 'text', attempts: 'integer',
  cycle_attempts: 'integer', cycle_started_at: 'bigint', next_attempt_at: 'bigint', last_status: 'integer', last_error: 'text',
  created_at: 'bigint', updated_at: 'bigint', completed_at: 'bigint',
};
const ATTEMPT_TYPES: ColumnTypes<DeliveryAttemptRow> = {
  delivery_seq: 'bigint', n: 'integer', at: 'bigint', duration_ms: 'integer', status: 'integer', error: 'text', response_body: 'text',
};
interface KeyRow {
  key: string;
  fingerprint: string;
  response_template: string;
  response_base: number;
  created_at: number;
}
const API_KEY_TYPES: ColumnTypes<ApiKeyRow> = {
  id: 'text', name: 'text', scopes: 'text', prefix: 'text', hash: 'text', created_at: 'bigint', expires_at: 'bigint', last_used_at: 'bigint',
};
const TASK_TYPES: ColumnTypes<TaskRow> = {
  id: 'text', kind: 'text', subscription_id: 'text', state: 'text', from_seq: 'bigint', to_seq: 'bigint', since: 'bigint', until: 'bigint',
  position: 'bigint', created: 'bigint', error: 'text', created_at: 'bigint', updated_at: 'bigint',
};
const KEY_TYPES: ColumnTypes<KeyRow> = { key: 'text', fingerprint: 'text', response_template: 'text', response_base: 'bigint', created_at: 'bigint' };

/** Writes every page of `source` into `table`, PAGE_ROWS rows per statement; returns how many rows. */
async function insertAll<R, W = R>(client: pg.ClientBase, table: string, columns: ColumnTypes<W>, source: Pages<R>, map?: (row: R) => W): Promise<number> {
  const names = Object.keys(columns) as Array<keyof W & string>;
  const text = `INSERT INTO ${table} (${names.join(', ')}) SELECT * FROM unnest(${names.map((c, i) => `$${i + 1}::${columns[c]}[]`).join(', ')})`;
  let count = 0;
  for await (const page of source) {
    for (let i = 0; i < page.length; i += PAGE_ROWS) {
      const chunk = page.slice(i, i + PAGE_ROWS).map((row) => (map ? map(row) : (row as unknown as W)));
      await client.query({ name: `pushhub_copy_${table}`, text, values: names.map((c) => chunk.map((row) => row[c])) });
      count += chunk.length;
    }
  }
  return count;
}

/** Every row of the snapshot, inside the caller's transaction. */
async function fill(client: pg.ClientBase, snapshot: Snapshot, now: number): Promise<CopyCounts> {
  const { head } = snapshot;
  await client.query(
    `INSERT INTO log_head (seq, epoch, pruned_through) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, epoch = excluded.epoch, pruned_through = excluded.pruned_through,
       subscriptions_version = log_head.subscriptions_version + 1, keys_version = log_head.keys_version + 1`,
    [head.head, head.epoch, head.prunedThrough],
  );
  const events = await insertAll(client, 'events', EVENT_TYPES, snapshot.events());
  const subscriptions = await insertAll(client, 'subscriptions', SUBSCRIPTION_TYPES, snapshot.subscriptions());
  const deliveries = await insertAll(client, 'deliveries', DELIVERY_TYPES, snapshot.deliveries());
  await insertAll(client, 'delivery_attempts', ATTEMPT_TYPES, snapshot.attempts());
  // The response as saved, its cursors already in it: a template of one piece.
  await insertAll(client, 'idempotency_keys', KEY_TYPES, snapshot.idempotencyKeys(), (k: SavedKeyRow) => ({
    key: k.key,
    fingerprint: k.fingerprint,
    response_template: JSON.stringify({ pieces: [k.response], cursorOf: [] } satisfies ResponseTemplate),
    response_base: head.head,
    created_at: k.created_at,
  }));
  await insertAll(client, 'api_keys', API_KEY_TYPES, snapshot.apiKeys());
  await insertAll(client, 'tasks', TASK_TYPES, snapshot.tasks());
  // As a hub does at start: nothing copied stays claimed by a hub.
  await client.query(`UPDATE deliveries SET ${releaseSet('$1')} WHERE state = 'in_flight'`, [now]);
  // The deliveries' bigserial goes on after every seq the source handed out.
  await client.query("SELECT setval(pg_get_serial_sequence('deliveries', 'seq'), greatest($1::bigint, 1), $1::bigint > 0)", [head.deliveriesHead]);
  return { events, subscriptions, deliveries };
}

/**
 * Inside the copy's transaction: a hub starting now waits at its migrations until the copy
 * commits; a hub seen alive in the last minute (its lease renewals) refuses the copy.
 */
async function lockOutHubs(client: pg.ClientBase): Promise<boolean> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
  const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM hubs WHERE seen_at > now() - interval '1 minute'");
  return rows[0]!.n === 0;
}
