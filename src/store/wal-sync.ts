import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';

/**
 * Makes WAL commits durable with an explicit fdatasync of the WAL file instead of SQLite's
 * own fsync inside COMMIT (`synchronous=FULL`). The connection runs with
 * `synchronous=NORMAL` (commits write the WAL, checkpoints still sync), and this adds the
 * missing sync: blocking for ordinary transactions, or asynchronously on the libuv thread
 * pool for group commits, so the event loop parses the next requests while the disk flushes.
 * One sync is in flight at a time and covers every commit that returned before it began.
 */
export interface WalSync {
  /** Blocks until everything committed so far is on disk. */
  syncNow(): void;
  /** Resolves once everything committed before the call is on disk. */
  sync(): Promise<void>;
  close(): void;
}

/** For `synchronous=NORMAL` configurations: commits survive a process crash, not power loss. */
export const noWalSync: WalSync = {
  syncNow: () => undefined,
  sync: () => Promise.resolve(),
  close: () => undefined,
};

/** `onSync` hears how long each asynchronous sync took (seconds), for the metrics. */
export function walSync(walPath: string, onSync: (seconds: number) => void = () => undefined): WalSync {
  const fd = openSync(walPath, 'r');
  let inFlight = false;
  let waiting: Array<{ resolve(): void; reject(err: unknown): void }> = [];

  // One sync at a time: measured here, concurrent fdatasyncs under load each took longer
  // and lowered throughput; commits that arrive meanwhile share the next sync.
  const start = (): void => {
    const batch = waiting;
    waiting = [];
    inFlight = true;
    const started = performance.now();
    fdatasync(fd, (err) => {
      inFlight = false;
      onSync((performance.now() - started) / 1000);
      for (const w of batch) {
        if (err) w.reject(err);
        else w.resolve();
      }
      if (waiting.length > 0) start();
    });
  };

  return {
    syncNow: () => fdatasyncSync(fd),
    sync: () =>
      new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        if (!inFlight) start();
      }),
    close: () => closeSync(fd),
  };
}
