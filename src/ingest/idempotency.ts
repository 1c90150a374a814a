import type { Clock } from '../clock.js';
import { HubError } from '../errors.js';
import type { Store } from '../store/index.js';

export interface IdempotentResult {
  /** The response body as JSON text: a replay returns the first response byte for byte. */
  json: string;
  replayed: boolean;
}

/**
 * Idempotency-Key: the first request with a key runs and its response is saved in the same
 * transaction as its events; a later one with the same body gets that response again, with a
 * different body a 409. Requests racing on one key wait for the first, so a key never makes
 * two events.
 */
export class Idempotency {
  private readonly inFlight = new Map<string, { fingerprint: string; done: Promise<string> }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  /**
   * Runs `execute` once per key. `execute` receives `save`, to be called inside the
   * transaction that commits the work, with the response (JSON text) to remember.
   */
  async run(
    key: string,
    fingerprint: string,
    execute: (save: (json: string) => void) => Promise<string>,
  ): Promise<IdempotentResult> {
    for (;;) {
      const running = this.inFlight.get(key);
      if (running) {
        if (running.fingerprint !== fingerprint) throw new HubError('idempotency_key_reused');
        try {
          return { json: await running.done, replayed: true };
        } catch {
          continue; // the first attempt failed and saved nothing: try again ourselves
        }
      }
      const saved = this.store.idempotency.get(key, this.clock.now() - this.ttlMs);
      if (saved) {
        if (saved.fingerprint !== fingerprint) throw new HubError('idempotency_key_reused');
        return { json: saved.response, replayed: true };
      }
      const save = (json: string): void =>
        this.store.idempotency.put(key, { fingerprint, response: json }, this.clock.now());
      const done = execute(save);
      this.inFlight.set(key, { fingerprint, done });
      try {
        return { json: await done, replayed: false };
      } finally {
        this.inFlight.delete(key);
      }
    }
  }
}
