import type { NewEvent, StoredEvent } from '../domain/envelope.js';
import { shiftTemplate, type ResponseTemplate } from '../domain/response-template.js';
import { HubError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { NotDurableError, StaleSubscriptionsError, type AppendResult, type IdempotencyRow, type OutboxRow, type Store } from '../store/index.js';

/**
 * Plans the outbox rows of a commit before it is written, from its events in order (each
 * row names its event by index), and the version of the subscriptions it planned from; runs
 * once per commit, just before the append.
 */
export interface OutboxPlanner {
  plan(events: readonly NewEvent[], now: number): { rows: OutboxRow[]; subscriptionsVersion: number | undefined };
  /** The subscriptions changed under the plan (another hub): read them again before planning anew. */
  refresh(): Promise<void>;
}
/** Runs after the commit is durable, with every event it made durable, in log order, and its outbox rows. */
export type CommitListener = (events: readonly StoredEvent[], deliveries: readonly OutboxRow[]) => void;

export type Via = 'http' | 'ws' | 'cli';

/** An Idempotency-Key to save with a job's events; the response's event indexes are the job's own. */
export interface JobKey {
  key: string;
  fingerprint: string;
  response: ResponseTemplate;
}

interface Job {
  events: NewEvent[];
  via: Via;
  key: JobKey | undefined;
  resolve(stored: StoredEvent[]): void;
  reject(err: unknown): void;
}

export interface GroupCommitOptions {
  store: Store;
  metrics: Metrics;
  logger: Logger;
  maxPendingEvents: number;
  /** Epoch ms for the rows a commit makes. */
  now: () => number;
}

/**
 * Group commit: every publish that arrives while the event loop is busy joins the next
 * append (one transaction, built as data before the call: events, outbox rows, idempotency
 * keys). While the store has as many appends in flight as it can use
 * (`store.appendsInFlight`), the next commit is held back and everything that arrives
 * meanwhile joins it; appends in flight together may share one flush (the store's
 * business). Each caller's promise settles, and listeners hear of the events, only once the
 * commit that holds them is durable, in commit order.
 */
export class GroupCommit {
  private queue: Job[] = [];
  private pendingEvents = 0;
  private scheduled = false;
  /** Appends sent and not answered (a commit re-planned after StaleSubscriptionsError stays one). */
  private inFlight = 0;
  private closed = false;
  /** Commits written and not yet settled, oldest first: they settle in this order. */
  private unsettled: Commit[] = [];
  private idleWaiters: Array<() => void> = [];
  private planner: OutboxPlanner | undefined;
  private readonly listeners: CommitListener[] = [];

  constructor(private readonly opts: GroupCommitOptions) {}

  /** The outbox: one planner, asked for each commit's delivery rows before it is written. */
  planOutbox(planner: OutboxPlanner): void {
    this.planner = planner;
  }

  onCommitted(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /** Queues events for the next commit; resolves with them as stored, in order. */
  submit(events: NewEvent[], via: Via, key?: JobKey): Promise<StoredEvent[]> {
    if (this.closed) return Promise.reject(new HubError('shutting_down', { retryAfterS: 1 }));
    if (this.pendingEvents + events.length > this.opts.maxPendingEvents) {
      return Promise.reject(new HubError('overloaded', { retryAfterS: 1 }));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ events, via, key, resolve, reject });
      this.pendingEvents += events.length;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Commits everything queued, now, unless the store has all the appends in flight it can
   * use: then the queue goes out as one commit when the first of them is answered. Callers
   * hear back once the commit is on disk.
   */
  flush(): void {
    this.scheduled = false;
    if (this.inFlight >= this.opts.store.appendsInFlight) return;
    const jobs = this.queue;
    this.queue = [];
    this.pendingEvents = 0;
    if (jobs.length === 0) return;
    this.commit(jobs, true);
  }

  /** Flushes what is queued and refuses anything more; resolves once all of it is settled. */
  close(): Promise<void> {
    this.flush();
    this.closed = true;
    if (this.unsettled.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Writes the jobs in one append. When it fails without writing, and not for the storage's
   * sake, one job may be at fault: `split` commits each alone so the others still land.
   */
  private commit(jobs: Job[], split: boolean): void {
    const started = performance.now();
    const now = this.opts.now();
    // All jobs' events in one append (multi-row statements), split back per job after.
    const events = jobs.length === 1 ? jobs[0]!.events : jobs.flatMap((job) => job.events);
    const idempotencyKeys: IdempotencyRow[] = [];
    let at = 0;
    for (const job of jobs) {
      if (job.key) idempotencyKeys.push({ key: job.key.key, fingerprint: job.key.fingerprint, response: shiftTemplate(job.key.response, at) });
      at += job.events.length;
    }
    const commit: Commit = { jobs, events, deliveries: [], started, outcome: undefined };
    this.unsettled.push(commit);
    this.inFlight++;
    this.write(commit, idempotencyKeys, now, split);
  }

  /**
   * Appends a commit (again, in its place in the settling order, when the outbox was planned
   * from subscriptions another hub changed meanwhile).
   */
  private write(commit: Commit, idempotencyKeys: IdempotencyRow[], now: number, split: boolean): void {
    const { store } = this.opts;
    const { jobs, events } = commit;
    let appended: Promise<AppendResult>;
    try {
      const plan = this.planner?.plan(events, now);
      commit.deliveries = plan?.rows ?? [];
      appended = store.append({ events, deliveries: commit.deliveries, idempotencyKeys, now, subscriptionsVersion: plan?.subscriptionsVersion });
    } catch (err) {
      appended = Promise.reject(err as Error);
    }
    appended.then(
      ({ seqs }) => {
        const stored = events as StoredEvent[];
        for (let i = 0; i < stored.length; i++) stored[i]!.seq = seqs[i]!;
        commit.outcome = { ok: true };
        this.answered();
      },
      (err: unknown) => {
        if (err instanceof StaleSubscriptionsError && this.planner) {
          this.planner.refresh().then(
            () => this.write(commit, idempotencyKeys, now, split),
            (failure: unknown) => {
              commit.outcome = { ok: false, failure };
              this.answered();
            },
          );
          return;
        }
        if (err instanceof NotDurableError) {
          commit.outcome = { ok: false, failure: err.cause };
        } else {
          const failure = err;
          // Nothing was written: one job alone may be at fault.
          if (split && jobs.length > 1 && !(failure instanceof HubError)) {
            commit.outcome = { ok: false, failure: undefined };
            for (const job of jobs) this.commit([job], false);
          } else {
            commit.outcome = { ok: false, failure };
          }
        }
        this.answered();
      },
    );
  }

  /** An append was answered: what waited for room goes out (before anything settles, so close() sees it). */
  private answered(): void {
    this.inFlight--;
    if (this.queue.length > 0) this.flush();
    this.settleInOrder();
  }

  /** Settles the oldest commits whose outcome is known, so acknowledgements and notifications keep log order. */
  private settleInOrder(): void {
    while (this.unsettled.length > 0 && this.unsettled[0]!.outcome !== undefined) {
      const commit = this.unsettled.shift()!;
      const outcome = commit.outcome!;
      if (outcome.ok) this.settle(commit);
      else this.settleFailed(commit.jobs, outcome.failure);
    }
    if (this.unsettled.length === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private settle({ jobs, events, deliveries, started }: Commit): void {
    const { metrics, logger } = this.opts;
    const all = events as StoredEvent[];
    metrics.commitDuration.observe((performance.now() - started) / 1000);
    metrics.commitBatchSize.observe(all.length);
    if (jobs.length === 1) {
      metrics.eventsPublished.inc({ via: jobs[0]!.via }, all.length);
      jobs[0]!.resolve(all);
    } else {
      let at = 0;
      for (const job of jobs) {
        metrics.eventsPublished.inc({ via: job.via }, job.events.length);
        job.resolve(all.slice(at, (at += job.events.length)));
      }
    }
    for (const listener of this.listeners) {
      try {
        listener(all, deliveries);
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

interface Commit {
  jobs: Job[];
  /** The jobs' events, in order; `seq` is set on them once written. */
  events: NewEvent[];
  deliveries: OutboxRow[];
  started: number;
  /** Known once the append resolved; a split commit settles nothing itself (failure undefined). */
  outcome: { ok: true } | { ok: false; failure: unknown } | undefined;
}
