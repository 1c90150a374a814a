import type { FastifyInstance } from 'fastify';
import { systemClock, systemRandom, type Clock, type Random } from './clock.js';
import { describeDb, isPostgresUrl, type Config } from './config.js';
import { cursorCodec, type CursorCodec } from './domain/cursor.js';
import { originCheck } from './domain/origins.js';
import { KeyRing } from './auth/key-ring.js';
import { createAuthenticator } from './auth/principal.js';
import { guardServerRoutes } from './auth/request.js';
import { channelRoutes } from './http/channels.js';
import type { HttpContext } from './http/context.js';
import { subscriberSurface } from './http/cors.js';
import { dashboardRoutes } from './http/dashboard.js';
import { deliveryRoutes } from './http/deliveries.js';
import { eventRoutes } from './http/events.js';
import { keyRoutes } from './http/keys.js';
import { opsRoutes } from './http/ops.js';
import { referenceRoutes, routeCatalogue, type RouteCatalogue } from './http/reference.js';
import { subscriptionRoutes } from './http/subscriptions.js';
import { tokenRoutes } from './http/tokens.js';
import { createServer } from './http/server.js';
import { GroupCommit } from './ingest/group-commit.js';
import { Idempotency } from './ingest/idempotency.js';
import { LogFollower } from './ingest/log-follower.js';
import { Publisher } from './ingest/publisher.js';
import type { Logger } from './logger.js';
import { createMetrics, registerClusterGauges, type ClusterState, type Metrics } from './metrics.js';
import { Retention } from './retention.js';
import { createRealtime, type Realtime } from './realtime/index.js';
import { wsUpgradeDoc } from './realtime/ws-server.js';
import { openStore, type Store } from './store/index.js';
import { openPostgresStore } from './store/postgres/index.js';
import { createTokenService } from './auth/tokens.js';
import { createWebhooks, type Webhooks } from './webhooks/index.js';

export interface AppOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  random?: Random;
}

export interface App {
  readonly server: FastifyInstance;
  readonly store: Store;
  readonly codec: CursorCodec;
  readonly publisher: Publisher;
  readonly groupCommit: GroupCommit;
  /** The log in order, whichever hub wrote it: what the live fan-out and the webhooks hear. */
  readonly log: LogFollower;
  readonly retention: Retention;
  readonly metrics: Metrics;
  readonly realtime: Realtime;
  readonly webhooks: Webhooks;
  /** Every HTTP route with its documentation, as /openapi.json shows it. */
  readonly routes: RouteCatalogue;
  /** Starts listening and the background workers; resolves with the base URL. */
  listen(): Promise<string>;
  /** Graceful stop: refuse new work, finish or release what is under way, close the database. */
  close(): Promise<void>;
}

/**
 * Opens the store `config.db` names: a SQLite file, or a PostgreSQL database (connected,
 * migrated and its epoch read before this resolves).
 */
async function openConfiguredStore(config: Config, logger: Logger, metrics: Metrics, random: Random): Promise<Store> {
  if (isPostgresUrl(config.db)) {
    return openPostgresStore({ url: config.db, ...config.postgres, random, logger: logger.child({ module: 'store' }) });
  }
  return openStore({
    path: config.db,
    synchronous: config.synchronous,
    busyTimeoutMs: config.busyTimeoutMs,
    onWalSync: (seconds) => metrics.walSync.observe(seconds),
    onPermissionsTightened: (files) => logger.info({ files }, 'database files were readable by other users: set to mode 0600'),
    random,
  });
}

/**
 * Opens the store, then wires the parts together; nothing else happens here. Async because
 * opening a PostgreSQL store is (the cursor codec needs the epoch it reads).
 */
