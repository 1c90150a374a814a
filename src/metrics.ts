import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The core metrics; webhooks and realtime register theirs on the same registry. */
export interface Metrics {
  readonly registry: Registry;
  readonly eventsPublished: Counter<'via'>;
  readonly commitBatchSize: Histogram;
  readonly commitDuration: Histogram;
  readonly commitFailures: Counter<'reason'>;
  readonly walSync: Histogram;
  readonly prunedRows: Counter<'table'>;
  readonly authOutcomes: Counter<'outcome'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  // Includes nodejs_eventloop_lag_seconds and the process's memory and CPU.
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    eventsPublished: new Counter({
      name: 'pushhub_events_published_total',
      help: 'Events durably committed, by how they arrived.',
      labelNames: ['via'],
      registers,
    }),
    commitBatchSize: new Histogram({
      name: 'pushhub_commit_batch_events',
      help: 'Events written per group commit.',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
      registers,
    }),
    commitDuration: new Histogram({
      name: 'pushhub_commit_duration_seconds',
      help: 'Time of one group commit transaction, fsync included.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers,
    }),
    walSync: new Histogram({
      name: 'pushhub_wal_sync_seconds',
      help: 'Time of one fdatasync of the WAL (synchronous=FULL): the disk\'s share of publish latency.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers,
    }),
    commitFailures: new Counter({
      name: 'pushhub_commit_failures_total',
      help: 'Group commits that failed, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    authOutcomes: new Counter({
      name: 'pushhub_auth_total',
      help: 'Credentials judged, by outcome: allowed, forbidden (valid but without the scope or grant), unauthorized (missing, unknown, revoked, expired, malformed).',
      labelNames: ['outcome'],
      registers,
    }),
    prunedRows: new Counter({
      name: 'pushhub_retention_pruned_rows_total',
      help: 'Rows removed by retention, by table.',
      labelNames: ['table'],
      registers,
    }),
  };
}

/** How this hub stands among the hubs sharing its database (one, on SQLite). */
export interface ClusterState {
  /** Hubs seen alive within a lease, this one included. */
  hubs: number;
  /** Subscriptions whose webhook work this hub owns. */
  leases: number;
  /** Whether other hubs' commits are heard live; null: no other hub can write. */
  listening: boolean | null;
  /** Committed positions this hub has not yet fanned out (the head minus its tail). */
  lag: number;
}

/** The cluster gauges, read at scrape time. */
export function registerClusterGauges(registry: Registry, state: () => ClusterState): void {
  const registers = [registry];
  const gauge = (name: string, help: string, read: (s: ClusterState) => number | undefined): void =>
    void new Gauge({
      name,
      help,
      registers,
      collect() {
        const value = read(state());
        if (value !== undefined) this.set(value);
      },
    });
  gauge('pushhub_hubs_alive', 'Hubs seen alive on this database within a lease, this one included.', (s) => s.hubs);
  gauge('pushhub_webhook_leases_held', 'Subscriptions whose webhook work this hub owns.', (s) => s.leases);
  gauge('pushhub_db_listener_connected', '1 when other hubs\' commits are heard live (PostgreSQL LISTEN), 0 while reconnecting.', (s) =>
    s.listening === null ? undefined : Number(s.listening),
  );
  gauge('pushhub_log_lag_events', 'Committed positions this hub has not fanned out yet (head minus its tail).', (s) => s.lag);
}
