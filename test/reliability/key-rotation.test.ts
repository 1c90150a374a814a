import { afterAll, describe, expect, it } from 'vitest';
import { startHub, type TestHub } from '../helpers/hub.js';
import { createKey, revokeKey } from '../helpers/keys.js';

/**
 * Rotation without downtime: a client publishes continuously with an admin key; a new admin
 * key is made, the client switches to it, the old one is revoked. No request is refused but
 * those still sent with the old key after its revocation, and those all are.
 */
let hub: TestHub | undefined;
afterAll(async () => hub?.close());

interface Sent {
  key: 'old' | 'new';
  startedAt: number;
  endedAt: number;
  status: number;
}

describe('rotating an admin key', () => {
  it('switches a continuously publishing client to a new key, then revokes the old one: nothing else is refused', async () => {
    hub = await startHub({ config: { logLevel: 'warn' } });
    const h = hub;
    const old = await createKey(h, { name: 'app (old)', scopes: ['admin'] });
    const keyOf = { old: old.key, new: '' };
    let current: 'old' | 'new' = 'old';
    let stop = false;
    const sent: Sent[] = [];
    // Four publishers, each with one request at a time, all reading the client's current key.
    const publisher = async (n: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const key = current;
        const startedAt = performance.now();
        const res = await fetch(`${h.url}/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${keyOf[key]}`, 'content-type': 'application/json' },
          body: JSON.stringify({ channel: 'rotation', type: 't', data: { n, i } }),
        });
        await res.arrayBuffer();
        sent.push({ key, startedAt, endedAt: performance.now(), status: res.status });
      }
    };
    // A straggler that keeps the old key: the one whose requests must be refused after revocation.
    const straggler = async (): Promise<void> => {
      while (!stop) {
        const startedAt = performance.now();
        const res = await fetch(`${h.url}/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${old.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ channel: 'rotation', type: 't', data: 'late' }),
        });
        await res.arrayBuffer();
        sent.push({ key: 'old', startedAt, endedAt: performance.now(), status: res.status });
      }
    };
    const running = [0, 1, 2, 3].map(publisher);
    /** Waits until `n` more requests of the client (not the straggler's) are answered. */
    const untilMore = async (n: number): Promise<void> => {
      const ofClient = (): number => sent.filter((s) => s.status === 202).length;
      const target = ofClient() + n;
      while (ofClient() < target) await new Promise((r) => setTimeout(r, 10));
    };

    await untilMore(40);
    // The new key is made with the old one: an admin rotating itself, no root key needed.
    keyOf.new = (await createKey(h, { name: 'app (new)', scopes: ['admin'] }, old.key)).key;
    await untilMore(40);
    current = 'new';
    const lagging = straggler();
    await untilMore(40);
    const revokeStarted = performance.now();
    expect(await revokeKey(h, old.id, keyOf.new)).toBe(204);
    const revoked = performance.now();
    // 40 of the client's requests sent after the revocation (not ones already under way then) answered.
    while (sent.filter((s) => s.key === 'new' && s.startedAt > revoked && s.status === 202).length < 40) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await Promise.all([...running, lagging]);

    const refused = sent.filter((s) => s.status !== 202);
    // Every refusal is a 401 of the old key sent after the revocation began.
    for (const r of refused) {
      expect(r.key).toBe('old');
      expect(r.status).toBe(401);
      expect(r.endedAt).toBeGreaterThan(revokeStarted);
    }
    // Every request with the old key sent once the revocation was answered is refused.
    const afterRevocation = sent.filter((s) => s.key === 'old' && s.startedAt > revoked);
    expect(afterRevocation.length).toBeGreaterThan(0);
    expect(afterRevocation.every((s) => s.status === 401)).toBe(true);
    // And the client was never refused: all of its requests with the new key, and all with the old one before, got 202.
    expect(sent.filter((s) => s.key === 'new').every((s) => s.status === 202)).toBe(true);
    expect(sent.filter((s) => s.key === 'old' && s.endedAt < revokeStarted).every((s) => s.status === 202)).toBe(true);
    expect(sent.filter((s) => s.key === 'new' && s.startedAt > revoked).length).toBeGreaterThanOrEqual(40);
  });
});
