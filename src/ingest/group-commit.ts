import type { NewEvent, StoredEvent } from '../domain/envelope.js';
import { HubError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/index.js';
import { storageError } from '../store/storage-errors.js';

/** Runs inside the commit's transaction, after the events are written (the outbox hooks in here). */
export type WriteHook = (events: readonly StoredEvent[]) => void;
/** Runs after the commit returned, with every event it made durable, in log order. */
export type CommitListener = (events: readonly StoredEvent[]) => void;

export type Via = 'http' | 'ws' | 'cli';

interface Job {
  events: NewEvent[];
  via: Via;
  /** Extra writes for this job in the same transaction (e.g. its Idempotency-Key). */
  alsoWrite: ((stored: StoredEvent[]) => void) | undefined;
  resolve(stored: StoredEvent[]): void;
  reject(err: unknown): void;
}

export interface GroupCommitOptions {
  store: Store;
  metrics: Metrics;
  logger: Logger;
  maxPendingEvents: number;
}

/**
 * Group commit: every publish that arrives while the event loop is busy joins the next
 * transaction, and every transaction committed while a WAL sync is under way shares the next
 * sync. Each caller's promise settles, and listeners hear of the events, only once the
 * commit that holds them is on disk.
 */
export class GroupCommit {
  private queue: Job[] = [];
  private pendingEvents = 0;
  private scheduled = false;
  private closed = false;
  private lastDurable: Promise<void> = Promise.resolve();
  private readonly writeHooks: WriteHook[] = [];
  private readonly listeners: CommitListener[] = [];

  constructor(private readonly opts: GroupCommitOptions) {}

  onWrite(hook: WriteHook): void {
    this.writeHooks.push(hook);
  }

  onCommitted(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /** Queues events for the next commit; resolves with them as stored, in order. */
  submit(events: NewEvent[], via: Via, alsoWrite?: (stored: StoredEvent[]) => void): Promise<StoredEvent[]> {
    if (this.closed) return Promise.reject(new HubError('shutting_down', { retryAfterS: 1 }));
    if (this.pendingEvents + events.length > this.opts.maxPendingEvents) {
      return Promise.reject(new HubError('overloaded', { retryAfterS: 1 }));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ events, via, alsoWrite, resolve, reject });
      this.pendingEvents += events.length;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits everything queued, now; callers hear back once the commit is on disk. */
  flush(): void {
    const jobs = this.queue;
    this.queue = [];
    this.pendingEvents = 0;
    this.scheduled = false;
    if (jobs.length === 0) return;
    const failure = this.commit(jobs);
    if (failure === undefined) return;
    if (jobs.length > 1 && !(failure instanceof HubError)) {
      // Not the storage: one job may be at fault. Commit each alone so the others still land.
      for (const job of jobs) this.settleFailed([job], this.commit([job]));
      return;
    }
    this.settleFailed(jobs, failure);
  }

  /** Flushes what is queued and refuses anything more; resolves once all of it is durable. */
  close(): Promise<void> {
    this.flush();
    this.closed = true;
    return this.lastDurable;
  }

  /** Commits the jobs in one transaction; returns the error when it did not commit. */
  private commit(jobs: Job[]): unknown {
    const { store } = this.opts;
    const started = performance.now();
    let written: { result: StoredEvent[][]; durable: Promise<void> };
    try {
      written = store.transactionThenSync(() => {
        // All jobs' events in one insert (multi-row statements), then split back per job.
        const all = store.events.insertMany(jobs.length === 1 ? jobs[0]!.events : jobs.flatMap((job) => job.events));
        for (const hook of this.writeHooks) hook(all);
        let at = 0;
        return jobs.map((job) => {
          const events = all.slice(at, (at += job.events.length));
          job.alsoWrite?.(events);
          return events;
        });
      });
    } catch (err) {
      return storageError(err);
    }
    const stored = written.result;
    // Syncs complete in commit order (one in flight at a time), so settling in these
    // callbacks keeps acknowledgements and notifications in log order.
    this.lastDurable = written.durable.then(
      () => this.settle(jobs, stored, started),
      (err: unknown) => this.settleFailed(jobs, storageError(err)),
    );
    return undefined;
  }

  private settle(jobs: Job[], stored: StoredEvent[][], started: number): void {
    const { store, metrics, logger } = this.opts;
    const all = stored.flat();
    if (all.length > 0) store.events.markDurable(all.at(-1)!.seq);
    metrics.commitDuration.observe((performance.now() - started) / 1000);
    metrics.commitBatchSize.observe(all.length);
    jobs.forEach((job, i) => {
      metrics.eventsPublished.inc({ via: job.via }, job.events.length);
      job.resolve(stored[i]!);
    });
    for (const listener of this.listeners) {
      try {
        listener(all);
      } catch (err) {
        logger.error({ err }, 'commit listener failed');
      }
    }
  }

  private settleFailed(jobs: Job[], failure: unknown): void {
    if (failure === undefined) return;
    const reason = failure instanceof HubError ? failure.code : 'error';
    this.opts.metrics.commitFailures.inc({ reason });
    if (!(failure instanceof HubError)) this.opts.logger.error({ err: failure }, 'group commit failed');
    for (const job of jobs) job.reject(failure);
  }
}
