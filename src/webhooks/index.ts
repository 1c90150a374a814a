import { coalesced } from '../coalesce.js';
import type { Clock, Random } from '../clock.js';
import type { Config } from '../config.js';
import type { CursorCodec } from '../domain/cursor.js';
import { deliveryJson, type DeliveryJson } from '../domain/delivery.js';
import type { StoredEvent } from '../domain/envelope.js';
import { newId } from '../domain/ids.js';
import type { RetryPolicy } from '../domain/retry-policy.js';
import type { GroupCommit } from '../ingest/group-commit.js';
import type { LogFollower } from '../ingest/log-follower.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { PruneTask } from '../retention.js';
import type { Store } from '../store/index.js';
import { Dispatcher } from './dispatcher.js';
import { LeaseKeeper } from './leases.js';
import { createWebhookMetrics } from './metrics.js';
import { outboxRows, subscriptionsOf } from './outbox.js';
import { HttpSender } from './sender.js';
import { SubscriptionIndex } from './subscription-index.js';
import { SubscriptionService } from './subscription-service.js';
import { TaskRunner } from './tasks.js';

export interface WebhooksDeps {
  config: Config;
  store: Store;
  codec: CursorCodec;
  groupCommit: GroupCommit;
  log: LogFollower;
  clock: Clock;
  random: Random;
  logger: Logger;
  metrics: Metrics;
}

/** What app.ts wires: the service the routes call, the event status view, retention, readiness, lifecycle. */
export interface Webhooks {
  readonly service: SubscriptionService;
  readonly dispatcher: Dispatcher;
  readonly leases: LeaseKeeper;
  deliveriesOf(event: StoredEvent): Promise<DeliveryJson[]>;
  readonly pruneTasks: PruneTask[];
  /** A problem that makes the hub not ready, or null. */
  readonly readiness: () => string | null;
  /** Loads the subscriptions into the in-memory index: before anything is published. */
  load(): Promise<void>;
  /** Takes the first leases and starts the dispatcher. */
  start(): Promise<void>;
  /** Stops claiming; attempts under way get `graceMs` to finish, then go back to the queue. */
  stop(graceMs: number): Promise<void>;
}

/** How often a hub looks for a task nobody runs (resumed after a restart, a dead hub's). */
const TASK_POLL_MS = 1000;

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
export function createWebhooks({ config, store, codec, groupCommit, log: follower, clock, random, logger, metrics }: WebhooksDeps): Webhooks {
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
  const leases = new LeaseKeeper({
    store,
    leaseMs: cfg.leaseMs,
    clock,
    logger: log,
    onChange: (gained, lost) => dispatcher.leasesChanged(gained, lost),
    holdsClaims: (id): boolean => dispatcher.holdsClaims(id),
  });
  const dispatcher = new Dispatcher({
    leases,
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
  const tasks = new TaskRunner({
    store,
    clock,
    logger: log,
    leaseMs: cfg.leaseMs,
    batchSize: cfg.replayBatch,
    pauseMs: cfg.replayPauseMs,
    pollMs: TASK_POLL_MS,
    madeDeliveries: (id) => dispatcher.dueNow(id),
  });
  const service = new SubscriptionService({
    store,
    index,
    dispatcher,
    tasks,
    codec,
    clock,
    random,
    logger: log,
    allowPrivateUrls: config.allowPrivateUrls,
    previousSecretTtlMs: cfg.previousSecretTtlMs,
    saved: () => leases.renewSoon(), // a new subscription is taken at once, not at the next renewal
  });

  /**
   * The index follows the store: every subscription read again, the changed ones put in
   * (another hub created, changed, paused or deleted them). One reload at a time; a change
   * heard during one makes one more.
   */
  let version = 0;
  const reload = coalesced(async () => {
    const set = await store.subscriptions();
    const seen = new Set<string>();
    for (const sub of set.subscriptions) {
      seen.add(sub.id);
      const old = index.get(sub.id)?.sub;
      if (old && old.updatedAt === sub.updatedAt && old.enabled === sub.enabled) continue;
      index.set(sub);
      dispatcher.changed(sub, old !== undefined && !old.enabled && sub.enabled);
    }
    for (const { sub } of [...index.all()]) {
      if (seen.has(sub.id)) continue;
      index.remove(sub.id);
      dispatcher.forget(sub.id);
    }
    version = set.version;
  });
  const changed = (): void => {
    reload().then(
      () => leases.renewSoon(), // a new subscription is taken by some hub at once
      (err: unknown) => log.warn({ err }, 'subscriptions not reloaded'),
    );
  };
  store.watch((change) => {
    if (change.kind === 'subscriptions') changed();
    else if (change.kind === 'leases') leases.renewSoon();
    else if (change.kind === 'due') dispatcher.dueNow(change.subscriptionId);
    else if (change.kind === 'resync') {
      changed();
      dispatcher.dueAll();
    }
  });

  // The outbox: planned from the index before each commit, written in it (refused when the
  // index is behind another hub's change: reloaded, planned again). Once a commit is durable,
  // the subscriptions that got work are woken: this hub's own from the rows it wrote, other
  // hubs' from the events, matched like the outbox matched them.
  groupCommit.planOutbox({
    plan: (events) => ({ rows: outboxRows(events, index, () => newId('dlv', clock, random)), subscriptionsVersion: version }),
    refresh: reload,
  });
  follower.onEvents((events, deliveries) => {
    if (deliveries) {
      for (const id of subscriptionsOf(deliveries)) dispatcher.dueNow(id);
      return;
    }
    const woken = new Set<string>();
    for (const e of events) for (const { sub } of index.match(e.channel, e.type)) woken.add(sub.id);
    for (const id of woken) if (leases.owns(id)) dispatcher.dueNow(id);
  });

  const keep = config.retention;
  return {
    service,
    dispatcher,
    leases,
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
    load: reload,
    async start() {
      await leases.start();
      dispatcher.start();
      tasks.start();
    },
    async stop(graceMs) {
      await tasks.stop();
      await dispatcher.stop(graceMs);
      await leases.stop(); // after the last outcomes are written: the next owner starts from them
      await sender.close();
    },
  };
}
