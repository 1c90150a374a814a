import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startChildHub, type ChildHub } from '../helpers/child-hub.js';
import { API_KEY } from '../helpers/hub.js';

interface Envelope {
  type: string;
  data: { subscription_id: string; url: string; disabled_reason?: string };
}

const call = (hub: ChildHub, path: string, method: string, body?: unknown) =>
  fetch(hub.url + path, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** Every event of a channel, through polling. */
async function channelEvents(hub: ChildHub, channel: string): Promise<Envelope[]> {
  const out: Envelope[] = [];
  let after = '';
  for (;;) {
    const page = (await (await call(hub, `/v1/channels/${channel}/events?limit=1000${after}`, 'GET')).json()) as { events: Envelope[]; next_cursor: string; has_more: boolean };
    out.push(...page.events);
    if (!page.has_more) return out;
    after = `&after=${page.next_cursor}`;
  }
}

/**
 * Subscriptions are created, disabled, enabled and deleted as fast as the hub takes it, and the
 * hub is SIGKILLed in the middle. After the restart the `$hub.subscriptions` events and the
 * subscriptions agree exactly: each change that is there has its event and each event its change
 * (both or neither), whatever was under way at the kill, and every change acknowledged before it
 * is there.
 */
it('SIGKILL amid subscription changes: after restart the changes and their operational events are both there or neither', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pushhub-opcrash-'));
  const db = join(dir, 'pushhub.db');
  const env = { PUSHHUB_ALLOW_PRIVATE_URLS: 'true' };
  let hub = await startChildHub(db, env);
  const acknowledged: Array<{ id: string; change: 'created' | 'disabled' | 'enabled' | 'deleted' }> = [];
  try {
    let stop = false;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        try {
          const res = await call(hub, '/v1/subscriptions', 'POST', { url: `http://127.0.0.1:9/w${w}/${i}`, channels: ['c'] });
          if (res.status !== 201) continue;
          const { id } = (await res.json()) as { id: string };
          acknowledged.push({ id, change: 'created' });
          for (const [change, body] of [['disabled', { enabled: false }], ['enabled', { enabled: true }]] as const) {
            if ((await call(hub, `/v1/subscriptions/${id}`, 'PATCH', body)).status === 200) acknowledged.push({ id, change });
          }
          if (i % 2 === 0 && (await call(hub, `/v1/subscriptions/${id}`, 'DELETE')).status === 204) acknowledged.push({ id, change: 'deleted' });
        } catch {
          return; // the hub is gone
        }
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    const deadline = Date.now() + 20_000;
    while (acknowledged.length < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await hub.kill(); // with requests of all four workers under way
    stop = true;
    await Promise.all(workers);
    expect(acknowledged.length).toBeGreaterThanOrEqual(40);

    hub = await startChildHub(db, env);
    const events = await channelEvents(hub, '$hub.subscriptions');
    const { subscriptions } = (await (await call(hub, '/v1/subscriptions', 'GET')).json()) as { subscriptions: Array<{ id: string; enabled: boolean }> };

    // The state the events describe, subscription by subscription.
    const derived = new Map<string, { exists: boolean; enabled: boolean }>();
    for (const e of events) {
      const id = e.data.subscription_id;
      const cur = derived.get(id);
      if (e.type === 'subscription.created') {
        expect(cur, `${id} created twice`).toBeUndefined();
        derived.set(id, { exists: true, enabled: true });
        continue;
      }
      expect(cur?.exists, `${e.type} of ${id} without it existing`).toBe(true);
      if (e.type === 'subscription.disabled') {
        expect(cur!.enabled).toBe(true);
        cur!.enabled = false;
      } else if (e.type === 'subscription.enabled') {
        expect(cur!.enabled).toBe(false);
        cur!.enabled = true;
      } else if (e.type === 'subscription.deleted') {
        cur!.exists = false;
      }
    }
    // Both or neither: what is stored is exactly what the events say.
    const actual = new Map(subscriptions.map((s) => [s.id, s.enabled]));
    for (const [id, state] of derived) {
      expect(actual.has(id), `${id} exists`).toBe(state.exists);
      if (state.exists) expect(actual.get(id), `${id} enabled`).toBe(state.enabled);
    }
    for (const id of actual.keys()) expect(derived.has(id), `${id} has its subscription.created`).toBe(true);
    // And every acknowledged change is among them.
    for (const { id, change } of acknowledged) {
      expect(events.some((e) => e.data.subscription_id === id && e.type === `subscription.${change}`), `${change} of ${id}`).toBe(true);
    }
  } finally {
    await hub.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
