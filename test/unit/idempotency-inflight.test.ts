import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { HubError } from '../../src/errors.js';
import { Idempotency } from '../../src/ingest/idempotency.js';
import type { KeyClaim, SavedResponse, Store } from '../../src/store/index.js';

/** A store whose key claims take a while to answer, as a networked one's do; `busyFor` claims come back busy first (another hub holds the key). */
function slowStore(saved: Map<string, SavedResponse>, busyFor = 0): Store & { claims: number; released: string[] } {
  const store = {
    claims: 0,
    released: [] as string[],
    claimKey: (key: string) =>
      new Promise<KeyClaim>((resolve) =>
        setTimeout(() => {
          const found = saved.get(key);
          resolve(store.claims++ < busyFor ? { state: 'busy' } : found ? { state: 'saved', saved: found } : { state: 'claimed' });
        }, 5),
      ),
    releaseKey: async (key: string) => void store.released.push(key),
  };
  return store as Partial<Store> as Store & typeof store;
}

describe('Idempotency with a store that answers later', () => {
  it('runs a key once for requests that arrive while its lookup is under way', async () => {
    const idem = new Idempotency(slowStore(new Map()), systemClock, 60_000);
    let runs = 0;
    const execute = async () => `{"n":${++runs}}`;
    const results = await Promise.all([idem.run('k', 'f', execute), idem.run('k', 'f', execute), idem.run('k', 'f', execute)]);
    expect(runs).toBe(1);
    expect(results).toEqual([
      { json: '{"n":1}', replayed: false },
      { json: '{"n":1}', replayed: true },
      { json: '{"n":1}', replayed: true },
    ]);
  });

  it('answers a saved key (and 409 for another body) without running anything, racing requests included', async () => {
    const idem = new Idempotency(slowStore(new Map([['k', { fingerprint: 'f', response: '{"saved":1}' }]])), systemClock, 60_000);
    const execute = () => Promise.reject(new Error('must not run'));
    const [a, b, c] = await Promise.allSettled([idem.run('k', 'f', execute), idem.run('k', 'f', execute), idem.run('k', 'other', execute)]);
    expect(a).toEqual({ status: 'fulfilled', value: { json: '{"saved":1}', replayed: true } });
    expect(b).toEqual({ status: 'fulfilled', value: { json: '{"saved":1}', replayed: true } });
    expect(c.status).toBe('rejected');
    expect((c as PromiseRejectedResult).reason).toBeInstanceOf(HubError);
    expect((c as PromiseRejectedResult).reason).toMatchObject({ code: 'idempotency_key_reused' });
  });

  it('waits while another hub holds the key, then answers its saved response without running anything', async () => {
    const saved = new Map<string, SavedResponse>();
    const store = slowStore(saved, 3);
    const idem = new Idempotency(store, systemClock, 60_000);
    setTimeout(() => saved.set('k', { fingerprint: 'f', response: '{"theirs":1}' }), 1);
    const result = await idem.run('k', 'f', () => Promise.reject(new Error('must not run')));
    expect(result).toEqual({ json: '{"theirs":1}', replayed: true });
    expect(store.claims).toBe(4);
  });

  it('gives the claim back when the request fails, so a retry can claim the key again', async () => {
    const store = slowStore(new Map());
    const idem = new Idempotency(store, systemClock, 60_000);
    await expect(idem.run('k', 'f', () => Promise.reject(new HubError('storage_unavailable')))).rejects.toMatchObject({ code: 'storage_unavailable' });
    expect(store.released).toEqual(['k']);
    expect(await idem.run('k', 'f', async () => '{"n":2}')).toEqual({ json: '{"n":2}', replayed: false });
  });
});
