import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** The core metrics; webhooks and realtime register theirs on the same registry. */
export interface Metrics {
  readonly registry: Registry;
  readonly eventsPublished: Counter<'via'>;
  readonly commitBatchSize: Histogram;
  readonly commitDuration: Histogram;
  readonly commitFailures: Counter<'reason'>;
  readonly walSync: Histogram;
  readonly prunedRows: Counter<'table'>;
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
    prunedRows: new Counter({
      name: 'pushhub_retention_pruned_rows_total',
      help: 'Rows removed by retention, by table.',
      labelNames: ['table'],
      registers,
    }),
  };
}
