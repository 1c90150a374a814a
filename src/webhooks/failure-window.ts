export interface PauseRule {
  windowMs: number;
  minAttempts: number;
  /** 0–1: the share of failed attempts that pauses. */
  failureRatio: number;
}

const BUCKETS = 60;

/**
 * Attempts and failures of one subscription over a sliding window, in 60 buckets (one
 * minute each for the default hour), so memory stays constant however busy it is. Kept in
 * memory only: after a restart the window starts empty, which can delay a pause, never
 * cause a wrong one.
 */
export class FailureWindow {
  private readonly attempts = new Array<number>(BUCKETS).fill(0);
  private readonly failures = new Array<number>(BUCKETS).fill(0);
  private readonly stamps = new Array<number>(BUCKETS).fill(-1);
  private readonly bucketMs: number;

  constructor(private readonly rule: PauseRule) {
    this.bucketMs = Math.max(1, Math.ceil(rule.windowMs / BUCKETS));
  }

  /** Counts an attempt; returns true when the subscription should now be paused. */
  add(failed: boolean, now: number): boolean {
    const slot = Math.floor(now / this.bucketMs);
    const i = slot % BUCKETS;
    if (this.stamps[i] !== slot) {
      this.stamps[i] = slot;
      this.attempts[i] = 0;
      this.failures[i] = 0;
    }
    this.attempts[i]!++;
    if (failed) this.failures[i]!++;
    return failed && this.shouldPause(slot);
  }

  private shouldPause(slot: number): boolean {
    let attempts = 0;
    let failures = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const stamp = this.stamps[i]!;
      if (stamp < 0 || slot - stamp >= BUCKETS) continue; // empty, or older than the window
      attempts += this.attempts[i]!;
      failures += this.failures[i]!;
    }
    return attempts >= this.rule.minAttempts && failures >= attempts * this.rule.failureRatio;
  }
}
