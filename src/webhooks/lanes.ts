import type { Subscription } from '../domain/subscription.js';
import { FailureWindow, type PauseRule } from './failure-window.js';
import { TokenBucket } from './token-bucket.js';

/** What the dispatcher knows of one subscription between passes. */
export class Lane {
  inFlight = 0;
  /** Earliest time it may have due work (epoch ms); Infinity: none known. */
  nextDueAt: number;
  bucket: TokenBucket | undefined;
  private rate: number | null = null;
  failures: FailureWindow;

  constructor(
    private readonly rule: PauseRule,
    now: number,
  ) {
    this.nextDueAt = now;
    this.failures = new FailureWindow(rule);
  }

  /** Follows the subscription's rate limit, rebuilding the bucket when it changed. */
  follow(sub: Subscription, now: number): this {
    if (this.rate !== sub.rateLimitPerS) {
      this.rate = sub.rateLimitPerS;
      this.bucket = sub.rateLimitPerS === null ? undefined : new TokenBucket(sub.rateLimitPerS, now);
    }
    return this;
  }

  /** How many more it may claim now: `max_in_flight` (1 when ordered) and its rate limit allowing. */
  room(sub: Subscription, now: number): number {
    const slots = (sub.ordered ? 1 : sub.maxInFlight) - this.inFlight;
    if (slots <= 0 || !this.bucket) return slots;
    return Math.min(slots, this.bucket.available(now));
  }

  /** Marks `at` as a time it may have work due. */
  dueBy(at: number): void {
    this.nextDueAt = Math.min(this.nextDueAt, at);
  }

  /** A fresh failure record (re-enabled: the old failures no longer count). */
  forgive(): void {
    this.failures = new FailureWindow(this.rule);
  }
}

/** The lanes of all subscriptions, created on first use. */
export class Lanes {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly rule: PauseRule) {}

  of(sub: Subscription, now: number): Lane {
    let lane = this.lanes.get(sub.id);
    if (!lane) {
      lane = new Lane(this.rule, now);
      this.lanes.set(sub.id, lane);
    }
    return lane.follow(sub, now);
  }

  get(subscriptionId: string): Lane | undefined {
    return this.lanes.get(subscriptionId);
  }

  delete(subscriptionId: string): void {
    this.lanes.delete(subscriptionId);
  }

  /** Every lane may have work due at `now`. */
  allDueBy(now: number): void {
    for (const lane of this.lanes.values()) lane.dueBy(now);
  }
}
