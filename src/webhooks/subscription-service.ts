import type { Clock, Random } from '../clock.js';
import { checkResume, type CursorCodec } from '../domain/cursor.js';
import type { Delivery } from '../domain/delivery.js';
import { newId } from '../domain/ids.js';
import { HUB_CHANNELS, TEST_EVENT_TYPE } from '../domain/operational.js';
import type { Task } from '../domain/task.js';
import { newSecret } from '../domain/signatures.js';
import type { Subscription, SubscriptionSettings } from '../domain/subscription.js';
import { HubError } from '../errors.js';
import { redactUrl, type Logger } from '../logger.js';
import type { Store, TimeWindow } from '../store/index.js';
import type { Dispatcher } from './dispatcher.js';
import type { SubscriptionIndex } from './subscription-index.js';
import type { TaskRunner } from './tasks.js';
import { assertPublicUrl, parseReceiverUrl } from './url-guard.js';

export interface SubscriptionServiceOptions {
  store: Store;
  index: SubscriptionIndex;
  dispatcher: Dispatcher;
  tasks: TaskRunner;
  codec: CursorCodec;
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
      await store.deleteSubscription(id, clock.now());
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

  /** Re-queues every dead delivery of a subscription (made within `window`) with a fresh retry budget; returns how many. */
  async redriveDead(id: string, window: TimeWindow = {}): Promise<number> {
    await this.get(id);
    const { store, dispatcher, clock, logger } = this.opts;
    const requeued = await inBatches(() => store.redriveDead(id, clock.now(), BULK_BATCH, window));
    dispatcher.dueNow(id);
    logger.info({ subscriptionId: id, requeued, ...window }, 'dead deliveries redriven');
    return requeued;
  }

  /**
   * Starts a replay: a background task creating, oldest first, a delivery for every retained
   * event after `from` (a cursor, or the first event received at or after `since`), up to the
   * head of the log now, received before `until`, that matches the subscription and that it
   * has no delivery of yet.
   */
  async replay(id: string, from: { after: string } | { since: number }, until: number | null): Promise<Task> {
    await this.get(id);
    const { store, clock, random, logger, codec } = this.opts;
    const log = await store.position();
    let fromSeq: number;
    if ('after' in from) {
      const check = checkResume(from.after, codec, log);
      if (!check.ok) {
        if (check.reason === 'malformed') throw new HubError('invalid_request', { details: [{ field: 'after', message: 'is not a cursor of this hub' }] });
        throw new HubError('cursor_expired', { details: { reason: check.reason } });
      }
      fromSeq = check.seq;
    } else {
      fromSeq = await this.positionBefore(from.since, log);
    }
    const now = clock.now();
    const task = {
      id: newId('task', clock, random),
      kind: 'replay' as const,
      subscriptionId: id,
      fromSeq,
      toSeq: log.head,
      since: 'since' in from ? from.since : null,
      until,
      createdAt: now,
    };
    await store.createTask(task);
    this.opts.tasks.wake();
    logger.info({ taskId: task.id, subscriptionId: id, fromSeq, toSeq: log.head }, 'replay started');
    return { ...task, state: 'running', position: fromSeq, created: 0, error: null, updatedAt: now };
  }

  /**
   * The position before the first event received at or after `time`: a binary search over the
   * log (receive times grow with positions, give or take the clocks of several hubs, which the
   * replay's own filter on `since` makes exact).
   */
  private async positionBefore(time: number, log: { head: number; prunedThrough: number }): Promise<number> {
    let lo = log.prunedThrough; // every event after lo... is at or after `time`? unknown yet
    let hi = log.head;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const [event] = (await this.opts.store.readLog(mid, 1)).events;
      if (!event || event.receivedAt >= time) hi = mid;
      else lo = event.seq;
    }
    return lo;
  }

  /** A test event on `$hub.test`, delivered to this subscription only, whatever its patterns. */
  async sendTest(id: string, type: string | undefined, data: unknown): Promise<{ eventId: string; deliveryId: string }> {
    await this.get(id);
    const { store, dispatcher, clock } = this.opts;
    const written = await store.appendOperational(
      [{ channel: HUB_CHANNELS.test, type: type ?? TEST_EVENT_TYPE, data: data === undefined ? { subscription_id: id } : data, to: id }],
      clock.now(),
    );
    dispatcher.dueNow(id);
    return { eventId: written.events[0]!.id, deliveryId: written.deliveries[0]!.id };
  }

  /** A task by id. */
  async task(id: string): Promise<Task> {
    const task = await this.opts.store.task(id);
    if (!task) throw new HubError('not_found', { message: `No task ${id}.` });
    return task;
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
