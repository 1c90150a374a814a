import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemRandom } from '../../src/clock.js';
import { cursorCodec } from '../../src/domain/cursor.js';
import type { NewEvent } from '../../src/domain/envelope.js';
import type { Subscription } from '../../src/domain/subscription.js';
import { HubError } from '../../src/errors.js';
import { GroupCommit } from '../../src/ingest/group-commit.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { openStore, type Store } from '../../src/store/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { onPostgres } from '../helpers/hub.js';
import { freshDatabase, type TestDatabase } from '../helpers/postgres.js';
import { storedSubscription } from '../helpers/subscription.js';

let dir: string;
let pgDb: TestDatabase | undefined;
let store: Store;
let metrics: Metrics;
let gc: GroupCommit;
let n = 0;
const event = (channel = 'gc'): NewEvent => ({
  id: `evt_${++n}`,
  channel,
  type: 't',
  occurredAt: 1,
  receivedAt: 1,
  data: '{}',
});

// The store under the group commit: SQLite, or PostgreSQL in the postgres project.
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pushhub-gc-'));
  if (onPostgres) {
    pgDb = await freshDatabase();
    const options = { url: pgDb.url, poolSize: 4, statementTimeoutMs: 5000, connectTimeoutMs: 5000, pollMs: 1000, heartbeatMs: 5000 };
    store = await openPostgresStore({ ...options, random: systemRandom, logger: createLogger('silent') });
  } else {
    store = openStore({ path: join(dir, 'p.db'), synchronous: 'FULL', busyTimeoutMs: 0, random: systemRandom });
  }
  metrics = createMetrics();
  gc = new GroupCommit({ store, metrics, logger: createLogger('silent'), maxPendingEvents: 100, now: () => 1 });
});
afterEach(async () => {
  await store.close();
  await pgDb?.drop();
  pgDb = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const batchSizes = async () => {
  const h = (await metrics.commitBatchSize.get()).values;
  return { count: h.find((v) => v.metricName?.endsWith('_count'))?.value, sum: h.find((v) => v.metricName?.endsWith('_sum'))?.value };
};

describe('group commit', () => {
  it('commits everything submitted in one turn of the event loop in one transaction', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => gc.submit([event(), event()], 'http')));
    expect(await batchSizes()).toEqual({ count: 1, sum: 100 });
    const seqs = results.flat().map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('tells listeners after the commit, with the whole batch in log order', async () => {
    const seen: number[][] = [];
    let planned = 0;
    gc.planOutbox({ plan: (events) => ((planned += events.length), { rows: [], subscriptionsVersion: undefined }), refresh: async () => {} });
    gc.onCommitted((events) => seen.push(events.map((e) => e.seq)));
    await Promise.all([gc.submit([event()], 'http'), gc.submit([event(), event()], 'ws')]);
    expect(planned).toBe(3);
    expect(seen).toEqual([[1, 2, 3]]);
  });

  it("writes the planned outbox rows with their events, and hands them to listeners once durable", async () => {
    await store.putSubscription(subscription('sub_a'));
    // Its subscription.created event took the first position.
    const base = (await store.position()).head;
    const heard: Array<{ seqs: number[]; rows: string[] }> = [];
    gc.planOutbox({
      plan: (events) => ({
        rows: events.flatMap((e, i) => (e.channel === 'hooked' ? [{ id: `dlv_${e.id}`, subscriptionId: 'sub_a', event: i }] : [])),
        subscriptionsVersion: undefined,
      }),
      refresh: async () => {},
    });
    gc.onCommitted((events, rows) => heard.push({ seqs: events.map((e) => e.seq), rows: rows.map((r) => r.id) }));
    const [a, b] = await Promise.all([gc.submit([event('other'), event('hooked')], 'http'), gc.submit([event('hooked')], 'http')]);
    expect(heard).toEqual([{ seqs: [base + 1, base + 2, base + 3], rows: [`dlv_${a![1]!.id}`, `dlv_${b![0]!.id}`] }]);
    expect((await store.deliveriesOfEvent(a![1]!.seq)).map((d) => [d.id, d.eventId, d.eventSeq])).toEqual([[`dlv_${a![1]!.id}`, a![1]!.id, base + 2]]);
    expect((await store.deliveriesOfEvent(b![0]!.seq)).map((d) => [d.id, d.eventSeq])).toEqual([[`dlv_${b![0]!.id}`, base + 3]]);
    expect(await store.deliveriesOfEvent(a![0]!.seq)).toEqual([]);
  });

  it("saves each job's idempotency key with its response, cursors filled in from the commit's positions", async () => {
    const codec = cursorCodec(store.epoch);
    const template = { pieces: ['{"c":"', '","d":"', '"}'], cursorOf: [0, 1] };
    await Promise.all([
      gc.submit([event()], 'http'),
      gc.submit([event(), event()], 'http', { key: 'k1', fingerprint: 'f1', response: template }),
    ]);
    expect(await store.claimKey('k1', 'f1', 0, 5)).toEqual({
      state: 'saved',
      saved: { fingerprint: 'f1', response: `{"c":"${codec.encode(2)}","d":"${codec.encode(3)}"}` },
    });
    expect(await store.claimKey('k1', 'f1', 2, 5)).toEqual({ state: 'claimed' }); // older than asked: taken anew
  });

  it.runIf(onPostgres)('an outbox planned from subscriptions another hub changed is refused, planned again from the new ones, then written', async () => {
    const versions: Array<number | undefined> = [];
    let version = (await store.subscriptions()).version;
    let refreshed = 0;
    gc.planOutbox({
      plan: () => (versions.push(version), { rows: [], subscriptionsVersion: version }),
      refresh: async () => {
        refreshed++;
        version = (await store.subscriptions()).version;
      },
    });
    await store.putSubscription(subscription('sub_b')); // as another hub would: the version moves
    const [stored] = await gc.submit([event()], 'http');
    expect(refreshed).toBe(1);
    expect(versions).toEqual([versions[0], versions[0]! + 1]);
    // The log holds the subscription's subscription.created, then the event.
    expect((await store.readLog(0, 10)).events.filter((e) => !e.channel.startsWith('$')).map((e) => e.id)).toEqual([stored!.id]);
  });

  it('isolates a job that fails on its own, so the others of its batch still land', async () => {
    const ok1 = gc.submit([event()], 'http');
    const dup = gc.submit([{ ...event(), id: 'evt_same' }, { ...event(), id: 'evt_same' }], 'http');
    const ok2 = gc.submit([event()], 'http');
    await expect(dup).rejects.toThrow(/UNIQUE|unique constraint/);
    expect((await ok1)[0]!.seq).toBeGreaterThan(0);
    expect((await ok2)[0]!.seq).toBeGreaterThan(0);
    expect(await store.eventById('evt_same')).toBeUndefined();
  });

  it('refuses with 503 overloaded past the pending limit, and shutting_down once closed', async () => {
    const first = gc.submit(Array.from({ length: 100 }, () => event()), 'http');
    await expect(gc.submit([event()], 'http')).rejects.toMatchObject({ code: 'overloaded', retryAfterS: 1 });
    await first;
    gc.close();
    const refused = await gc.submit([event()], 'http').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(HubError);
    expect(refused).toMatchObject({ code: 'shutting_down' });
  });

  it('close() commits what is queued before refusing', async () => {
    const pending = gc.submit([event()], 'http');
    gc.close();
    expect((await pending)[0]!.seq).toBe(1);
  });

  it('holds the next commit back while the store has all the appends in flight it uses, and sends what waited as one', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const appended: number[] = [];
    const oneAtATime: Store = {
      ...store,
      appendsInFlight: 1,
      append: (write) => {
        appended.push(write.events.length);
        return (appended.length === 1 ? gate : Promise.resolve()).then(() => store.append(write));
      },
    };
    const held = new GroupCommit({ store: oneAtATime, metrics, logger: createLogger('silent'), maxPendingEvents: 100, now: () => 1 });
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    const first = held.submit([event()], 'http');
    await turn();
    // Three more jobs, each in a turn of its own: none goes out while the first is in flight.
    const later: Array<Promise<unknown>> = [];
    for (let i = 0; i < 3; i++) {
      later.push(held.submit([event(), event()], 'http'));
      await turn();
    }
    const closed = held.close();
    expect(appended).toEqual([1]);
    release();
    await closed;
    expect(appended).toEqual([1, 6]);
    const seqs = [await first, ...(await Promise.all(later))].flat().map((e) => (e as { seq: number }).seq);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('durability ordering', () => {
  const write = (events: NewEvent[]) => ({ events, deliveries: [], idempotencyKeys: [], now: 1 });

  // SQLite: the transaction runs inside the call and only its WAL sync is awaited. PostgreSQL
  // has no such window (an append's commit is durable before anyone sees it).
  it.skipIf(onPostgres)('keeps an event invisible to readers until the sync that covers it returned', async () => {
    const inserted = event('vis');
    const appended = store.append(write([inserted]));
    // The transaction ran inside the call; its sync is still under way.
    expect(await store.eventById(inserted.id)).toBeUndefined();
    expect((await store.readChannel('vis', 0, 10)).events).toEqual([]);
    expect((await store.position()).head).toBe(0);
    const { seqs } = await appended;
    expect((await store.eventById(inserted.id))?.seq).toBe(seqs[0]);
    expect((await store.position()).head).toBe(seqs[0]);
    expect((await store.readChannel('vis', 0, 10)).events.map((e) => e.seq)).toEqual(seqs);
  });

  it('acknowledges commits in order even when many share a sync', async () => {
    const order: number[] = [];
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.append(write([event()])).then(() => order.push(i))));
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('reads the whole log after a position, oldest first, with the head it read at', async () => {
    await store.append(write([event('x'), event('y'), event('x')]));
    const page = await store.readLog(1, 10);
    expect(page.events.map((e) => [e.seq, e.channel])).toEqual([[2, 'y'], [3, 'x']]);
    expect(page).toMatchObject({ head: 3, prunedThrough: 0 });
  });
});

describe('append positions', () => {
  it('gives the events of an append consecutive positions, in order, across chunk edges', async () => {
    for (const n of [1, 49, 50, 51, 137]) {
      const events = Array.from({ length: n }, () => event('many'));
      const { seqs } = await store.append({ events, deliveries: [], idempotencyKeys: [], now: 1 });
      expect(seqs).toEqual(Array.from({ length: n }, (_, i) => seqs[0]! + i));
      for (const [i, e] of events.entries()) expect((await store.eventById(e.id))?.seq).toBe(seqs[i]);
    }
  });
});

const subscription = (id: string): Subscription => storedSubscription('http://127.0.0.1:1/hook', ['hooked'], { id, secret: 'whsec_test' });
