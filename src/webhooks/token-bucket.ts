/**
 * A subscription's `rate_limit_per_s`: a token bucket refilled continuously. It holds a
 * tenth of a second's worth of tokens (at least one), so sends come smoothly rather than
 * in one burst at the start of each second.
 */
export class TokenBucket {
  private tokens: number;
  private readonly capacity: number;
  private refilledAt: number;

  constructor(
    private readonly perSecond: number,
    now: number,
  ) {
    this.capacity = Math.max(1, perSecond / 10);
    this.tokens = this.capacity;
    this.refilledAt = now;
  }

  /** How many whole tokens are available now. */
  available(now: number): number {
    this.refill(now);
    return Math.floor(this.tokens);
  }

  take(n: number, now: number): void {
    this.refill(now);
    this.tokens -= n;
  }

  /** When the next whole token will be there (epoch ms). */
  nextTokenAt(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) return now;
    return now + Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.refilledAt);
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.perSecond) / 1000);
    this.refilledAt = now;
  }
}
