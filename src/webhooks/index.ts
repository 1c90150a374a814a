import type { Clock, Random } from '../clock.js';
import type { Config } from '../config.js';
import type { CursorCodec } from '../domain/cursor.js';
import { deliveryJson, type DeliveryJson } from '../domain/delivery.js';
import type { StoredEvent } from '../domain/envelope.js';
import { newId } from '../domain/ids.js';
import type { RetryPolicy } from '../domain/retry-policy.js';
import type { GroupCommit } from '../ingest/group-commit.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { PruneTask } from '../retention.js';
import type { Store } from '../store/index.js';
import { Dispatcher } from './dispatcher.js';
import { createWebhookMetrics } from './metrics.js';
import { outboxRows, subscriptionsOf } from './outbox.js';
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
  deliveriesOf(event: StoredEvent): Promise<DeliveryJson[]>;
  readonly pruneTasks: PruneTask[];
  /** A problem that makes the hub not ready, or null. */
  readonly readiness: () => string | null;
  /** Loads the subscriptions into the in-memory index: before anything is published. */
  load(): Promise<void>;
  /** Resolves once the dispatcher runs. */
  start(): Promise<void>;
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

  const sender = new HttpSender({
    allowPrivateUrls: config.allowPrivateUrls,
    connectionsPerOrigin: cfg.connectionsPerOrigin,
    responseBodyBytes: cfg.responseBodyBytes,
  });
  const webhookMetrics = createWebhookMetrics(metrics.registry, {
    counts: () => store.deliveryCounts(),
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

  // The outbox: planned from the index before each commit, written in it. Once the commit is
  // durable, the subscriptions that got work are woken (its deliveries are claimable now).
  groupCommit.planOutbox((events) => outboxRows(events, index, () => newId('dlv', clock, random)));
  groupCommit.onCommitted((_events, deliveries) => {
    for (const id of subscriptionsOf(deliveries)) dispatcher.dueNow(id);
  });

  const keep = config.retention;
  return {
    service,
    dispatcher,
    deliveriesOf: async (event) => (await store.deliveriesOfEvent(event.seq)).map(deliveryJson),
    pruneTasks: [
      {
        table: 'deliveries',
        pruneBatch: (now) => store.pruneFinishedDeliveries(now - keep.deliveriesMs, keep.batchSize),
      },
      {
        // Deliveries of events retention already removed, held ones included: nothing
        // could be sent for them any more.
        table: 'deliveries',
        pruneBatch: () => store.pruneDeliveriesOfPrunedEvents(keep.batchSize),
      },
    ],
    readiness: () => dispatcher.problem(),
    async load() {
      for (const sub of await store.subscriptions()) index.set(sub);
    },
    start: () => dispatcher.start(),
    async stop(graceMs) {
      await dispatcher.stop(graceMs);
      await sender.close();
    },
  };
}
