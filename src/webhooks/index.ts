import type { Clock, Random } from '../clock.js';
import type { Config } from '../config.js';
import type { CursorCodec } from '../domain/cursor.js';
import { deliveryJson } from '../domain/delivery.js';
import type { StoredEvent } from '../domain/envelope.js';
import { newId } from '../domain/ids.js';
import type { RetryPolicy } from '../domain/retry-policy.js';
import type { DeliveryJson } from '../domain/delivery.js';
import type { GroupCommit } from '../ingest/group-commit.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { PruneTask } from '../retention.js';
import type { Store } from '../store/index.js';
import { Dispatcher } from './dispatcher.js';
import { createWebhookMetrics } from './metrics.js';
import { HttpSender } from './sender.js';
import { SubscriptionIndex } from './subscription-index.js';
import { SubscriptionService } from './subscription-service.js';

export interface WebhooksDeps {
  config: Config;
  store: Store;
  codec: CursorCodec;
  groupCommit: GroupCommit;
  clock: Clock;
  random: Random;
  logger: Logger;
  metrics: Metrics;
}

/** What app.ts wires: the service the routes call, the event status view, retention, readiness, lifecycle. */
export interface Webhooks {
  readonly service: SubscriptionService;
  readonly dispatcher: Dispatcher;
  deliveriesOf(event: StoredEvent): DeliveryJson[];
  readonly pruneTasks: PruneTask[];
  /** A problem that makes the hub not ready, or null. */
  readonly readiness: () => string | null;
  start(): void;
  /** Stops claiming; attempts under way get `graceMs` to finish, then go back to the queue. */
  stop(graceMs: number): Promise<void>;
}

/** The hub's default policy, from the `webhooks.retry` configuration. */
function hubPolicy(config: Config): RetryPolicy {
  const r = config.webhooks.retry;
  return {
    initialDelayMs: r.initialDelayMs,
    factor: r.factor,
    maxDelayMs: r.maxDelayMs,
    maxAttempts: r.maxAttempts,
    maxAgeMs: r.maxAgeS * 1000,
    scheduleMs: null,
    timeoutMs: r.timeoutMs,
  };
}

/**
 * Webhook delivery: the outbox written inside each event commit, the dispatcher woken
 * after it, and the subscription and delivery APIs.
 */
export function createWebhooks({ config, store, codec, groupCommit, clock, random, logger, metrics }: WebhooksDeps): Webhooks {
  const log = logger.child({ module: 'webhooks' });
  const cfg = config.webhooks;
  const index = new SubscriptionIndex(hubPolicy(config));
  for (const sub of store.subscriptions.all()) index.set(sub);

  const sender = new HttpSender({
    allowPrivateUrls: config.allowPrivateUrls,
    connectionsPerOrigin: cfg.connectionsPerOrigin,
    responseBodyBytes: cfg.responseBodyBytes,
  });
  const webhookMetrics = createWebhookMetrics(metrics.registry, {
    counts: () => store.deliveries.counts(),
    subscriptionIds: () => index.all().map((e) => e.sub.id),
    inFlight: () => dispatcher.attemptsInFlight, // read at scrape time, after construction
  });
  const dispatcher = new Dispatcher({
    store,
    index,
    sender,
    codec,
    clock,
    random,
    logger: log,
    metrics: webhookMetrics,
    maxInFlight: cfg.maxInFlight,
    claimBatch: cfg.claimBatch,
    pauseRule: { windowMs: cfg.pauseWindowMs, minAttempts: cfg.pauseMinAttempts, failureRatio: cfg.pauseFailureRatio },
  });
  const service = new SubscriptionService({
    store,
    index,
    dispatcher,
    clock,
    random,
    logger: log,
    allowPrivateUrls: config.allowPrivateUrls,
    previousSecretTtlMs: cfg.previousSecretTtlMs,
  });

  // The outbox: inside the commit transaction, one delivery per matching subscription,
  // enabled or not (a disabled one holds its deliveries until enabled again).
  // `touched`: subscription → the newest event it got a delivery for, not yet known durable.
  const touched = new Map<string, number>();
  groupCommit.onWrite((events) => {
    const now = clock.now();
    for (const event of events) {
      for (const { sub } of index.match(event.channel, event.type)) {
        store.deliveries.insert(
          { id: newId('dlv', clock, random), subscriptionId: sub.id, eventId: event.id, eventSeq: event.seq },
          now,
        );
        touched.set(sub.id, event.seq);
      }
    }
  });
  // Once a commit is durable: wake the dispatcher for the subscriptions that got work. A
  // later commit may already have been written while this one synced (its deliveries are not
  // claimable yet): a subscription stays in `touched` until the events it got are all durable,
  // so that commit's own notification wakes it again. (A rolled-back commit only leaves a
  // harmless hint behind.)
  groupCommit.onCommitted((events) => {
    const durable = events.at(-1)?.seq ?? 0;
    for (const [id, seq] of touched) {
      dispatcher.dueNow(id);
      if (seq <= durable) touched.delete(id);
    }
  });

  const keep = config.retention;
  return {
    service,
    dispatcher,
    deliveriesOf: (event) => store.deliveries.ofEvent(event.seq).map(deliveryJson),
    pruneTasks: [
      {
        table: 'deliveries',
        pruneBatch: (now) => store.deliveries.pruneFinished(now - keep.deliveriesMs, keep.batchSize),
      },
      {
        // Deliveries of events retention already removed, held ones included: nothing
        // could be sent for them any more.
        table: 'deliveries',
        pruneBatch: () => store.deliveries.pruneOfEventsThrough(store.events.prunedThrough(), keep.batchSize),
      },
    ],
    readiness: () => dispatcher.problem(),
    start: () => dispatcher.start(),
    async stop(graceMs) {
      await dispatcher.stop(graceMs);
      await sender.close();
    },
  };
}
