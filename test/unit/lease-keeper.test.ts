import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { createLogger } from '../../src/logger.js';
import type { LeaseGrant, Store } from '../../src/store/index.js';
import { LeaseKeeper } from '../../src/webhooks/leases.js';

/** A store whose renewals answer what the test says, recording what is given up. */
function fakeStore() {
  const state = { held: ['sub_a', 'sub_b', 'sub_c', 'sub_d'], share: 4, released: [] as string[][] };
  const store = {
    renewLeases: (): Promise<LeaseGrant> =>
      Promise.resolve({ leases: state.held.map((id) => ({ subscriptionId: id, epoch: 1 })), hubs: 2, share: state.share, requeued: 0 }),
    releaseLeases: (ids?: readonly string[]) => {
      state.released.push([...(ids ?? state.held)]);
      state.held = state.held.filter((id) => !(ids ?? state.held).includes(id));
      return Promise.resolve();
    },
  } as unknown as Store;
  return { store, state };
}

function keeper(store: Store, claimed: Set<string>) {
  const changes: Array<{ gained: string[]; lost: string[] }> = [];
  const k = new LeaseKeeper({
    store,
    leaseMs: 60_000,
    clock: systemClock,
    logger: createLogger('silent'),
    onChange: (gained, lost) => changes.push({ gained: [...gained], lost: [...lost] }),
    holdsClaims: (id) => claimed.has(id),
  });
  // Renewals by hand: the test drives them.
  const renew = () => (k as unknown as { renewOnce(): Promise<void> }).renewOnce();
  return { k, changes, renew };
}

describe('lease keeper: handing over what is beyond the share', () => {
  it('stops taking work for the excess at once, and gives each lease up only once nothing of it is claimed here', async () => {
    const { store, state } = fakeStore();
    const claimed = new Set(['sub_a', 'sub_c']);
    const { k, changes, renew } = keeper(store, claimed);
    await renew();
    expect(k.count).toBe(4);
    state.share = 2; // another hub joined
    await renew();
    // Those with nothing claimed go first, and at once; nothing under way is cut.
    expect(changes.at(-1)).toEqual({ gained: [], lost: ['sub_b', 'sub_d'] });
    expect(state.released).toEqual([['sub_b', 'sub_d']]);
    expect(k.count).toBe(2);
    expect(k.owns('sub_a') && k.owns('sub_c')).toBe(true);

    state.share = 1; // a third hub
    await renew();
    const handing = changes.at(-1)!.lost[0]!;
    expect(k.owns(handing)).toBe(false); // no new work for it here…
    expect(k.epochOf(handing)).toBe(1); // …while what is under way is still fenced by its lease
    expect(state.released).toHaveLength(1); // not given up while its claims are out
    claimed.delete(handing);
    await renew();
    expect(state.released.at(-1)).toEqual([handing]);
    expect(k.count).toBe(1);
  });

  it('keeps a lease it was handing over when the share grows again (a hub left)', async () => {
    const { store, state } = fakeStore();
    const claimed = new Set(['sub_a', 'sub_b', 'sub_c', 'sub_d']);
    const { k, changes, renew } = keeper(store, claimed);
    await renew();
    state.share = 3;
    await renew();
    const handing = changes.at(-1)!.lost;
    expect(handing).toHaveLength(1);
    expect(k.owns(handing[0]!)).toBe(false);
    state.share = 4;
    await renew();
    expect(changes.at(-1)).toEqual({ gained: handing, lost: [] });
    expect(k.owns(handing[0]!)).toBe(true);
    expect(state.released).toEqual([]);
  });
});
