import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TASK_COLUMNS } from '../../src/domain/task.js';
import { cursorCodec } from '../../src/domain/cursor.js';
import { CopyError, copyDatabase } from '../../src/store/copy.js';
import { writePostgresSnapshot } from '../../src/store/postgres/copy.js';
import type { DeliveryRow, EventRow } from '../../src/store/rows.js';
import type { Snapshot } from '../../src/store/snapshot.js';
import { writeSqliteSnapshot } from '../../src/store/sqlite-copy.js';
import type { Store } from '../../src/store/store.js';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';
import { freshDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { connect } from '../helpers/ws-client.js';
import { createSubscription, json, publish, publishMany, waitFor, type CreatedSubscription } from '../helpers/webhooks.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pushhub-copy-pg-'));
const databases: TestDatabase[] = [];
const receivers: Receiver[] = [];
afterAll(async () => {
  for (const r of receivers) await r.close();
  for (const db of databases) await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function database(): Promise<TestDatabase> {
  const db = await freshDatabase();
  databases.push(db);
  return db;
}

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

/** `pushhub copy` from the built CLI (`npm run build` first): exit code and output. */
async function cli(from: string, to: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['dist/cli.js', 'copy', '--from', from, '--to', to], { cwd: ROOT, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Everything a store holds, read through the Store intents: the same on both stores when the data is. */
async function dump(store: Store) {
  const events = [];
  for (let after = 0; ; ) {
    const page = await store.readLog(after, 500);
    events.push(...page.events);
    if (page.events.length < 500) break;
    after = page.events.at(-1)!.seq;
  }
  const deliveries = await store.listDeliveries({ limit: 1_000_000 });
  const attempts = await Promise.all(deliveries.map(async (d) => ({ id: d.id, attempts: await store.deliveryAttempts(d.seq) })));
  // Without last_used_at: a hub writes it when it stops, after a dump taken while it ran.
  const keys = (await store.listKeys()).map(({ lastUsedAt: _, ...k }) => k).sort((x, y) => (x.id < y.id ? -1 : 1));
  return { epoch: store.epoch, position: await store.position(), events, subscriptions: (await store.subscriptions()).subscriptions, deliveries, attempts, keys };
}

type Dump = Awaited<ReturnType<typeof dump>>;

/** A dump without one delivery (and its attempts). */
const without = (d: Dump, deliveryId: string): Dump => ({
  ...d,
  deliveries: d.deliveries.filter((x) => x.id !== deliveryId),
  attempts: d.attempts.filter((x) => x.id !== deliveryId),
});

interface PolledEvent {
  id: string;
  cursor: string;
  [key: string]: unknown;
}

async function poll(hub: TestHub, channel: string, after?: string): Promise<{ status: number; events: PolledEvent[] }> {
  const res = await hub.api(`/v1/channels/${channel}/events?limit=1000${after ? `&after=${after}` : ''}`);
  return { status: res.status, events: res.status === 200 ? (await json<{ events: PolledEvent[] }>(res)).events : [] };
}

/** What the API shows of the deliveries: the list and each one with its attempts. */
async function deliveriesView(hub: TestHub): Promise<unknown[]> {
  const { deliveries } = await json<{ deliveries: Array<{ id: string }> }>(hub.api('/v1/deliveries?limit=1000'));
  return Promise.all(deliveries.map((d) => json(hub.api(`/v1/deliveries/${d.id}`))));
}

const CHANNELS = ['misc', 'orders.eu', 'orders.us', 'billing', 'slow'];

function publishWithKey(hub: TestHub, key: string, path: string, body: unknown): Promise<Response> {
  return hub.api(path, { body, headers: { 'idempotency-key': key } });
}
const SINGLE = { channel: 'orders.us', type: 'order.placed', data: { n: 'keyed' } };
const BATCH = { events: [{ channel: 'orders.us', type: 'order.placed', data: { n: 'b1' } }, { channel: 'billing', type: 'invoice.sent', data: { n: 'b2' } }] };

describe('pushhub copy between SQLite and PostgreSQL', () => {
  let source: TestHub;
  let apiKey = '';
  let good: Receiver;
  let slow: Receiver;
  const subs = {} as Record<'good' | 'flaky' | 'doomed' | 'held' | 'slow', CreatedSubscription>;
  let rotatedSecret: string;
  let keyed: { single: string; batch: string };
  let cursorBefore: PolledEvent;
  let expectedAfter: PolledEvent[];
  let deliveriesPage: { next_cursor: string; rest: unknown };
  let pgDb: TestDatabase;
  let inFlightId: string;
  let before: Dump;
  let onPostgres: TestHub | undefined;
  let sourceClosed = false;

  beforeAll(async () => {
    good = await receiver();
    const failing = await receiver(() => ({ status: 500, body: 'nope' }));
    // The first request hangs (in flight while the copy is taken); later ones succeed.
    slow = await receiver((req) => (req.index === 0 ? 'hang' : { status: 200 }));
    source = await startHub({ store: 'sqlite', dir: join(dir, 'source'), config: { allowPrivateUrls: true, shutdownGraceMs: 200 } });

    // An API key: its hash travels, so the key works on every copy.
    const made = await json<{ key: string }>(source.api('/v1/keys', { body: { name: 'copied', scopes: ['publish', 'read'] } }));
    apiKey = made.key;

    // Events that retention then prunes: pruned_through > 0 on the copy.
    for (let i = 0; i < 5; i++) await publish(source, 'misc', 'old.thing', { i });
    await new Promise((r) => setTimeout(r, 5));
    expect(await source.app.store.pruneEvents(Date.now(), 100)).toBe(5);

    subs.good = await createSubscription(source, { url: good.url, channels: ['orders.>'], description: 'good' });
    subs.flaky = await createSubscription(source, { url: failing.url, channels: ['orders.eu'], retry: { schedule_ms: [600_000] } });
    subs.doomed = await createSubscription(source, { url: failing.url, channels: ['billing'], retry: { max_attempts: 1 } });
    subs.held = await createSubscription(source, { url: good.url, channels: ['orders.us'], types: ['order.*'] });
    subs.slow = await createSubscription(source, { url: slow.url, channels: ['slow'], retry: { timeout_ms: 60_000 } });
    expect((await source.api(`/v1/subscriptions/${subs.held.id}`, { method: 'PATCH', body: { enabled: false } })).status).toBe(200);

    for (let i = 0; i < 6; i++) await publish(source, i % 2 ? 'orders.eu' : 'orders.us', 'order.placed', { i });
    for (let i = 0; i < 3; i++) await publish(source, 'billing', 'invoice.sent', { i });
    await publish(source, 'misc', 'note', { text: 'ünïcødé', nested: { a: [1, 2, { b: null }] } });
    await good.until((r) => r.length >= 6);
    // The good subscription's secret rotates: both sign from now on, for 24 h.
    const rotated = await json<{ secret: string }>(source.api(`/v1/subscriptions/${subs.good.id}/rotate-secret`, { method: 'POST' }));
    rotatedSecret = rotated.secret;
    keyed = {
      single: await (await publishWithKey(source, 'k-single', '/v1/events', SINGLE)).text(),
      batch: await (await publishWithKey(source, 'k-batch', '/v1/events/batch', BATCH)).text(),
    };
    const slowEvent = await publish(source, 'slow', 'slow.thing', { s: 1 });
    // A finished replay task (the held subscription has a delivery of every event already): copied as a row.
    const replay = await json<{ task_id: string }>(source.api(`/v1/subscriptions/${subs.held.id}/replay`, { body: { since: new Date(0).toISOString() } }));
    await waitFor(async () => (await json<{ state: string }>(source.api(`/v1/tasks/${replay.task_id}`))).state === 'succeeded', 10_000, 'replay done');

    // Quiet: every delivery where it stays (succeeded, retrying 10 min out, dead, held), the slow one in flight.
    await waitFor(async () => {
      const list = await json<{ deliveries: Array<{ state: string; subscription_id: string }> }>(source.api('/v1/deliveries?limit=1000'));
      const of = (id: string, state: string) => list.deliveries.filter((d) => d.subscription_id === id && d.state === state).length;
      return of(subs.good.id, 'succeeded') === 8 && of(subs.flaky.id, 'retrying') === 3 && of(subs.doomed.id, 'dead') === 4 && of(subs.slow.id, 'in_flight') === 1;
    }, 15_000, 'deliveries settled');
    expect(await slow.until((r) => r.length === 1)).toHaveLength(1);
    inFlightId = (await source.app.store.deliveriesOfEvent((await source.app.store.eventById(slowEvent.id))!.seq))[0]!.id;

    // What subscribers hold before the copy: a cursor in the middle, a deliveries page cursor.
    const us = (await poll(source, 'orders.us')).events;
    cursorBefore = us[1]!;
    expectedAfter = us.slice(2);
    const first = await json<{ next_cursor: string }>(source.api('/v1/deliveries?limit=3'));
    deliveriesPage = { next_cursor: first.next_cursor, rest: await json(source.api(`/v1/deliveries?limit=3&after=${first.next_cursor}`)) };
    before = await dump(source.app.store);
    pgDb = await database();
  }, 60_000);

  afterAll(async () => {
    if (!sourceClosed) await source.close();
    await onPostgres?.close();
  });

  it('SQLite → PostgreSQL with the CLI, from a running hub: a hub on the copy has every event at its cursor, every subscription, delivery and attempt', async () => {
    const result = await cli(source.config.db, pgDb.url);
    expect(result.code, result.stderr).toBe(0);
    // The URL's password is never printed.
    expect(result.stdout + result.stderr).not.toContain(new URL(pgDb.url).password);
    const summary = (JSON.parse(result.stdout) as { copied: Record<string, unknown> }).copied;
    expect(summary).toEqual({
      from: source.config.db,
      to: expect.stringContaining(':REDACTED@'),
      events: before.events.length,
      subscriptions: 5,
      deliveries: before.deliveries.length,
      epoch: source.app.store.epoch,
    });

    // Written released, before any hub runs on it: no claim is copied as held.
    const { rows } = await pgDb.pool.query<{ state: string; attempts: number }>('SELECT state, attempts FROM deliveries WHERE id = $1', [inFlightId]);
    expect(rows).toEqual([{ state: 'pending', attempts: 0 }]);

    const hub = (onPostgres = await startHub({ database: pgDb.url, config: { allowPrivateUrls: true } }));
    expect(hub.app.store.epoch).toBe(source.app.store.epoch);
    const after = await dump(hub.app.store);
    expect(after.keys.map((k) => k.name)).toEqual(['copied']);
    // The key made on the SQLite hub is good on the PostgreSQL one (its hash was copied).
    expect((await hub.api('/v1/channels/misc/events', { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(200);
    // Everything as it was, but the delivery that was in flight: released, as a hub's start does.
    expect(without(after, inFlightId)).toEqual(without(before, inFlightId));
    expect(after.position).toEqual({ head: before.position.head, prunedThrough: 5 });
    expect(after.subscriptions.find((s) => s.id === subs.good.id)).toMatchObject({ secret: rotatedSecret, previousSecret: subs.good.secret });
    const released = await slow.until((r) => r.length === 2); // the copy's hub sent it again, from the start
    expect(released[1]!.headers['x-pushhub-attempt']).toBe('1');
    expect(released[1]!.headers['x-pushhub-delivery']).toBe(inFlightId);
    await waitFor(async () => (await hub.app.store.delivery(inFlightId))?.state === 'succeeded', 10_000, 'released delivery sent');
  }, 60_000);

  it('on the PostgreSQL copy: old cursors resume with exactly the next events (polling and WebSocket), pruned ones are expired, new events follow on', async () => {
    const hub = onPostgres!;
    for (const channel of CHANNELS) expect((await poll(hub, channel)).events, channel).toEqual((await poll(source, channel)).events);
    expect((await poll(hub, 'orders.us', cursorBefore.cursor)).events).toEqual(expectedAfter);
    const pruned = cursorCodec(source.app.store.epoch).encode(2);
    expect((await poll(hub, 'misc', pruned)).status).toBe(410);

    const ws = await connect(hub.url, { bearer: API_KEY });
    expect(await ws.request({ op: 'subscribe', channel: 'orders.us', cursor: cursorBefore.cursor })).toMatchObject({ resumed: true });
    await ws.waitEvents(expectedAfter.length, 'orders.us');
    const next = await publish(hub, 'orders.us', 'order.placed', { after: 'copy' });
    const got = await ws.waitEvents(expectedAfter.length + 1, 'orders.us');
    expect(got.map((e) => e.id)).toEqual([...expectedAfter.map((e) => e.id), next.id]);
    expect(got.map((e) => e.cursor)).toEqual([...expectedAfter.map((e) => e.cursor), next.cursor]);
    ws.close();
    // The next position after the source's head, with the same epoch.
    expect(cursorCodec(source.app.store.epoch).decode(next.cursor)).toEqual({ ok: true, seq: before.position.head + 1 });

    // A webhook signed on the copy verifies with the secret handed out before it, and the rotated one.
    const delivered = await good.until((r) => r.some((x) => x.headers['webhook-id'] === next.id));
    const request = delivered.find((x) => x.headers['webhook-id'] === next.id)!;
    const headers = request.headers as Record<string, string>;
    expect(() => new Webhook(subs.good.secret).verify(request.body, headers)).not.toThrow();
    expect(() => new Webhook(rotatedSecret).verify(request.body, headers)).not.toThrow();
  }, 30_000);

  it('on the PostgreSQL copy: idempotency keys answer as before, subscriptions and deliveries read the same through the API', async () => {
    const hub = onPostgres!;
    for (const [key, path, body, text] of [
      ['k-single', '/v1/events', SINGLE, keyed.single],
      ['k-batch', '/v1/events/batch', BATCH, keyed.batch],
    ] as const) {
      const res = await publishWithKey(hub, key, path, body);
      expect(res.headers.get('idempotent-replayed'), key).toBe('true');
      expect(await res.text()).toBe(text);
    }
    expect(await json(hub.api('/v1/subscriptions'))).toEqual(await json(source.api('/v1/subscriptions')));
    // A page cursor of the deliveries list taken before the copy reads the same page on it.
    expect(await json(hub.api(`/v1/deliveries?limit=3&after=${deliveriesPage.next_cursor}`))).toEqual(deliveriesPage.rest);
    const isMoved = (d: unknown) => (d as { id: string }).id === inFlightId;
    const onCopy = (await deliveriesView(hub)).filter((d) => !isMoved(d));
    const onSource = (await deliveriesView(source)).filter((d) => !isMoved(d));
    // The copy's hub has since delivered the event published on it: that one is new.
    expect(onCopy.filter((d) => !onSource.some((s) => (s as { id: string }).id === (d as { id: string }).id))).toHaveLength(2); // good's and held's
    expect(onCopy.filter((d) => onSource.some((s) => (s as { id: string }).id === (d as { id: string }).id))).toEqual(onSource);
  });

  it('PostgreSQL → SQLite: a hub on the new file holds exactly what the PostgreSQL hub held', async () => {
    const hub = onPostgres!;
    // Quiet first: nothing in flight, the event published on the copy delivered.
    await waitFor(
      async () =>
        (await hub.app.store.listDeliveries({ limit: 1000, state: 'in_flight' })).length === 0 &&
        (await hub.app.store.listDeliveries({ limit: 1000, subscriptionId: subs.good.id })).every((d) => d.state === 'succeeded'),
      10_000,
      'deliveries settled',
    );
    const onPg = await dump(hub.app.store);
    await hub.close();
    onPostgres = undefined;

    const target = join(dir, 'back', 'pushhub.db');
    const summary = await copyDatabase(pgDb.url, target);
    expect(summary).toEqual({ events: onPg.events.length, subscriptions: 5, deliveries: onPg.deliveries.length, epoch: onPg.epoch });
    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'back')).mode & 0o777).toBe(0o700);
    const back = await startHub({ store: 'sqlite', dir: join(dir, 'back'), config: { allowPrivateUrls: true } });
    try {
      expect(await dump(back.app.store)).toEqual(onPg);
      const res = await publishWithKey(back, 'k-batch', '/v1/events/batch', BATCH);
      expect(await res.text()).toBe(keyed.batch);
      const next = await publish(back, 'misc', 'again');
      expect(cursorCodec(onPg.epoch).decode(next.cursor)).toEqual({ ok: true, seq: onPg.position.head + 1 });
    } finally {
      await back.close();
    }
  }, 60_000);

  it('SQLite → PostgreSQL → SQLite with no hub in between gives back the same rows, table by table', async () => {
    await source.close(); // its in-flight delivery goes back to the queue: nothing in flight now
    sourceClosed = true;
    const middle = await database();
    const end = join(dir, 'round-trip', 'pushhub.db');
    await copyDatabase(source.config.db, middle.url);
    await copyDatabase(middle.url, end);
    const rows = (file: string, table: string, order: string) => {
      const db = new Database(file, { readonly: true });
      try {
        // A task's claim (owner, lease_until) belongs to the hub that ran it: not copied.
        return db.prepare(`SELECT ${table === 'tasks' ? TASK_COLUMNS.join(', ') : '*'} FROM ${table} ORDER BY ${order}`).all();
      } finally {
        db.close();
      }
    };
    for (const [table, order] of [
      ['events', 'seq'],
      ['subscriptions', 'id'],
      ['deliveries', 'seq'],
      ['delivery_attempts', 'delivery_seq, n'],
      ['idempotency_keys', 'key'],
      ['settings', 'key'],
      ['sqlite_sequence', 'name'],
      ['tasks', 'id'],
    ] as const) {
      expect(rows(end, table, order), table).toEqual(rows(source.config.db, table, order));
    }
    expect(rows(end, 'idempotency_keys', 'key')).toHaveLength(2);
    expect(rows(end, 'tasks', 'id')).toHaveLength(1);
    expect(rows(end, 'settings', 'key')).toContainEqual({ key: 'events.pruned_through', value: '5' });
  }, 30_000);
});

describe('pushhub copy from PostgreSQL', () => {
  it('from a database a hub keeps publishing to: the copy is one snapshot, a prefix 1..N of the log without gaps', async () => {
    const hub = await startHub({ store: 'postgres' });
    try {
      // More than a page (1000 rows) of the log before, and more during.
      for (let i = 0; i < 15; i++) await publishMany(hub, 'live', 100);
      let publishing = true;
      let published = 0;
      const burst = (async () => {
        while (publishing) await Promise.all(Array.from({ length: 10 }, () => publish(hub, 'live', 'tick', {}).then(() => published++)));
      })();
      await waitFor(async () => published >= 50, 10_000, 'burst under way');
      const target = await database();
      const summary = await copyDatabase(hub.config.db, target.url);
      const atEnd = published;
      publishing = false;
      await burst;
      const { rows } = await target.pool.query<{ seq: string; id: string }>('SELECT seq, id FROM events ORDER BY seq');
      expect(rows.length).toBe(summary.events);
      expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
      const { rows: head } = await target.pool.query<{ seq: string }>('SELECT seq FROM log_head');
      expect(Number(head[0]!.seq)).toBe(rows.length);
      // Writes went on while it was taken, and after: the source is ahead of the copy.
      const sourcePool = new pg.Pool({ connectionString: hub.config.db });
      try {
        const { rows: all } = await sourcePool.query<{ seq: string; id: string }>('SELECT seq, id FROM events ORDER BY seq');
        expect(all.length).toBeGreaterThan(rows.length);
        expect(all.slice(0, rows.length)).toEqual(rows);
      } finally {
        await sourcePool.end();
      }
      expect(atEnd).toBeGreaterThan(50);

      // Pages of every reader and writer: that copy to SQLite and back to PostgreSQL, the same log.
      const file = join(dir, 'live', 'pushhub.db');
      const again = await database();
      await copyDatabase(target.url, file);
      expect(await copyDatabase(file, again.url)).toMatchObject({ events: rows.length });
      expect((await again.pool.query<{ seq: string; id: string }>('SELECT seq, id FROM events ORDER BY seq')).rows).toEqual(rows);
    } finally {
      await hub.close();
    }
  }, 60_000);

  it('refuses a target that is not empty or that a hub runs on, and a source that is no pushhub database, writing nothing', async () => {
    const sourceHub = await startHub({ store: 'sqlite', dir: join(dir, 'refusals') });
    await publish(sourceHub, 'c');
    await sourceHub.close();
    const src = sourceHub.config.db;

    // A target holding an event: refused before anything is written, its epoch kept.
    const full = await database();
    const owner = await startHub({ database: full.url });
    await publish(owner, 'c');
    const epoch = owner.app.store.epoch;
    await owner.close();
    await expect(copyDatabase(src, full.url)).rejects.toThrow(/^--to postgres:\/\/postgres:REDACTED@.*: is not empty \(it holds a log at position 1, events\)/);
    const { rows } = await full.pool.query<{ epoch: string; seq: string }>('SELECT epoch, seq FROM log_head');
    expect(rows).toEqual([{ epoch, seq: '1' }]);
    // As a source, once a newer pushhub migrated it: refused rather than half read.
    await full.pool.query("INSERT INTO pushhub_migrations (version, name) VALUES (99, '0099_future.sql')");
    await expect(copyDatabase(full.url, join(dir, 'never.db'))).rejects.toThrow(/: its schema \(version 99\) is newer than this pushhub knows/);

    // An empty database a hub runs on: refused (the hub would serve another epoch), the hub unharmed.
    const busy = await database();
    const running = await startHub({ database: busy.url });
    try {
      await expect(copyDatabase(src, busy.url)).rejects.toThrow(/: in use by a running pushhub hub/);
      expect((await busy.pool.query('SELECT count(*)::int AS n FROM events')).rows[0]).toEqual({ n: 0 });
      expect((await running.api('/v1/events', { body: { channel: 'c', type: 't', data: 1 } })).status).toBe(202);
    } finally {
      await running.close();
    }

    const empty = await database();
    await expect(copyDatabase(empty.url, join(dir, 'never.db'))).rejects.toThrow(/^--from postgres:\/\/postgres:REDACTED@.*: not a pushhub database/);
    expect(existsSync(join(dir, 'never.db'))).toBe(false);
    await expect(copyDatabase(join(dir, 'nope.db'), empty.url)).rejects.toThrow(/^--from .*nope\.db: no such database/);
    expect((await empty.pool.query("SELECT to_regclass('events') AS t")).rows[0]).toEqual({ t: null });
  }, 30_000);
});

describe('a copy that fails half way', () => {
  const head = { epoch: 'abcdefghij', head: 3000, prunedThrough: 0, deliveriesHead: 0 };
  const events = (from: number, n: number): EventRow[] =>
    Array.from({ length: n }, (_, i) => ({ seq: from + i, id: `evt_${from + i}`, channel: 'c', type: 't', occurred_at: 1, received_at: 1, data: '{}' }));
  /** A snapshot of 3000 events whose second page is `second` (after `pause` resolves). */
  const snapshot = (second: () => Promise<EventRow[]>): Snapshot => ({
    head,
    async *events() {
      yield events(1, 1000);
      yield await second();
      yield events(2001, 1000);
    },
    subscriptions: () => [],
    deliveries: () => [],
    attempts: () => [],
    idempotencyKeys: () => [],
      apiKeys: () => [],
    tasks: () => [],
  });

  it('deliveries in flight in the source are written released (due now, pending or retrying), into either store, with the seqs going on after the source\'s', async () => {
    const now = 1_700_000_000_000;
    const delivery = (seq: number, attempts: number): DeliveryRow => ({
      seq, id: `dlv_${seq}`, subscription_id: 'sub_x', event_id: 'evt_1', event_seq: 1, state: 'in_flight', attempts, cycle_attempts: attempts,
      cycle_started_at: attempts ? 5 : null, next_attempt_at: 7, last_status: attempts ? 500 : null, last_error: null, created_at: 3, updated_at: 4, completed_at: null,
    });
    const inFlight: Snapshot = { ...snapshot(() => Promise.resolve(events(1001, 1000))), head: { ...head, deliveriesHead: 40 }, deliveries: () => [[delivery(10, 0), delivery(11, 2)]] };
    const released = [
      { seq: 10, state: 'pending', next_attempt_at: now, updated_at: now },
      { seq: 11, state: 'retrying', next_attempt_at: now, updated_at: now },
    ];
    const target = await database();
    await writePostgresSnapshot(target.url, '--to target', inFlight, now);
    const onPg = await target.pool.query('SELECT seq::int, state, next_attempt_at::float8, updated_at::float8 FROM deliveries ORDER BY seq');
    expect(onPg.rows).toEqual(released);
    expect((await target.pool.query("SELECT nextval(pg_get_serial_sequence('deliveries', 'seq'))::int AS next")).rows[0]).toEqual({ next: 41 });

    const file = join(dir, 'released', 'pushhub.db');
    await writeSqliteSnapshot(file, '--to released', inFlight, now);
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare('SELECT seq, state, next_attempt_at, updated_at FROM deliveries ORDER BY seq').all()).toEqual(released);
      expect(db.prepare('SELECT name, seq FROM sqlite_sequence ORDER BY name').all()).toEqual([{ name: 'deliveries', seq: 40 }, { name: 'events', seq: 3000 }]);
    } finally {
      db.close();
    }
  });

  it('a duplicate row: PostgreSQL rolls back, nothing is kept, and the database takes a copy afterwards', async () => {
    const target = await database();
    const duplicate = snapshot(() => Promise.resolve([...events(1001, 999), events(1, 1)[0]!]));
    await expect(writePostgresSnapshot(target.url, '--to target', duplicate, Date.now())).rejects.toThrow(/^--to target: the copy failed and was rolled back, nothing was written \(.*duplicate key/);
    expect((await target.pool.query('SELECT count(*)::int AS n FROM events')).rows[0]).toEqual({ n: 0 });
    expect((await target.pool.query('SELECT count(*)::int AS n FROM log_head')).rows[0]).toEqual({ n: 0 });
    const good = snapshot(() => Promise.resolve(events(1001, 1000)));
    expect(await writePostgresSnapshot(target.url, '--to target', good, Date.now())).toEqual({ events: 3000, subscriptions: 0, deliveries: 0 });
  });

  it('the target going away mid-copy: nothing is kept', async () => {
    const target = await database();
    const admin = new pg.Client({ connectionString: target.url });
    await admin.connect();
    try {
      const cut = snapshot(async () => {
        // The copy's connection is terminated, as a server restart or a network cut would.
        await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pushhub copy' AND datname = current_database()");
        return events(1001, 1000);
      });
      await expect(writePostgresSnapshot(target.url, '--to target', cut, Date.now())).rejects.toThrow(CopyError);
      expect((await admin.query('SELECT count(*)::int AS n FROM events')).rows[0]).toEqual({ n: 0 });
      expect((await admin.query('SELECT count(*)::int AS n FROM log_head')).rows[0]).toEqual({ n: 0 });
    } finally {
      await admin.end();
    }
  });

  it('a duplicate row into SQLite: no file is left behind', async () => {
    const file = join(dir, 'half', 'pushhub.db');
    const duplicate = snapshot(() => Promise.resolve([...events(1001, 999), events(1, 1)[0]!]));
    await expect(writeSqliteSnapshot(file, '--to half', duplicate, Date.now())).rejects.toThrow(/^--to half: the copy failed, nothing was kept \(.*UNIQUE/);
    for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}.lock`]) expect(existsSync(f), f).toBe(false);
  });
});
