/** An async job run one at a time, whose calls while it runs are folded into one more run. */
export interface Coalesced {
  /** Runs the job; resolves once a run that started after this call has finished. */
  (): Promise<void>;
  /** A run is under way. */
  readonly busy: boolean;
}

/**
 * Runs `job` one at a time: a call while it runs makes one more run after it (every call
 * meanwhile shares that one), so a change heard during a reload is always read by a reload
 * that started after it. A run that throws ends the loop and rejects its callers.
 */
export function coalesced(job: () => Promise<void>): Coalesced {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await job();
        } while (again);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  return Object.defineProperty(run, 'busy', { get: () => running !== undefined }) as Coalesced;
}
