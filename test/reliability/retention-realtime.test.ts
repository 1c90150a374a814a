import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { API_KEY, manualClock, startHub, type TestHub } from '../helpers/hub.js';
import { readChannel } from '../helpers/load.js';
import { SseClient } from '../helpers/sse-client.js';
import { connect, type TestSocket } from '../helpers/ws-client.js';

/**
 * Retention seen from the real-time side (polling's 410 is in test/integration/retention.test.ts):
 * a large prune does not stall publishing or live subscribers; a cursor behind what was pruned
 * gets the same answer on every transport; and a replay that retention overtakes says so
 * instead of skipping events.
 */
const DAY = 24 * 3600 * 1000;
const clock = manualClock(Date.parse('2026-03-01T00:00:00Z'));
let hub: TestHub;
beforeAll(async () => {
  hub = await startHub({
    clock,
    config: {
      logLevel: 'info',
      retention: { ...loadConfig({}).retention, batchSize: 200 },
      // Small replay pages, so a replay takes many steps (the overtaking test).
      realtime: { ...loadConfig({}).realtime, replayPageSize: 5, publishRatePerS: 10_000 },
    },
  });
});
afterAll(() => hub.close());

async function publishBatches(channel: string, batches: number, size = 1000): Promise<Array<{ id: string; cursor: string }>> {
  const out: Array<{ id: string; cursor: string }> = [];
  for (let b = 0; b < batches; b++) {
    const events = Array.from({ length: size }, (_, i) => ({ channel, type: 'old', data: { b, i } }));
    const res = await hub.api('/v1/events/batch', { body: { events } });
    expect(res.status).toBe(202);
    out.push(...((await res.json()) as { events: Array<{ id: string; cursor: string }> }).events);
  }
  return out;
}

const sseUrl = (channel: string) => `${hub.url}/v1/channels/${channel}/sse`;
const auth = { authorization: `Bearer ${API_KEY}` };

describe('retention and real-time subscribers', () => {
  it('a large prune runs in small steps while HTTP and WebSocket publishes keep their 202/ack and live subscribers keep up', async () => {
    await publishBatches('ret.bulk', 20); // 20 000 events to prune
    const live = await connect(hub.url, { bearer: API_KEY });
    await live.request({ op: 'subscribe', channel: 'ret.live' });
    const publisher = await connect(hub.url, { bearer: API_KEY });
    clock.advance(8 * DAY);

    let pruning = true;
    const pass = hub.app.retention.runOnce().finally(() => (pruning = false));
    const latencies: number[] = [];
    let duringPrune = 0;
    let n = 0;
    // Publish without pause, alternating HTTP and WebSocket, until the prune is over.
    while (pruning || n < 20) {
      const started = performance.now();
      if (n % 2 === 0) {
        const res = await hub.api('/v1/events', { body: { channel: 'ret.live', type: 'new', data: n } });
        expect(res.status).toBe(202);
        await res.arrayBuffer();
      } else {
        expect(await publisher.request({ op: 'publish', channel: 'ret.live', type: 'new', data: n })).toMatchObject({ op: 'ack' });
      }
      latencies.push(performance.now() - started);
      if (pruning) duringPrune++;
      n++;
    }
    await pass;
    // Interleaved with the prune's transactions, not queued behind them; no publish waited long
    // (a loose bound: the machine is busy with other suites).
    expect(duringPrune).toBeGreaterThan(3);
    expect(Math.max(...latencies)).toBeLessThan(1000);
    expect((await hub.app.store.position()).prunedThrough).toBeGreaterThanOrEqual(20_000);
    expect(await readChannel(hub.url, 'ret.bulk')).toEqual([]);
    // The live subscriber got every new event, in order.
    await live.waitEvents(n, 'ret.live');
    expect(live.events('ret.live').map((e) => e.data)).toEqual(Array.from({ length: n }, (_, i) => i));
    live.close();
    publisher.close();
  });

  it('a cursor behind the pruned events: resumed:false (WebSocket), event: reset (SSE), 410 (polling); the edge still resumes', async () => {
    const old = await publishBatches('ret.gap', 1, 10);
    clock.advance(8 * DAY);
    await hub.app.retention.runOnce();
    const kept = await publishBatches('ret.gap', 1, 3);
    const stale = old[2]!.cursor;
    const edge = old.at(-1)!.cursor; // the last pruned position: nothing after it is gone

    const ws = await connect(hub.url, { bearer: API_KEY });
    const expired = await ws.request({ op: 'subscribe', channel: 'ret.gap', cursor: stale });
    expect(expired).toMatchObject({ op: 'subscribed', resumed: false, reason: 'cursor_expired' });
    const sse = await SseClient.open(sseUrl('ret.gap'), { ...auth, 'last-event-id': stale });
    await sse.waitFor(() => sse.messages.length === 1);
    expect(sse.messages[0]).toMatchObject({ event: 'reset', id: expired.cursor });
    expect(JSON.parse(sse.messages[0]!.data!)).toEqual({ reason: 'cursor_expired', cursor: expired.cursor });
    expect((await hub.api(`/v1/channels/ret.gap/events?after=${stale}`)).status).toBe(410);
    // Nothing replayed: both are live from the head.
    const [fresh] = await publishBatches('ret.gap', 1, 1);
    await ws.waitEvents(1, 'ret.gap');
    await sse.waitFor(() => sse.events().length === 1);
    expect(ws.events('ret.gap').map((e) => e.id)).toEqual([fresh!.id]);
    expect(sse.events().map((e) => e.id)).toEqual([fresh!.id]);
    ws.close();
    sse.abort();

    // From the edge: everything kept, on every transport.
    const want = [...kept, fresh!].map((e) => e.id);
    const ws2 = await connect(hub.url, { bearer: API_KEY });
    expect(await ws2.request({ op: 'subscribe', channel: 'ret.gap', cursor: edge })).toMatchObject({ resumed: true, cursor: edge });
    await ws2.waitEvents(want.length, 'ret.gap');
    expect(ws2.events('ret.gap').map((e) => e.id)).toEqual(want);
    const sse2 = await SseClient.open(`${sseUrl('ret.gap')}?after=${edge}`, auth);
    await sse2.waitFor(() => sse2.events().length === want.length);
    expect(sse2.events().map((e) => e.id)).toEqual(want);
    expect((await readChannel(hub.url, 'ret.gap', edge)).map((e) => e.id)).toEqual(want);
    ws2.close();
    sse2.abort();
  });
});

