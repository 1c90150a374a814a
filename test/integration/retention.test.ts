import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock, startHub, type TestHub } from '../helpers/hub.js';

const DAY = 24 * 3600 * 1000;
const clock = manualClock(Date.parse('2026-03-01T00:00:00Z'));
let hub: TestHub;
beforeAll(async () => {
  hub = await startHub({ clock, config: { retention: { batchSize: 7 } } });
});
afterAll(() => hub.close());

const publishMany = async (channel: string, n: number) => {
  const res = await hub.api('/v1/events/batch', {
    body: { events: Array.from({ length: n }, (_, i) => ({ channel, type: 't', data: i })) },
  });
  return ((await res.json()) as { events: Array<{ cursor: string; id: string }> }).events;
};

describe('retention', () => {
  it('prunes events past retention in small batches, and a cursor behind them gets 410', async () => {
    const old = await publishMany('ret', 30);
    clock.advance(6 * DAY);
    const recent = await publishMany('ret', 5);
    clock.advance(1 * DAY + 1);
    await hub.app.retention.runOnce();
    expect(await hub.app.store.eventById(old[29]!.id)).toBeUndefined();
    expect(await hub.app.store.eventById(recent[0]!.id)).toBeDefined();

    const all = (await (await hub.api('/v1/channels/ret/events')).json()) as { events: Array<{ id: string }> };
    expect(all.events.map((e) => e.id)).toEqual(recent.map((e) => e.id));

    const stale = await hub.api(`/v1/channels/ret/events?after=${old[3]!.cursor}`);
    expect(stale.status).toBe(410);
    expect(((await stale.json()) as { error: { code: string } }).error.code).toBe('cursor_expired');
    // The last pruned position is still a valid place to resume from: nothing after it is gone.
    const edge = await hub.api(`/v1/channels/ret/events?after=${old[29]!.cursor}`);
    expect(edge.status).toBe(200);

    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    expect(metrics).toMatch(/pushhub_retention_pruned_rows_total\{table="events"\} 30/);
  });

  it('keeps publishing while a large prune runs', async () => {
    await publishMany('ret.big', 1000);
    clock.advance(8 * DAY);
    const pass = hub.app.retention.runOnce();
    const res = await hub.api('/v1/events', { body: { channel: 'ret.live', type: 't', data: 1 } });
    expect(res.status).toBe(202);
    await pass;
    expect((await (await hub.api('/v1/channels/ret.big/events')).json()) as unknown).toMatchObject({ events: [] });
    expect((await (await hub.api('/v1/channels/ret.live/events')).json()) as unknown).toMatchObject({ events: [{}] });
  });
});
