import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemRandom } from '../../src/clock.js';
import { cursorCodec } from '../../src/domain/cursor.js';
import type { NewEvent } from '../../src/domain/envelope.js';
import type { Subscription } from '../../src/domain/subscription.js';
import { createLogger } from '../../src/logger.js';
import { StaleSubscriptionsError, type Store, type StoreChange } from '../../src/store/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { initLog } from '../../src/store/postgres/log.js';
import { latestSchemaVersion, migrate, SchemaTooNewError } from '../../src/store/postgres/migrate.js';
import { freshDatabase, type TestDatabase } from '../helpers/postgres.js';
import { storedSubscription } from '../helpers/subscription.js';

/**
 * The PostgreSQL store as several hubs use it: each `Store` opened here is one hub's (its
 * own pool, listener and hub id) on one database.
 */
let db: TestDatabase;
let counter = 0;
const stores: Store[] = [];

const event = (channel: string, data = `{"n":${counter}}`): NewEvent => ({
  id: `evt_${(counter++).toString().padStart(8, '0')}`,
  channel,
  type: 't',
  occurredAt: 1_700_000_000_000,
  receivedAt: 1_700_000_000_000,
  data,
});

const subscription = (id: string): Subscription =>
  storedSubscription('http://127.0.0.1:9/hook', ['hooked'], { id, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });

/** One more hub on the database. */
async function hub(): Promise<Store> {
  const store = await openPostgresStore({
    url: db.url,
    poolSize: 4,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 5000,
    pollMs: 60_000, // notifications only, unless a test says otherwise
    heartbeatMs: 5000,
    random: systemRandom,
    logger: createLogger('silent'),
  });
  stores.push(store);
  return store;
}

const append = async (store: Store, events: NewEvent[], deliveries: Array<{ id: string; subscriptionId: string; event: number }> = []) =>
  (await store.append({ events, deliveries, idempotencyKeys: [], now: 1000 })).seqs;

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  for (const s of stores) await s.close();
  await db?.drop();
});

describe('PostgreSQL migrations', () => {
  it('apply once, are a no-op the second time, and refuse a schema newer than the code', async () => {
    await hub(); // migrates
    const client = await db.pool.connect();
    try {
      expect(await migrate(client)).toBe(latestSchemaVersion()); // the newest migration this code knows
      await client.query("INSERT INTO pushhub_migrations (version, name) VALUES (9999, '9999_future.sql')");
      await expect(migrate(client)).rejects.toThrow(SchemaTooNewError);
      await expect(hub()).rejects.toThrow(SchemaTooNewError);
      await client.query('DELETE FROM pushhub_migrations WHERE version = 9999');
    } finally {
      client.release();
    }
  });

  it('the epoch is set once: every hub on the database gets the first one', async () => {
    const [a, b] = [await hub(), await hub()];
    expect(b.epoch).toBe(a.epoch);
    expect(await initLog(db.pool, () => 'bbbbbbbbbb')).toBe(a.epoch);
    expect(a.hubId).not.toBe(b.hubId);
  });
});

