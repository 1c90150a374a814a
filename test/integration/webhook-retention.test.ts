import { expect, it } from 'vitest';
import { manualClock, startHub } from '../helpers/hub.js';
import { startReceiver } from '../helpers/receiver.js';
import { createSubscription, deliveryIn, eventStatus, publish } from '../helpers/webhooks.js';

const DAY_MS = 86_400_000;

it('retention removes finished deliveries after 7 days, and held ones with their event', async () => {
  const clock = manualClock(Date.now());
  const rx = await startReceiver();
  const hub = await startHub({ clock, config: { allowPrivateUrls: true } });
  try {
    await createSubscription(hub, { url: rx.url, channels: ['kept'] });
    await createSubscription(hub, { url: rx.url, channels: ['held'], enabled: false });
    const done = await deliveryIn(hub, (await publish(hub, 'kept')).id, 'succeeded');
    const heldEvent = await publish(hub, 'held');
    const held = (await eventStatus(hub, heldEvent.id)).deliveries[0]!;
    expect(held.state).toBe('pending');

    clock.advance(6 * DAY_MS);
    await hub.app.retention.runOnce();
    expect((await hub.api(`/v1/deliveries/${done.id}`)).status).toBe(200);
    expect((await hub.api(`/v1/deliveries/${held.id}`)).status).toBe(200);

    clock.advance(2 * DAY_MS);
    await hub.app.retention.runOnce();
    expect((await hub.api(`/v1/deliveries/${done.id}`)).status).toBe(404);
    expect((await hub.api(`/v1/deliveries/${held.id}`)).status).toBe(404);
    expect((await hub.api(`/v1/events/${heldEvent.id}`)).status).toBe(404);
    const metrics = await (await hub.api('/metrics')).text();
    expect(metrics).toMatch(/pushhub_retention_pruned_rows_total\{table="deliveries"\} 2/);
  } finally {
    await hub.close();
    await rx.close();
  }
});