export async function buildApp({ config, logger, clock = systemClock, random = systemRandom }: AppOptions): Promise<App> {
  const metrics = createMetrics();
  const store = await openConfiguredStore(config, logger, metrics, random);
  const codec = cursorCodec(store.epoch);
  const groupCommit = new GroupCommit({ store, metrics, logger, maxPendingEvents: config.maxPendingEvents, now: () => clock.now() });
  const idempotency = new Idempotency(store, clock, config.retention.idempotencyMs);
  const publisher = new Publisher({ groupCommit, idempotency, codec, clock, random });
  const tokens = createTokenService(config.tokenSecret, clock);
  const keys = new KeyRing({ store, clock, random, logger: logger.child({ module: 'keys' }), flushMs: config.keyUsageFlushMs });
  const auth = createAuthenticator({
    rootKey: config.apiKey,
    keys,
    verifyToken: tokens.verify,
    clock,
    onOutcome: (outcome) => metrics.authOutcomes.inc({ outcome }),
  });
  const realtime = createRealtime({
    config: config.realtime,
    originAllowed: originCheck(config.corsOrigins),
    store,
    codec,
    publisher,
    auth,
    metrics,
    logger,
    clock,
  });
  keys.onReload((has) => realtime.dropRevoked(has));
  const log = new LogFollower({ store, logger, pageSize: config.realtime.replayPageSize, retryMs: 500 }, (await store.position()).head);
  groupCommit.onCommitted((events, deliveries) => log.committed(events, deliveries));
  store.watch((change) => {
    if (change.kind === 'head') log.headAt(change.head);
    else if (change.kind === 'resync') log.resync();
  });
  log.onEvents((events) => realtime.onCommitted(events));
  const webhooks = createWebhooks({ config, store, codec, groupCommit, log, clock, random, logger, metrics });
  const cluster = (): ClusterState => ({
    hubs: webhooks.leases.hubs,
    leases: webhooks.leases.count,
    listening: store.health().listening,
    lag: log.lag,
  });
  registerClusterGauges(metrics.registry, cluster);
  const { retention: keep } = config;
  const retention = new Retention({
    tasks: [
      { table: 'events', pruneBatch: (now) => store.pruneEvents(now - keep.eventsMs, keep.batchSize) },
      { table: 'idempotency_keys', pruneBatch: (now) => store.pruneIdempotencyKeys(now - keep.idempotencyMs, keep.batchSize) },
      ...webhooks.pruneTasks,
    ],
    batchSize: keep.batchSize,
    intervalMs: keep.intervalMs,
    mayRun: () => store.retentionTurn(), // one hub at a time
    now: () => clock.now(),
    logger,
    metrics,
  });

  let closing = false;
  const server = createServer({ logger, bodyLimitBytes: config.bodyLimitBytes, random, isClosing: () => closing });
  const routes = routeCatalogue(server);
  guardServerRoutes(server, auth); // before the routes: it judges each by the scope its doc names
  const ctx: HttpContext = {
    config,
    store,
    codec,
    publisher,
    auth,
    metrics,
    deliveriesOf: webhooks.deliveriesOf,
    readiness: new Map([['webhooks', webhooks.readiness]]),
    cluster,
    presence: realtime.presence,
  };
  eventRoutes(server, ctx);
  opsRoutes(server, ctx);
  tokenRoutes(server, ctx, tokens);
  keyRoutes(server, keys);
  // The routes browsers on other origins may use (polling, SSE): only they answer CORS.
  subscriberSurface(server, config.corsOrigins, (scope) => {
    channelRoutes(scope, ctx);
    realtime.attach(scope);
  });
  ctx.readiness.set('realtime', () => realtime.readiness());
  subscriptionRoutes(server, { service: webhooks.service, clock });
  deliveryRoutes(server, ctx, { service: webhooks.service, clock });
  dashboardRoutes(server);
  referenceRoutes(server, routes, [wsUpgradeDoc]); // last: the documents describe every route registered before

  let closed: Promise<void> | undefined;
  return {
    server,
    store,
    codec,
    publisher,
    groupCommit,
    log,
    retention,
    metrics,
    realtime,
    webhooks,
    routes,
    async listen() {
      await webhooks.load(); // the outbox matches from the index: loaded before any publish
      await keys.start();
      const address = await server.listen({ host: config.host, port: config.port });
      retention.start();
      realtime.start();
      await webhooks.start();
      logger.info({ address, db: describeDb(config.db), ...(isPostgresUrl(config.db) ? {} : { synchronous: config.synchronous }) }, 'pushhub listening');
      return address;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        await realtime.close(); // WebSockets get 1001 and SSE streams end: the server waits for them
        // Waits for in-flight requests (their commits still run); past the grace period,
        // connections are cut: nothing unacknowledged is lost, the client retries.
        const force = setTimeout(() => server.server.closeAllConnections(), config.shutdownGraceMs);
        await server.close();
        clearTimeout(force);
        await groupCommit.close();
        log.close();
        await webhooks.stop(config.shutdownGraceMs); // finish or re-queue what is under way
        await retention.stop();
        await keys.close();
        await store.close();
        logger.info('pushhub stopped');
      })();
      return closed;
    },
  };
}
