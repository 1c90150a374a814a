import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';
import { channelLog } from '../helpers/log.js';
import { sleep } from '../helpers/seeded.js';
import { connect } from '../helpers/ws-client.js';

const LIMIT = 256 * 1024;
const BATCH = 10;
let hub: TestHub;
beforeAll(async () => {
  hub = await startHub({ config: { logLevel: 'info', realtime: { ...loadConfig({}).realtime, sendBufferBytes: LIMIT } } });
});
afterAll(() => hub.close());

async function slowDisconnects(): Promise<number> {
  const metric = await hub.app.metrics.registry.getSingleMetric('pushhub_realtime_slow_consumer_disconnects_total')!.get();
  return metric.values.reduce((n, v) => n + v.value, 0);
}

async function bufferedGauge(): Promise<number> {
  const text = await (await hub.api('/metrics')).text();
  return Number(/^pushhub_realtime_send_buffer_bytes (\d+)/m.exec(text)![1]);
}

it('a client that stops reading is closed with 4008, memory stays bounded, others keep pace, resume loses nothing', async () => {
  const slow = await connect(hub.url, { bearer: API_KEY });
  const start = (await slow.request({ op: 'subscribe', channel: 'firehose' })).cursor as string;
  const fast = await Promise.all([1, 2, 3].map(() => connect(hub.url, { bearer: API_KEY })));
  for (const f of fast) await f.request({ op: 'subscribe', channel: 'firehose' });
  slow.ws.pause(); // stops reading its socket: the hub's send buffer for it fills

  const payload = 'x'.repeat(8 * 1024);
  const publishedAt = new Map<string, number>();
  let maxBuffered = 0;
  let batches = 0;
  while ((await slowDisconnects()) === 0 && batches < 1000) {
    const sentAt = Date.now();
    const res = await hub.api('/v1/events/batch', {
      body: { events: Array.from({ length: BATCH }, (_, i) => ({ channel: 'firehose', type: 'big', data: { i, payload } })) },
    });
    const { events } = (await res.json()) as { events: Array<{ id: string }> };
    for (const e of events) publishedAt.set(e.id, sentAt);
    batches++;
    if (batches % 10 === 0) maxBuffered = Math.max(maxBuffered, await bufferedGauge());
  }
  expect(await slowDisconnects()).toBe(1); // the slow one, and only it, was cut
  for (let more = 0; more < 20; more++) {
    // Keep publishing a while after the cut: none of it may pile up for the slow client.
    const sentAt = Date.now();
    const res = await hub.api('/v1/events/batch', {
      body: { events: Array.from({ length: BATCH }, (_, i) => ({ channel: 'firehose', type: 'big', data: { i, payload } })) },
    });
    for (const e of ((await res.json()) as { events: Array<{ id: string }> }).events) publishedAt.set(e.id, sentAt);
    maxBuffered = Math.max(maxBuffered, await bufferedGauge());
  }
  const published = publishedAt.size;
  // Bounded: never much more than the limit plus one committed batch, whatever was published.
  const batchBytes = BATCH * (payload.length + 300);
  expect(maxBuffered).toBeLessThanOrEqual(LIMIT + 4 * batchBytes);
  expect(published * payload.length).toBeGreaterThan(4 * maxBuffered);

  // The fast clients were not held back: every event, each soon after its publish.
  for (const f of fast) {
    const events = await f.waitEvents(published, undefined, 10_000);
    expect(events.map((e) => e.id)).toEqual([...publishedAt.keys()]);
    const lag = Math.max(...events.map((e) => f.arrivedAt.get(e.id)! - publishedAt.get(e.id)!));
    expect(lag).toBeLessThan(1000);
  }
  // What is left is the slow client's capped buffer, held until it reads or the close grace cuts it.
  expect(await bufferedGauge()).toBeLessThanOrEqual(LIMIT + batchBytes);

  // The slow client reads what was buffered, then the 4008; resuming from its last cursor
  // brings everything else.
  slow.ws.resume();
  expect((await slow.closed).code).toBe(4008);
  const before = slow.events();
  const lastCursor = before.at(-1)?.cursor ?? start;
  const again = await connect(hub.url, { bearer: API_KEY });
  expect(await again.request({ op: 'subscribe', channel: 'firehose', cursor: lastCursor })).toMatchObject({ resumed: true });
  await again.waitEvents(published - before.length, undefined, 10_000);
  await sleep(50);
  expect([...before, ...again.events()].map((e) => e.id)).toEqual(await channelLog(hub, 'firehose', start));
  for (const c of [...fast, again]) c.close();
  const metrics = await (await hub.api('/metrics')).text();
  expect(metrics).toContain('pushhub_realtime_slow_consumer_disconnects_total{transport="ws"} 1');
});
