import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startHub } from '../helpers/hub.js';
import { eventIds, startReceiver } from '../helpers/receiver.js';
import { attemptsOf, createSubscription, deliveryIn, eventStatus, publish } from '../helpers/webhooks.js';

describe('shutdown', () => {
  it('waits for attempts under way within the grace period and records them', async () => {
    const rx = await startReceiver(() => ({ status: 200, delayMs: 300 }));
    const hub = await startHub({ config: { allowPrivateUrls: true, shutdownGraceMs: 5000 } });
    await createSubscription(hub, { url: rx.url, channels: ['s'] });
    const event = await publish(hub, 's');
    await rx.until((r) => r.length === 1);
    await hub.app.close();
    const again = await startHub({ dir: hub.dir, config: { allowPrivateUrls: true } });
    try {
      expect((await eventStatus(again, event.id)).deliveries[0]).toMatchObject({ state: 'succeeded', attempts: 1 });
      expect(rx.received).toHaveLength(1);
    } finally {
      await again.close();
      await rx.close();
      rmSync(hub.dir, { recursive: true, force: true });
    }
  });

  it('past the grace period cuts attempts short and re-queues them, uncounted; the next start sends them', async () => {
    const rx = await startReceiver(() => 'hang');
    const hub = await startHub({ config: { allowPrivateUrls: true, shutdownGraceMs: 100 } });
    await createSubscription(hub, { url: rx.url, channels: ['s'] });
    const event = await publish(hub, 's');
    await rx.until((r) => r.length === 1);
    const closing = Date.now();
    await hub.app.close();
    expect(Date.now() - closing).toBeLessThan(2000);
    expect(hub.logs.some((l) => l.msg === 'grace period over: re-queueing attempts under way')).toBe(true);

    rx.script(() => ({ status: 200 }));
    const again = await startHub({ dir: hub.dir, config: { allowPrivateUrls: true } });
    try {
      const done = await deliveryIn(again, event.id, 'succeeded');
      expect(done.attempts).toBe(1);
      expect(eventIds(rx.received)).toEqual([event.id, event.id]);
      expect(rx.received.map((r) => r.headers['x-pushhub-attempt'])).toEqual(['1', '1']);
      expect((await attemptsOf(again, done.id)).map((a) => a.status)).toEqual([200]);
    } finally {
      await again.close();
      await rx.close();
      rmSync(hub.dir, { recursive: true, force: true });
    }
  });
});
