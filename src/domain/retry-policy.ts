import type { Random } from '../clock.js';

/**
 * When a failed delivery is tried again. Either an exponential curve with full jitter, or an
 * explicit schedule; bounded by a number of attempts and an age, whichever comes first.
 */
export interface RetryPolicy {
  /** Ceiling of the first retry's delay; each later ceiling is `factor` times the previous. */
  initialDelayMs: number;
  factor: number;
  /** No ceiling goes above this. */
  maxDelayMs: number;
  /** Attempts in all (the first included) before `dead`; 0 = no limit. */
  maxAttempts: number;
  /** How long after the first attempt a retry may still happen; 0 = no limit. */
  maxAgeMs: number;
  /** Explicit delays before each retry, replacing the curve; dead when it runs out. */
  scheduleMs: readonly number[] | null;
  /** How long one attempt may take, response body included. */
  timeoutMs: number;
}

/** The per-subscription `retry` object of docs/protocol.md, every field optional. */
export interface RetryOverride {
  initial_delay_ms?: number | undefined;
  factor?: number | undefined;
  max_delay_ms?: number | undefined;
  max_attempts?: number | undefined;
  max_age_s?: number | undefined;
  schedule_ms?: number[] | undefined;
  timeout_ms?: number | undefined;
}

/**
 * The hub policy with a subscription's override on top. An explicit schedule without an
 * explicit `max_attempts` is bounded by its own length, not by the hub's attempt limit.
 */
export function resolvePolicy(hub: RetryPolicy, override: RetryOverride | null): RetryPolicy {
  if (!override) return hub;
  const schedule = override.schedule_ms ?? hub.scheduleMs;
  return {
    initialDelayMs: override.initial_delay_ms ?? hub.initialDelayMs,
    factor: override.factor ?? hub.factor,
    maxDelayMs: override.max_delay_ms ?? hub.maxDelayMs,
    maxAttempts: override.max_attempts ?? (override.schedule_ms ? 0 : hub.maxAttempts),
    maxAgeMs: override.max_age_s === undefined ? hub.maxAgeMs : override.max_age_s * 1000,
    scheduleMs: schedule,
    timeoutMs: override.timeout_ms ?? hub.timeoutMs,
  };
}

export interface AttemptFacts {
  /** Number of the attempt that just failed, 1-based, counted from the last (re)queue. */
  attempt: number;
  /** When the first attempt of this run happened (epoch ms). */
  firstAttemptAt: number;
  /** HTTP status of the failed attempt; null for a timeout or a connection error. */
  status: number | null;
  /** The receiver's `Retry-After`, as a delay in ms (already parsed), when it sent one. */
  retryAfterMs: number | undefined;
  now: number;
  policy: RetryPolicy;
  random: Random;
}

export type NextAttempt = { at: number } | { dead: 'max_attempts' | 'max_age' | 'schedule_exhausted' };

/** Statuses whose `Retry-After` is honoured (docs/protocol.md: 429 and 503). */
const HONOURS_RETRY_AFTER = new Set([429, 503]);

/**
 * The next attempt after a failure, or `dead`. A retry is planned only if it can happen
 * within `maxAgeMs` of the first attempt: waiting past the deadline just to give up would
 * only delay the dead letter. `Retry-After` on 429/503 is a floor, never shortens the curve.
 */
export function nextAttempt({ attempt, firstAttemptAt, status, retryAfterMs, now, policy, random }: AttemptFacts): NextAttempt {
  if (policy.maxAttempts > 0 && attempt >= policy.maxAttempts) return { dead: 'max_attempts' };
  let delay: number;
  if (policy.scheduleMs) {
    const planned = policy.scheduleMs[attempt - 1];
    if (planned === undefined) return { dead: 'schedule_exhausted' };
    delay = planned;
  } else {
    delay = Math.floor(random.float() * backoffCeiling(attempt, policy));
  }
  if (retryAfterMs !== undefined && status !== null && HONOURS_RETRY_AFTER.has(status)) {
    delay = Math.max(delay, retryAfterMs);
  }
  const at = now + delay;
  if (policy.maxAgeMs > 0 && at > firstAttemptAt + policy.maxAgeMs) return { dead: 'max_age' };
  return { at };
}

/** Upper bound of the full-jitter delay after attempt `attempt`: initial × factor^(attempt−1), capped. */
export function backoffCeiling(attempt: number, policy: RetryPolicy): number {
  // Past ~1000 doublings the power is Infinity; min() caps it, so no overflow special case.
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** Math.max(0, attempt - 1));
}
