import type { Clock, Random } from '../clock.js';
import type { Delivery } from '../domain/delivery.js';
import { newId } from '../domain/ids.js';
import { newSecret } from '../domain/signatures.js';
import type { Subscription, SubscriptionSettings } from '../domain/subscription.js';
import { HubError } from '../errors.js';
import { redactUrl, type Logger } from '../logger.js';
import type { Store } from '../store/index.js';
import type { Dispatcher } from './dispatcher.js';
import type { SubscriptionIndex } from './subscription-index.js';
import { assertPublicUrl, parseReceiverUrl } from './url-guard.js';

export interface SubscriptionServiceOptions {
  store: Store;
  index: SubscriptionIndex;
  dispatcher: Dispatcher;
  clock: Clock;
  random: Random;
  logger: Logger;
  allowPrivateUrls: boolean;
  previousSecretTtlMs: number;
  /** After every subscription write. */
  saved(): void;
}

/** Rows changed per transaction in bulk operations, so publishing never waits long behind them. */
const BULK_BATCH = 1000;

/** Runs `step` (one short transaction, resolves with rows changed) until a batch comes back short; yields between. */
async function inBatches(step: () => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await step();
    total += n;
    if (n < BULK_BATCH) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Subscription writes and delivery re-queues. Each write commits durably, then updates the
 * in-memory index as soon as it resolves, so the next event matched sees it.
 */
export class SubscriptionService {
  constructor(private readonly opts: SubscriptionServiceOptions) {}

  /** Read from the store, not the index: with several hubs, a change made through another one is seen at once. */
  async list(): Promise<Subscription[]> {
    return (await this.opts.store.subscriptions()).subscriptions;
  }

  async get(id: string): Promise<Subscription> {
    const sub = await this.opts.store.subscription(id);
    if (!sub) throw new HubError('not_found', { message: `No subscription ${id}.` });
    return sub;
  }

  /** Creates a subscription; its secret is in the result (and nowhere else, ever again). */
  async create(settings: SubscriptionSettings, enabled = true): Promise<Subscription> {
    await this.checkUrl(settings.url);
    const { clock, random, logger } = this.opts;
    const now = clock.now();
    const sub: Subscription = {
      ...settings,
      id: newId('sub', clock, random),
      secret: newSecret(random),
      previousSecret: null,
      previousSecretExpiresAt: null,
      enabled,
      disabledReason: enabled ? null : 'manual',
      createdAt: now,
      updatedAt: now,
    };
    await this.save(sub, false);
    logger.info({ subscriptionId: sub.id, url: redactUrl(sub.url) }, 'subscription created');
    return sub;
  }

  /** Changes any settings; `enabled: true` clears the disabled reason, `false` sets it to manual. */
  async update(id: string, patch: Partial<SubscriptionSettings>, enabled?: boolean): Promise<Subscription> {
    await this.get(id);
    if (patch.url !== undefined) await this.checkUrl(patch.url);
    // Read again after the DNS wait: the dispatcher may have paused it meanwhile.
    const current = await this.get(id);
    const updated: Subscription = { ...current, ...patch, updatedAt: this.opts.clock.now() };
    if (enabled === true) {
      updated.enabled = true;
      updated.disabledReason = null;
    } else if (enabled === false) {
      updated.enabled = false;
      updated.disabledReason = 'manual';
    }
    await this.save(updated, !current.enabled && updated.enabled);
    this.opts.logger.info({ subscriptionId: id, fields: Object.keys(patch), enabled }, 'subscription updated');
    return updated;
  }

  /**
   * Deletes a subscription. Its unfinished deliveries are cancelled first, in small
   * batches; only then the row goes. A crash half-way leaves the subscription in place,
   * with no 204 sent, so repeating the DELETE finishes the job.
   */
  async delete(id: string): Promise<void> {
    const sub = await this.get(id);
    const { store, index, dispatcher, clock, logger } = this.opts;
    index.remove(id); // no new deliveries, no new claims from here on
    try {
      const cancelled = await inBatches(() => store.cancelWaiting(id, clock.now(), BULK_BATCH));
      await store.deleteSubscription(id);
      dispatcher.forget(id);
      logger.info({ subscriptionId: id, cancelled }, 'subscription deleted');
    } catch (err) {
      index.set(sub);
      throw err;
    }
  }

  /** A new secret; the previous one keeps signing alongside for the configured time. */
  async rotateSecret(id: string): Promise<Subscription> {
    const current = await this.get(id);
    const now = this.opts.clock.now();
    const rotated: Subscription = {
      ...current,
      previousSecret: current.secret,
      previousSecretExpiresAt: now + this.opts.previousSecretTtlMs,
      secret: newSecret(this.opts.random),
      updatedAt: now,
    };
    await this.save(rotated, false);
    this.opts.logger.info({ subscriptionId: id }, 'subscription secret rotated');
    return rotated;
  }

  /** Re-queues every dead delivery of a subscription with a fresh retry budget; returns how many. */
  async redriveDead(id: string): Promise<number> {
    await this.get(id);
    const { store, dispatcher, clock, logger } = this.opts;
    const requeued = await inBatches(() => store.redriveDead(id, clock.now(), BULK_BATCH));
    dispatcher.dueNow(id);
    logger.info({ subscriptionId: id, requeued }, 'dead deliveries redriven');
    return requeued;
  }

  /** Re-queues one delivery now (a finished one with a fresh retry budget). */
  async retryDelivery(deliveryId: string): Promise<Delivery> {
    const { store, dispatcher, clock } = this.opts;
    const result = await store.requeueDelivery(deliveryId, clock.now());
    if (!result.ok) {
      if (result.reason === 'in_flight') throw new HubError('delivery_in_flight');
      if (result.reason === 'cancelled') throw new HubError('subscription_deleted');
      throw new HubError('not_found', { message: `No delivery ${deliveryId}.` });
    }
    dispatcher.dueNow(result.delivery.subscriptionId);
    return result.delivery;
  }

  private async save(sub: Subscription, reenabled: boolean): Promise<void> {
    const { store, index, dispatcher } = this.opts;
    await store.putSubscription(sub);
    index.set(sub);
    dispatcher.changed(sub, reenabled);
    this.opts.saved();
  }

  private async checkUrl(text: string): Promise<void> {
    const url = parseReceiverUrl(text);
    if (!this.opts.allowPrivateUrls) await assertPublicUrl(url);
  }
}