describe('the PostgreSQL log, written by several hubs', () => {
  it('keeps data byte for byte (key order, duplicate keys, spacing) and reads a channel oldest first', async () => {
    const store = await hub();
    const odd = '{"b":1, "a":[1,2],"b":2}';
    const [first] = await append(store, [event('keep.a'), event('keep.b', odd), event('keep.a')]);
    const page = await store.readChannel('keep.b', 0, 10);
    expect(page.events).toHaveLength(1);
    expect(page.events[0]).toMatchObject({ seq: first! + 1, channel: 'keep.b', data: odd });
    expect((await store.readChannel('keep.a', first!, 10)).events.map((e) => e.seq)).toEqual([first! + 2]);
  });

  it('concurrent appends through three hubs get gapless positions in commit order: a reader never sees a later one before an earlier one', async () => {
    const hubs = [await hub(), await hub(), await hub()];
    const start = (await hubs[0]!.position()).head;
    const writers = 6;
    const batches = 30;
    const total = writers * batches * 3;
    let writing = true;
    const seen: number[] = [];
    const reader = (async () => {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      let tail = start;
      try {
        while (writing || tail < start + total) {
          // Read before the query: one sent while the writers were still at it may miss the last commits.
          const writersDone = !writing;
          const { rows } = await client.query<{ seq: string }>('SELECT seq FROM events WHERE seq > $1 ORDER BY seq', [tail]);
          for (const { seq } of rows) {
            // Every row after the tail is the next position: had a later commit been visible
            // before an earlier one, this reader would have moved past the earlier one for ever.
            expect(Number(seq)).toBe(tail + 1);
            tail += 1;
            seen.push(tail);
          }
          if (writersDone && rows.length === 0) break;
        }
      } finally {
        await client.end();
      }
    })();
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let b = 0; b < batches; b++) await append(hubs[w % 3]!, [event(`race.${w}`), event(`race.${w}`), event(`race.${w}`)]);
      }),
    );
    writing = false;
    await reader;
    expect(seen).toHaveLength(total);
    expect((await hubs[1]!.position()).head).toBe(start + total);
    const all = (await hubs[2]!.readLog(start, 10_000)).events;
    expect(all.map((e) => e.seq)).toEqual(seen);
    for (let w = 0; w < writers; w++) {
      const ids = all.filter((e) => e.channel === `race.${w}`).map((e) => e.id);
      expect(ids).toEqual([...ids].sort()); // each writer's events in its own order
    }
  }, 30_000);

  it('a rolled-back append gives its positions back: no gap', async () => {
    const store = await hub();
    const { head: before } = await store.position();
    const duplicate = event('dup');
    await append(store, [duplicate]);
    await expect(append(store, [event('dup'), duplicate])).rejects.toThrow(/duplicate key/);
    expect(await append(store, [event('dup')])).toEqual([before + 2]);
  });

  it("another hub hears the new head at commit (its listener), and again after its listener's connection is cut", async () => {
    const [writer, other] = [await hub(), await hub()];
    const heard: StoreChange[] = [];
    other.watch((change) => heard.push(change));
    await expect.poll(() => other.health().listening).toBe(true);
    const [first] = await append(writer, [event('n'), event('n')]);
    await expect.poll(() => heard.some((c) => c.kind === 'head' && c.head === first! + 1)).toBe(true);
    // Cut the listener: it comes back by itself, says so (resync), and hears again.
    heard.length = 0;
    await db.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pushhub-listen' AND datname = current_database()");
    await expect.poll(() => heard.some((c) => c.kind === 'resync'), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => other.health().listening).toBe(true);
    const [next] = await append(writer, [event('n')]);
    await expect.poll(() => heard.some((c) => c.kind === 'head' && c.head === next)).toBe(true);
  });

  it('an outbox planned on subscriptions another hub changed since is refused, and nothing is written', async () => {
    const [a, b] = [await hub(), await hub()];
    const heard: StoreChange[] = [];
    a.watch((change) => heard.push(change));
    const { version } = await a.subscriptions();
    await b.putSubscription(subscription('sub_stale'));
    const { head } = await a.position(); // after its subscription.created
    await expect(a.append({ events: [event('hooked')], deliveries: [], idempotencyKeys: [], now: 1, subscriptionsVersion: version })).rejects.toThrow(
      StaleSubscriptionsError,
    );
    expect((await a.position()).head).toBe(head);
    await expect.poll(() => heard.some((c) => c.kind === 'subscriptions')).toBe(true);
    const fresh = await a.subscriptions();
    expect(fresh.version).toBe(version + 1);
    expect(await a.subscription('sub_stale')).toMatchObject({ id: 'sub_stale' });
    await a.append({ events: [event('hooked')], deliveries: [], idempotencyKeys: [], now: 1, subscriptionsVersion: fresh.version });
    expect((await a.position()).head).toBe(head + 1);
  });

  it('an Idempotency-Key is claimed by one hub: the others are told it is busy, then get the saved response; a failed claim is given back', async () => {
    const [a, b] = [await hub(), await hub()];
    expect(await a.claimKey('key-1', 'fp', 0, 1000)).toEqual({ state: 'claimed' });
    expect(await b.claimKey('key-1', 'fp', 0, 1000)).toEqual({ state: 'busy' });
    expect(await a.claimKey('key-1', 'fp', 0, 1000)).toEqual({ state: 'busy' }); // one claim, even for its holder
    const template = { pieces: ['{"cursor":"', '"}'], cursorOf: [0] };
    const [seq] = (await a.append({ events: [event('k')], deliveries: [], idempotencyKeys: [{ key: 'key-1', fingerprint: 'fp', response: template }], now: 1000 })).seqs;
    const saved = await b.claimKey('key-1', 'fp', 0, 1000);
    expect(saved).toMatchObject({ state: 'saved', saved: { fingerprint: 'fp' } });
    expect(saved.state === 'saved' && saved.saved.response).toBe(`{"cursor":"${cursorCodec(a.epoch).encode(seq!)}"}`);
    // Given back: the next hub claims it at once.
    expect(await b.claimKey('key-2', 'fp', 0, 1000)).toEqual({ state: 'claimed' });
    await a.releaseKey('key-2'); // not a's: nothing happens
    expect(await a.claimKey('key-2', 'fp', 0, 1000)).toEqual({ state: 'busy' });
    await b.releaseKey('key-2');
    expect(await a.claimKey('key-2', 'fp', 0, 1000)).toEqual({ state: 'claimed' });
  });
});