describe('a replay that retention overtakes', () => {
  /** Subscribes from the oldest event, lets the replay start, then prunes everything under it; returns what was to be replayed. */
  async function overtake(channel: string, subscribe: (cursor: string) => Promise<void>): Promise<string[]> {
    const events = await publishBatches(channel, 2); // 2 000 events, replayed 5 per step
    await subscribe(events[0]!.cursor);
    clock.advance(8 * DAY);
    await hub.app.retention.runOnce(); // 200 rows per step: it overtakes the replay at once
    return events.slice(1).map((e) => e.id);
  }

  it('WebSocket: the events it could still send, then subscribed resumed:false cursor_expired, then live; never a silent gap', async () => {
    let ws: TestSocket | undefined;
    const all = await overtake('ret.over.ws', async (cursor) => {
      ws = await connect(hub.url, { bearer: API_KEY });
      expect(await ws.request({ op: 'subscribe', channel: 'ret.over.ws', cursor })).toMatchObject({ resumed: true });
    });
    const notice = (await ws!.next((f) => f.op === 'subscribed' && f.resumed === false)) as unknown as { cursor: string; reason: string; channel: string };
    expect(notice).toMatchObject({ channel: 'ret.over.ws', reason: 'cursor_expired' });
    const before = ws!.events('ret.over.ws').map((e) => e.id);
    expect(before.length).toBeLessThan(all.length); // it was overtaken…
    expect(before).toEqual(all.slice(0, before.length)); // …after an unbroken prefix
    // Then live from the head it announced.
    const [fresh] = await publishBatches('ret.over.ws', 1, 1);
    await ws!.waitEvents(before.length + 1, 'ret.over.ws');
    expect(ws!.events('ret.over.ws').at(-1)!.id).toBe(fresh!.id);
    expect((await readChannel(hub.url, 'ret.over.ws', notice.cursor)).map((e) => e.id)).toEqual([fresh!.id]);
    ws!.close();
  });

  it('SSE: the same, with event: reset', async () => {
    let sse: SseClient | undefined;
    const all = await overtake('ret.over.sse', async (cursor) => {
      sse = await SseClient.open(`${sseUrl('ret.over.sse')}?after=${cursor}`, auth);
    });
    await sse!.waitFor(() => sse!.messages.some((m) => m.event === 'reset'));
    const at = sse!.messages.findIndex((m) => m.event === 'reset');
    const reset = sse!.messages[at]!;
    expect(JSON.parse(reset.data!)).toEqual({ reason: 'cursor_expired', cursor: reset.id });
    const before = sse!.messages.slice(0, at).map((m) => (JSON.parse(m.data!) as { id: string }).id);
    expect(before.length).toBeLessThan(all.length);
    expect(before).toEqual(all.slice(0, before.length));
    const [fresh] = await publishBatches('ret.over.sse', 1, 1);
    await sse!.waitFor(() => sse!.events().at(-1)?.id === fresh!.id);
    expect(sse!.events().length).toBe(before.length + 1);
    sse!.abort();
  });
});
