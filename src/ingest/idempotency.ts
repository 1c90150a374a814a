import type { Clock } from '../clock.js';
import { HubError } from '../errors.js';
import type { Store } from '../store/index.js';

export interface IdempotentResult<T> {
  body: T;
  replayed: boolean;
}

/**
 * Idempotency-Key: the first request with a key runs and its response is saved in the same
 * transaction as its events; a later one with the same body gets that response again, with a
 * different body a 409. Requests racing on one key wait for the first, so a key never makes
 * two events.
 */
export class Idempotency {
  private readonly inFlight = new Map<string, { fingerprint: string; done: Promise<unknown> }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  /**
   * Runs `execute` once per key. `execute` receives `save`, to be called inside the
   * transaction that commits the work, with the response body to remember.
   */
  async run<T>(
    key: string,
    fingerprint: string,
    execute: (save: (body: T) => void) => Promise<T>,
  ): Promise<IdempotentResult<T>> {
    for (;;) {
      const running = this.inFlight.get(key);
      if (running) {
        if (running.fingerprint !== fingerprint) throw new HubError('idempotency_key_reused');
        try {
          return { body: (await running.done) as T, replayed: true };
        } catch {
          continue; // the first attempt failed and saved nothing: try again ourselves
        }
      }
      const saved = this.store.idempotency.get(key, this.clock.now() - this.ttlMs);
      if (saved) {
        if (saved.fingerprint !== fingerprint) throw new HubError('idempotency_key_reused');
        return { body: JSON.parse(saved.response) as T, replayed: true };
      }
      const save = (body: T): void =>
        this.store.idempotency.put(key, { fingerprint, response: JSON.stringify(body) }, this.clock.now());
      const done = execute(save);
      this.inFlight.set(key, { fingerprint, done });
      try {
        return { body: await done, replayed: false };
      } finally {
        this.inFlight.delete(key);
      }
    }
  }
}
