import type { ClaimedDelivery } from '../domain/delivery.js';
import type { Subscription } from '../domain/subscription.js';
import { FailureWindow, type PauseRule } from './failure-window.js';
import { TokenBucket } from './token-bucket.js';

/** Claims per request slot: the one under way and two ready to replace it. */
export const CLAIM_AHEAD = 3;

/** What the dispatcher knows of one subscription between passes. */
export class Lane {
  /** Claimed and not yet recorded: ready, being sent, or finished awaiting its pass. */
  inFlight = 0;
  /** Claimed, waiting for a free slot to be sent. */
  ready: ClaimedDelivery[] = [];
  /** Requests under way: at most `max_in_flight` (1 when ordered). */
  sending = 0;
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

  /**
   * How many more it may claim now. Up to CLAIM_AHEAD × `max_in_flight` is claimed, so a
   * finished request is replaced at once from `ready` instead of waiting for the next pass;
   * an ordered subscription has 1 in flight, a rate-limited one claims no more than it may send.
   */
  room(sub: Subscription, now: number): number {
    const cap = sub.ordered ? 1 : sub.maxInFlight * (this.bucket ? 1 : CLAIM_AHEAD);
    const slots = cap - this.inFlight;
    if (slots <= 0 || !this.bucket) return slots;
    return Math.min(slots, this.bucket.available(now));
  }

  /** Due times heard while a claim is under way (Infinity: none), which its answer must not hide. */
  private dueDuringClaim: number | undefined;

  /** Marks `at` as a time it may have work due. */
  dueBy(at: number): void {
    this.nextDueAt = Math.min(this.nextDueAt, at);
    if (this.dueDuringClaim !== undefined) this.dueDuringClaim = Math.min(this.dueDuringClaim, at);
  }

  /**
   * A claim was sent to the store. Its answer (when work is next due) was read before
   * whatever happens until it arrives: a commit with new deliveries, a re-queue.
   */
  claimSent(): void {
    this.dueDuringClaim = Infinity;
  }

  /** The claim's answer: the next due time it read, unless something due sooner was heard meanwhile. */
  claimAnswered(nextDueAt: number): void {
    this.nextDueAt = Math.min(nextDueAt, this.dueDuringClaim ?? Infinity);
    this.dueDuringClaim = undefined;
  }

  /** The claim failed: nothing changes but the watch. */
  claimFailed(): void {
    this.dueDuringClaim = undefined;
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
