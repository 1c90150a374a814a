import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startChildHub } from '../helpers/child-hub.js';
import { API_KEY } from '../helpers/hub.js';
import { eventIds, startReceiver } from '../helpers/receiver.js';

const EVENTS = 40;

async function call(base: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

it('SIGKILL while deliveries are in flight: after restart every event arrives at least once, exactly once after dedupe', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pushhub-crash-'));
  const db = join(dir, 'pushhub.db');
  const rx = await startReceiver(() => ({ status: 200, delayMs: 100 }));
  // On PostgreSQL the restarted hub is another hub: it takes the subscription once the dead
  // one's lease expired (short here; 15 s by default).
  const env = { PUSHHUB_ALLOW_PRIVATE_URLS: 'true', PUSHHUB_WEBHOOKS_LEASE_MS: '2000' };
  let hub = await startChildHub(db, env);
  try {
    await call(hub.url, '/v1/subscriptions', { url: rx.url, channels: ['crash'], max_in_flight: 4 });
    const events = Array.from({ length: EVENTS }, (_, i) => ({ channel: 'crash', type: 'test', data: { i } }));
    const { events: accepted } = (await call(hub.url, '/v1/events/batch', { events })) as { events: Array<{ id: string }> };
    // Some delivered, some in flight right now, most still queued.
    await rx.until((r) => r.length >= 6);
    await hub.kill();
    const beforeRestart = new Set(eventIds(rx.received));
    expect(beforeRestart.size).toBeLessThan(EVENTS);

    hub = await startChildHub(db, env);
    const want = accepted.map((e) => e.id);
    await rx.until((r) => new Set(eventIds(r)).size === EVENTS, 15_000);
    const unique = new Set(eventIds(rx.received));
    expect([...unique].sort()).toEqual([...want].sort());
    expect(rx.received.length).toBeGreaterThanOrEqual(EVENTS); // at least once; duplicates allowed
    expect(hub.logs.some((l) => l.msg === 'deliveries left in flight by the previous run re-queued')).toBe(true);
  } finally {
    await hub.kill();
    await rx.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
