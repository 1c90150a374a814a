import { systemTimers, type Clock, type Timers } from '../clock.js';
import { HubError } from '../errors.js';
import type { Store } from '../store/index.js';

export interface IdempotentResult {
  /** The response body as JSON text: a replay returns the first response byte for byte. */
  json: string;
  replayed: boolean;
}

/**
 * Idempotency-Key: the first request with a key runs and its response is saved in the same
 * commit as its events; a later one with the same body gets that response again, with a
 * different body a 409. Requests racing on one key wait for the first, so a key never makes
 * two events. A request is in flight from before it looks its key up in the store, so a second
 * one arriving during that read waits for it too.
 */
export class Idempotency {
  private readonly inFlight = new Map<string, { fingerprint: string; done: Promise<IdempotentResult> }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly timers: Timers = systemTimers,
  ) {}

  /**
   * Runs `execute` once per key. `execute` commits the work with the key (and its response)
   * and resolves with the response (JSON text).
   */
  async run(key: string, fingerprint: string, execute: () => Promise<string>): Promise<IdempotentResult> {
    for (;;) {
      const running = this.inFlight.get(key);
      if (running) {
        if (running.fingerprint !== fingerprint) throw new HubError('idempotency_key_reused');
        try {
          return { json: (await running.done).json, replayed: true };
        } catch {
          continue; // the first attempt failed and saved nothing: try again ourselves
        }
      }
      const done = this.once(key, fingerprint, execute);
      this.inFlight.set(key, { fingerprint, done });
      try {
        return await done;
      } finally {
        this.inFlight.delete(key);
      }
    }
  }

  /**
   * Claims the key in the store first (with several hubs, another may be running the same
   * key: then this one waits for its response), runs `execute` under the claim, and gives
   * the claim back if nothing was committed.
   */
  private async once(key: string, fingerprint: string, execute: () => Promise<string>): Promise<IdempotentResult> {
    for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
      const now = this.clock.now();
      const claim = await this.store.claimKey(key, fingerprint, now - this.ttlMs, now);
      if (claim.state === 'saved') {
        if (claim.saved.fingerprint !== fingerprint) throw new HubError('idempotency_key_reused');
        return { json: claim.saved.response, replayed: true };
      }
      if (claim.state === 'claimed') {
        try {
          return { json: await execute(), replayed: false };
        } catch (err) {
          // A commit that may have landed keeps its key: the release only removes a bare claim.
          await this.store.releaseKey(key).catch(() => undefined);
          throw err;
        }
      }
      await new Promise((resolve) => this.timers.set(() => resolve(undefined), wait));
    }
  }
}
