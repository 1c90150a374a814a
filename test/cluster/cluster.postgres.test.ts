import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startChildHub, type ChildHub } from '../helpers/child-hub.js';
import { API_KEY } from '../helpers/hub.js';
import { freshDatabase, type TestDatabase } from '../helpers/postgres.js';
import { eventIds, startReceiver, type Receiver } from '../helpers/receiver.js';
import { seeded, sleep } from '../helpers/seeded.js';
import { SseClient } from '../helpers/sse-client.js';
import { connect } from '../helpers/ws-client.js';

/**
 * Three hub processes on one PostgreSQL database, with real clients, as a load balancer
 * without sticky sessions would spread them. Leases are short here (2 s) so a failover fits
 * in a test; everything else is the hub's defaults.
 */
const LEASE_MS = 2000;
let db: TestDatabase;
let dir: string;
let hubs: ChildHub[] = [];
let receiver: Receiver | undefined;

beforeEach(async () => {
  db = await freshDatabase();
  dir = mkdtempSync(join(tmpdir(), 'pushhub-cluster-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ webhooks: { leaseMs: LEASE_MS }, postgres: { pollMs: 250 } }));
});
afterEach(async () => {
  await Promise.all(hubs.map((h) => h.kill()));
  hubs = [];
  await receiver?.close();
  receiver = undefined;
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

const startHubs = async (n: number): Promise<ChildHub[]> => {
  const env = { PUSHHUB_CONFIG: join(dir, 'config.json'), PUSHHUB_ALLOW_PRIVATE_URLS: 'true' };
  hubs = await Promise.all(Array.from({ length: n }, () => startChildHub(db.url, env)));
  return hubs;
};

const api = (hub: ChildHub, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) =>
  fetch(hub.url + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { authorization: `Bearer ${API_KEY}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });

const seqOf = (cursor: string): number => parseInt(cursor.split('-')[1]!, 36);

interface Published {
  n: number;
  cursor: string;
}

describe('three hubs on one database', () => {
  it('WebSocket and SSE subscribers that drop and resume on random hubs get every event once, in cursor order, whichever hub it went through', async () => {
    const [a, b, c] = await startHubs(3);
    const all = [a!, b!, c!];
    const random = seeded(7);
    const pick = () => all[Math.floor(random() * all.length)]!;
    const TOTAL = 300;
    const published: Published[] = [];
    let publishing = true;

    // A subscriber keeps a cursor and reconnects, to a random hub, every few hundred ms.
    const subscriber = (transport: 'ws' | 'sse') => {
      const got: Array<{ n: number; cursor: string }> = [];
      let cursor: string | undefined;
      let opened!: () => void;
      const ready = new Promise<void>((resolve) => (opened = resolve));
      const record = (n: number, c: string) => {
        got.push({ n, cursor: c });
        cursor = c;
      };
      const session = async (hub: ChildHub, ms: number) => {
        if (transport === 'ws') {
          const socket = await connect(hub.url, { bearer: API_KEY });
          const reply = await socket.request({ op: 'subscribe', channel: 'fan', ...(cursor ? { cursor } : {}) });
          cursor ??= String(reply.cursor);
          opened();
          const started = socket.frames.indexOf(reply) + 1; // frames after it may have come in the same read
          await sleep(ms);
          socket.close();
          await socket.closed;
          for (const f of socket.frames.slice(started)) {
            if (f.op === 'event') {
              const e = f.event as { cursor: string; data: { n: number } };
              record(e.data.n, e.cursor);
            }
          }
        } else {
          const headers: Record<string, string> = { authorization: `Bearer ${API_KEY}` };
          if (cursor) headers['last-event-id'] = cursor;
          const sse = await SseClient.open(`${hub.url}/v1/channels/fan/sse`, headers);
          opened();
          await sleep(ms);
          // A stream opened without a cursor gives none until its first event: held open until
          // then, so the next session resumes from a cursor instead of from whatever is then new.
          while (!cursor && sse.events().length === 0) await sleep(50);
          sse.abort();
          await sse.done;
          for (const e of sse.events<{ cursor: string; data: { n: number } }>()) record(e.data.n, e.cursor);
        }
      };
      const done = (async () => {
        await session(pick(), 100);
        while (publishing) await session(pick(), 100 + Math.floor(random() * 300));
        const deadline = Date.now() + 15_000;
        while (got.length < TOTAL && Date.now() < deadline) await session(pick(), 500);
        return got;
      })();
      return { ready, done };
    };
    const subscribers = [subscriber('ws'), subscriber('ws'), subscriber('ws'), subscriber('sse'), subscriber('sse')];
    // Publishing starts once every subscriber's first session is open, so "every event" is well defined.
    await Promise.all(subscribers.map((s) => s.ready));

    const publisher = async (offset: number) => {
      for (let n = offset; n < TOTAL; n += 5) {
        const res = await api(pick(), '/v1/events', { body: { channel: 'fan', type: 't', data: { n } } });
        expect(res.status).toBe(202);
        published.push({ n, cursor: ((await res.json()) as { cursor: string }).cursor });
      }
    };
    await Promise.all([0, 1, 2, 3, 4].map(publisher));
    publishing = false;

    const inLogOrder = [...published].sort((x, y) => seqOf(x.cursor) - seqOf(y.cursor)).map((p) => p.n);
    for (const [k, got] of (await Promise.all(subscribers.map((s) => s.done))).entries()) {
      const firstWrong = got.findIndex((g, i) => g.n !== inLogOrder[i]);
      if (firstWrong >= 0) console.log('subscriber', k, got.length, firstWrong, JSON.stringify(got.slice(Math.max(0, firstWrong - 3), firstWrong + 3)), JSON.stringify(inLogOrder.slice(Math.max(0, firstWrong - 3), firstWrong + 3)));
      expect(got.map((g) => g.n)).toEqual(inLogOrder); // each once, in cursor order
    }
  }, 90_000);

  it('50 concurrent requests with one Idempotency-Key spread over the hubs make one event', async () => {
    const all = await startHubs(3);
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        api(all[i % 3]!, '/v1/events', { body: { channel: 'idem', type: 't', data: { once: true } }, headers: { 'idempotency-key': 'the-one-key' } }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(202));
    const bodies = await Promise.all(responses.map((r) => r.json() as Promise<{ id: string; cursor: string }>));
    expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
    expect(new Set(bodies.map((b) => b.cursor)).size).toBe(1);
    expect(responses.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(49);
    const page = (await (await api(all[1]!, '/v1/channels/idem/events')).json()) as { events: unknown[] };
    expect(page.events).toHaveLength(1);
  }, 30_000);

  it('SIGKILL of the hub that owns a busy ordered subscription: another takes it over within the lease, every event arrives, positions only increase', async () => {
    const all = await startHubs(3);
    let slow = true;
    receiver = await startReceiver(() => ({ status: 200, delayMs: slow ? 150 : 0 }));
    const created = (await (
      await api(all[0]!, '/v1/subscriptions', { body: { url: `${receiver.url}/hook`, channels: ['orders'], ordered: true } })
    ).json()) as { id: string; secret: string };
    const owner = async (): Promise<ChildHub | undefined> => {
      for (const h of all) {
        const res = await fetch(`${h.url}/readyz`).catch(() => undefined);
        if (res?.ok && ((await res.json()) as { cluster: { leases: number } }).cluster.leases === 1) return h;
      }
      return undefined;
    };
    await expect.poll(owner, { timeout: 5000 }).toBeDefined();
    const first = (await owner())!;
    const others = all.filter((h) => h !== first);
    const EVENTS = 40;
    for (let n = 0; n < EVENTS; n++) {
      expect((await api(all[n % 3]!, '/v1/events', { body: { channel: 'orders', type: 't', data: { n } } })).status).toBe(202);
    }
    await receiver.until((r) => r.length >= 5, 10_000); // in flight, busy
    const killedAt = Date.now();
    await first.kill();
    slow = false;
    hubs = others; // the killed one is gone
    await receiver.until((r) => new Set(r.map((x) => x.headers['webhook-id'])).size >= EVENTS, 20_000);
    const takenOverAt = receiver.received.find((r) => r.at > killedAt + 100)?.at ?? Date.now();
    expect(takenOverAt - killedAt).toBeLessThan(LEASE_MS * 2 + 2000); // the lease, plus a renewal period, plus slack

    const wh = new Webhook(created.secret);
    const positions = receiver.received.map((r) => {
      const body = wh.verify(r.body, r.headers as Record<string, string>) as { cursor: string; data: { n: number } };
      return { id: String(r.headers['webhook-id']), seq: seqOf(body.cursor) };
    });
    // At least once, exactly once after dedupe by webhook-id; an earlier position never arrives after a later one.
    expect(new Set(positions.map((p) => p.id)).size).toBe(EVENTS);
    let highest = 0;
    for (const p of positions) {
      expect(p.seq).toBeGreaterThanOrEqual(highest);
      highest = Math.max(highest, p.seq);
    }
    expect(await owner()).toBeDefined();
  }, 60_000);

  it('hubs that join later get their share of the subscriptions, handed over with nothing sent twice and order kept', async () => {
    const [first] = await startHubs(1);
    const receivers = await Promise.all(Array.from({ length: 4 }, () => startReceiver(() => ({ status: 200, delayMs: 20 }))));
    try {
      const subs: Array<{ id: string; secret: string }> = [];
      for (const [i, r] of receivers.entries()) {
        const res = await api(first!, '/v1/subscriptions', { body: { url: `${r.url}/hook`, channels: ['orders'], ordered: i === 0 } });
        subs.push((await res.json()) as { id: string; secret: string });
      }
      const leasesOf = async (hub: ChildHub): Promise<number> =>
        ((await (await fetch(`${hub.url}/readyz`)).json()) as { cluster: { leases: number } }).cluster.leases;
      await expect.poll(() => leasesOf(first!), { timeout: 5000 }).toBe(4);
      // Publishing through the hubs there are, from before the others join until well after;
      // at most 150 events before they have joined, however long their start takes under load
      // (every event must then reach the ordered receiver one by one in the time below).
      let n = 0;
      let joinedAt = Infinity; // until the others have joined
      const publishing = (async () => {
        while (n < joinedAt + 60) {
          if (n >= 150 && joinedAt === Infinity) {
            await sleep(50);
            continue;
          }
          const hub = hubs[n % hubs.length]!;
          expect((await api(hub, '/v1/events', { body: { channel: 'orders', type: 't', data: { n: n++ } } })).status).toBe(202);
          await sleep(10);
        }
      })();
      await receivers[0]!.until((r) => r.length >= 10, 10_000); // deliveries under way when the others join
      const env = { PUSHHUB_CONFIG: join(dir, 'config.json'), PUSHHUB_ALLOW_PRIVATE_URLS: 'true' };
      const joined = await Promise.allSettled([startChildHub(db.url, env), startChildHub(db.url, env)]);
      hubs = [first!, ...joined.flatMap((j) => (j.status === 'fulfilled' ? [j.value] : []))];
      expect(hubs).toHaveLength(3);
      joinedAt = n;
      // ceil(4 / 3) = 2 stay with the first hub, one goes to each of the others.
      await expect.poll(async () => (await Promise.all(hubs.map(leasesOf))).sort().join(','), { timeout: 10_000 }).toBe('1,1,2');
      await publishing;
      const EVENTS = n;
      for (const r of receivers) await r.until((got) => got.length >= EVENTS, 30_000);
      await sleep(500); // a late duplicate would show now
      for (const [i, r] of receivers.entries()) {
        const ids = eventIds(r.received);
        expect(new Set(ids).size).toBe(EVENTS); // every event, nothing sent twice
        expect(ids.length).toBe(EVENTS);
        const wh = new Webhook(subs[i]!.secret);
        const seqs = r.received.map((x) => seqOf((wh.verify(x.body, x.headers as Record<string, string>) as { cursor: string }).cursor));
        if (i === 0) expect(seqs).toEqual([...seqs].sort((a, b) => a - b)); // ordered, across the hand-over
      }
    } finally {
      await Promise.all(receivers.map((r) => r.close()));
    }
  }, 90_000);

  it('a subscription disabled, then deleted, through one hub is refused on all: nothing more is sent from any hub', async () => {
    const all = await startHubs(3);
    receiver = await startReceiver();
    const created = (await (await api(all[0]!, '/v1/subscriptions', { body: { url: `${receiver.url}/hook`, channels: ['d'] } })).json()) as { id: string };
    for (let n = 0; n < 6; n++) await api(all[n % 3]!, '/v1/events', { body: { channel: 'd', type: 't', data: { n } } });
    await receiver.until((r) => r.length >= 6, 10_000);

    expect((await api(all[1]!, `/v1/subscriptions/${created.id}`, { method: 'PATCH', body: { enabled: false } })).status).toBe(200);
    for (const h of all) expect(((await (await api(h, `/v1/subscriptions/${created.id}`)).json()) as { enabled: boolean }).enabled).toBe(false);
    for (let n = 0; n < 6; n++) await api(all[n % 3]!, '/v1/events', { body: { channel: 'd', type: 't', data: { n } } });
    await sleep(1000);
    expect(receiver.received).toHaveLength(6); // held while disabled

    expect((await api(all[2]!, `/v1/subscriptions/${created.id}`, { method: 'DELETE' })).status).toBe(204);
    for (const h of all) expect((await api(h, `/v1/subscriptions/${created.id}`)).status).toBe(404);
    for (let n = 0; n < 6; n++) await api(all[n % 3]!, '/v1/events', { body: { channel: 'd', type: 't', data: { n } } });
    await sleep(1000);
    expect(receiver.received).toHaveLength(6);
  }, 30_000);
});
