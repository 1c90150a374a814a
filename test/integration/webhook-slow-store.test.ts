import { describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/index.js';
import { startHub } from '../helpers/hub.js';
import { eventIds, startReceiver } from '../helpers/receiver.js';
import { createSubscription, publish } from '../helpers/webhooks.js';

/**
 * The dispatcher with a store whose passes answer later (PostgreSQL: a round trip). A
 * commit heard while a claim is under way must not be hidden by the claim's answer, read
 * before that commit: found flaky on PostgreSQL, made certain here by delaying the answers.
 */
describe('webhooks over a store that answers later', () => {
  it('a delivery committed while a claim is under way is sent (the answer does not hide it)', async () => {
    const rx = await startReceiver();
    const hub = await startHub({ config: { allowPrivateUrls: true } });
    try {
      await createSubscription(hub, { url: rx.url, channels: ['slow'] });
      const store: Store = hub.app.store;
      const recordAndClaim = store.recordAndClaim.bind(store);
      // The answer is what the store read at call time, delivered 150 ms later.
      (store as { recordAndClaim: Store['recordAndClaim'] }).recordAndClaim = async (pass) => {
        const result = await recordAndClaim(pass);
        await new Promise((resolve) => setTimeout(resolve, 150));
        return result;
      };
      const first = await publish(hub, 'slow');
      // Committed while the pass claiming the first is waiting for its answer.
      const second = await publish(hub, 'slow');
      await rx.until((r) => r.length === 2, 3000);
      expect(new Set(eventIds(rx.received))).toEqual(new Set([first.id, second.id]));
    } finally {
      await hub.close();
      await rx.close();
    }
  });
});
