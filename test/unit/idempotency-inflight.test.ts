import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { HubError } from '../../src/errors.js';
import { Idempotency } from '../../src/ingest/idempotency.js';
import type { SavedResponse, Store } from '../../src/store/index.js';

/** A store whose key lookups take a while to answer, as a networked one's do. */
function slowStore(saved: Map<string, SavedResponse>): Store {
  const savedResponse = (key: string) => new Promise<SavedResponse | undefined>((resolve) => setTimeout(() => resolve(saved.get(key)), 5));
  return { savedResponse } as Partial<Store> as Store;
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
});