describe('webhook leases on PostgreSQL', () => {
  it('each subscription has one owner; a new owner after release or expiry re-queues what was in flight, and the old one is fenced out', async () => {
    const local = await freshDatabase(); // leases count every subscription of the database: a database of its own
    const open = async () => {
      const store = await openPostgresStore({
        url: local.url,
        poolSize: 4,
        statementTimeoutMs: 5000,
        connectTimeoutMs: 5000,
        pollMs: 60_000,
        heartbeatMs: 5000,
        random: systemRandom,
        logger: createLogger('silent'),
      });
      stores.push(store);
      return store;
    };
    try {
      const [a, b] = [await open(), await open()];
      for (const id of ['sub_1', 'sub_2', 'sub_3', 'sub_4']) await a.putSubscription({ ...subscription(id), createdAt: Number(id.slice(4)) });
      await append(a, [event('hooked')], ['sub_1', 'sub_2', 'sub_3', 'sub_4'].map((s, i) => ({ id: `dlv_${i}`, subscriptionId: s, event: 0 })));

      // Alone, a takes every subscription; b, arriving, finds none free.
      const first = await a.renewLeases(2000, 60_000);
      expect(first.leases.map((l) => l.subscriptionId).sort()).toEqual(['sub_1', 'sub_2', 'sub_3', 'sub_4']);
      expect(await b.renewLeases(2000, 60_000)).toMatchObject({ leases: [], share: 2 });
      // a learns of b, and of its share: half (b holds less than that, so a hands the rest over).
      expect(await a.renewLeases(2000, 60_000)).toMatchObject({ hubs: 2, share: 2 });

      // a claims sub_1's delivery under its lease; b, not the owner, claims nothing.
      const claims = { requests: [{ subscriptionId: 'sub_1', ordered: false, limit: 10 }], budget: 10 };
      const pass = { now: 3000, records: [], release: [], cancel: [], disable: [] };
      const [claimedByA] = await a.recordAndClaim({ ...pass, claims, leases: first.leases });
      expect(claimedByA!.claimed).toHaveLength(1);
      const fakeLease = [{ subscriptionId: 'sub_1', epoch: first.leases[0]!.epoch }];
      expect((await b.recordAndClaim({ ...pass, claims, leases: fakeLease }))[0]!.claimed).toEqual([]);

      // a goes (releases): b, alone now, takes every lease; the delivery a had in flight is back in the queue.
      await a.releaseLeases();
      const taken = await b.renewLeases(4000, 60_000);
      expect(taken.hubs).toBe(1);
      expect(taken.leases.map((l) => l.subscriptionId).sort()).toEqual(['sub_1', 'sub_2', 'sub_3', 'sub_4']);
      const sub1 = taken.leases.find((l) => l.subscriptionId === 'sub_1')!;
      expect(sub1.epoch).toBe(first.leases.find((l) => l.subscriptionId === 'sub_1')!.epoch + 1);
      expect(await b.delivery('dlv_0')).toMatchObject({ state: 'pending' });

      // a's late outcome for the delivery it had claimed is fenced out: b's claim stands.
      const [claimedByB] = await b.recordAndClaim({ ...pass, now: 5000, claims, leases: taken.leases });
      expect(claimedByB!.claimed.map((c) => c.id)).toEqual(['dlv_0']);
      const attempt = { n: 1, at: 3000, durationMs: 5, status: 200, error: null, responseBody: null };
      await a.recordAndClaim({ ...pass, now: 6000, records: [{ deliverySeq: claimedByA!.claimed[0]!.seq, attempt, result: { state: 'succeeded' } }], claims: null, leases: first.leases });
      expect(await b.delivery('dlv_0')).toMatchObject({ state: 'in_flight' });
      expect(await b.deliveryAttempts(claimedByA!.claimed[0]!.seq)).toEqual([]);

      // An expired lease is taken over, at the next epoch, by whoever asks.
      await local.pool.query("UPDATE subscription_leases SET expires_at = now() - interval '1 second' WHERE subscription_id = 'sub_2'");
      const back = await a.renewLeases(7000, 60_000);
      expect(back.leases).toEqual([{ subscriptionId: 'sub_2', epoch: taken.leases.find((l) => l.subscriptionId === 'sub_2')!.epoch + 1 }]);
      expect((await b.renewLeases(7000, 60_000)).leases.map((l) => l.subscriptionId).sort()).toEqual(['sub_1', 'sub_3', 'sub_4']);

      // b hands sub_3 over (given up by name, the rest kept): a, below its share, takes it.
      await b.releaseLeases(['sub_3']);
      expect((await a.renewLeases(8000, 60_000)).leases.map((l) => l.subscriptionId).sort()).toEqual(['sub_2', 'sub_3']);
      expect((await b.renewLeases(8000, 60_000)).leases.map((l) => l.subscriptionId).sort()).toEqual(['sub_1', 'sub_4']);
    } finally {
      await local.drop();
    }
  });

  it('retention runs on one hub at a time; another takes over when that one goes', async () => {
    const [a, b] = [await hub(), await hub()];
    expect(await a.retentionTurn()).toBe(true);
    expect(await a.retentionTurn()).toBe(true);
    expect(await b.retentionTurn()).toBe(false);
    await a.close();
    stores.splice(stores.indexOf(a), 1);
    await expect.poll(() => b.retentionTurn()).toBe(true);
  });
});
