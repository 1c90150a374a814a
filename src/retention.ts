import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** One table's pruning: removes at most one small batch of expired rows, returns how many. */
export interface PruneTask {
  table: string;
  pruneBatch(now: number): Promise<number>;
}

export interface RetentionOptions {
  tasks: PruneTask[];
  batchSize: number;
  intervalMs: number;
  /** Whether this hub runs retention now (several hubs share a database: one at a time does). */
  mayRun: () => Promise<boolean>;
  now: () => number;
  logger: Logger;
  metrics: Metrics;
}

/**
 * Prunes expired rows on a timer, one short transaction at a time, yielding to the event loop
 * between batches so publishing never waits behind a large delete.
 */
export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly opts: RetentionOptions) {}

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => void this.runOnce(), this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass over every table until nothing expired is left (or the hub stops). */
  runOnce(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    const { tasks, batchSize, now, logger, metrics } = this.opts;
    if (!(await this.opts.mayRun())) return;
    for (const task of tasks) {
      try {
        for (;;) {
          if (this.stopped) return;
          const removed = await task.pruneBatch(now());
          if (removed > 0) metrics.prunedRows.inc({ table: task.table }, removed);
          if (removed < batchSize) break;
          await new Promise((resolve) => setImmediate(resolve));
        }
      } catch (err) {
        logger.warn({ err, table: task.table }, 'retention pass failed; retrying next interval');
      }
    }
  }
}
