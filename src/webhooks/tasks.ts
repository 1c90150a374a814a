import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/index.js';

export interface TaskRunnerOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** A task's claim lasts this long past each batch: a dead hub's task is taken over after it. */
  leaseMs: number;
  /** Log positions per batch (one short transaction each). */
  batchSize: number;
  /** Pause between batches, so publishing never waits long behind a replay. */
  pauseMs: number;
  /** How often to look for a task no hub runs (a restart, a dead hub's task). */
  pollMs: number;
  /** A batch made deliveries for this subscription. */
  madeDeliveries(subscriptionId: string): void;
}

/**
 * Runs the durable background tasks (replays), one at a time per hub, each held by one hub
 * (its claim in the store, renewed by every batch). A task resumes where its last batch left
 * it: after a restart, or on another hub once the claim of a dead one lapsed.
 */
export class TaskRunner {
  private running = false;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(private readonly opts: TaskRunnerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** A task was created: look now rather than at the next poll. */
  wake(): void {
    this.wakeUp?.();
  }

  /** Stops after the batch under way; the task stays claimed until its lease lapses (another hub, or this one restarted, goes on). */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { store, clock, logger, leaseMs, batchSize, pauseMs } = this.opts;
    while (this.running) {
      try {
        const task = await store.claimTask(clock.now(), leaseMs);
        if (!task) {
          await this.sleep(this.opts.pollMs);
          continue;
        }
        logger.info({ taskId: task.id, kind: task.kind, subscriptionId: task.subscriptionId }, 'task started');
        while (this.running) {
          const batch = await store.replayBatch(task.id, clock.now(), leaseMs, batchSize);
          if (!batch) break; // another hub holds it now
          if (batch.created > 0) this.opts.madeDeliveries(task.subscriptionId);
          if (batch.task.state !== 'running') {
            logger.info({ taskId: task.id, state: batch.task.state, created: batch.task.created, error: batch.task.error }, 'task finished');
            break;
          }
          await this.sleep(pauseMs);
        }
      } catch (err) {
        logger.warn({ err }, 'task batch failed; retrying');
        await this.sleep(this.opts.pollMs);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = () => {
        clearTimeout(this.timer);
        this.wakeUp = undefined;
        resolve();
      };
      this.timer = setTimeout(this.wakeUp, ms);
      this.timer.unref();
    });
  }
}
