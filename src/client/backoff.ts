/** Reconnect delays: exponential, capped, with full jitter. */
export interface BackoffPolicy {
  /** Ceiling of the first delay, ms. */
  initialMs: number;
  /** Largest ceiling, ms. */
  maxMs: number;
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, factor: 2 };

/**
 * The delay before reconnect attempt `attempt` (0 = first): uniform in [0, ceiling), where
 * the ceiling grows `factor`-fold per attempt up to `maxMs`. Full jitter spreads a crowd of
 * clients dropped at once (a hub restart) instead of bringing them back in waves.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}
