import { afterEach, describe, expect, it } from 'vitest';
import { startHub, type TestHub } from '../helpers/hub.js';
import { freshDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { connect, type EventFrame } from '../helpers/ws-client.js';

/** Two hubs in this process on one database: the quick checks of what several hubs share (the cluster suite runs processes). */
let db: TestDatabase | undefined;
let hubs: TestHub[] = [];
let receiver: Receiver | undefined;

afterEach(async () => {
  for (const h of hubs) await h.close();
  hubs = [];
  await receiver?.close();
  receiver = undefined;
  await db?.drop();
  db = undefined;
});

async function twoHubs(config: Record<string, unknown> = {}): Promise<[TestHub, TestHub]> {
  db = await freshDatabase();
  const options = { database: db.url, config: { allowPrivateUrls: true, ...config } };
  hubs = [await startHub(options), await startHub(options)];
  return [hubs[0]!, hubs[1]!];
}

const publish = (hub: TestHub, channel: string, n: number) => hub.api('/v1/events', { body: { channel, type: 't', data: { n } } });

describe('two hubs on one PostgreSQL database', () => {
  it('a WebSocket subscriber on one hub gets what is published through the other, live, in cursor order', async () => {
    const [a, b] = await twoHubs();
    const socket = await connect(b.url, { bearer: 'test-api-key-0123456789' });
    socket.send({ op: 'subscribe', channel: 'shared' });
    await socket.next((f) => f.op === 'subscribed');
    const cursors: string[] = [];
    for (let n = 0; n < 20; n++) cursors.push(((await (await publish(n % 2 === 0 ? a : b, 'shared', n)).json()) as { cursor: string }).cursor);
    await expect.poll(() => socket.frames.filter((f) => f.op === 'event').length, { timeout: 10_000 }).toBe(20);
    const events = socket.frames.filter((f): f is EventFrame => f.op === 'event').map((f) => f.event);
    expect(events.map((e) => (e.data as { n: number }).n)).toEqual(Array.from({ length: 20 }, (_, n) => n));
    expect(events.map((e) => e.cursor)).toEqual(cursors);
    socket.close();
  });

  it('a subscription created through one hub is read, changed and deleted through the other at once; deliveries go out once', async () => {
    const [a, b] = await twoHubs();
    receiver = await startReceiver();
    const created = (await (await a.api('/v1/subscriptions', { body: { url: `${receiver.url}/hook`, channels: ['orders.*'] } })).json()) as { id: string };
    expect((await b.api(`/v1/subscriptions/${created.id}`)).status).toBe(200);
    for (let n = 0; n < 10; n++) expect((await publish(n % 2 === 0 ? a : b, 'orders.eu', n)).status).toBe(202);
    await receiver.until((r) => r.length >= 10);
    const patched = await b.api(`/v1/subscriptions/${created.id}`, { method: 'PATCH', body: { enabled: false } });
    expect(patched.status).toBe(200);
    expect(((await (await a.api(`/v1/subscriptions/${created.id}`)).json()) as { enabled: boolean }).enabled).toBe(false);
    expect((await b.api(`/v1/subscriptions/${created.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await a.api(`/v1/subscriptions/${created.id}`)).status).toBe(404);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(10);
    expect(receiver.received).toHaveLength(10);
  });

  it('/readyz shows both hubs, the leases of this one, and its listener', async () => {
    const [a, b] = await twoHubs();
    await a.api('/v1/subscriptions', { body: { url: 'http://127.0.0.1:9/hook', channels: ['x'] } });
    await expect
      .poll(async () => {
        const states = await Promise.all([a, b].map(async (h) => ((await (await fetch(`${h.url}/readyz`)).json()) as { cluster: Record<string, unknown> }).cluster));
        return { hubs: states.map((s) => s.hubs), leases: states.reduce((n, s) => n + (s.leases as number), 0), listening: states.map((s) => s.listening) };
      })
      .toEqual({ hubs: [2, 2], leases: 1, listening: [true, true] });
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/^pushhub_hubs_alive 2$/m);
    expect(metrics).toMatch(/^pushhub_db_listener_connected 1$/m);
    expect(metrics).toMatch(/^pushhub_log_lag_events 0$/m);
  });
});
