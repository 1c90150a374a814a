import type { Random } from '../clock.js';
import type { AttemptRecord, ClaimedDelivery } from '../domain/delivery.js';
import { parseRetryAfter } from '../domain/retry-after.js';
import { nextAttempt, type RetryPolicy } from '../domain/retry-policy.js';
import type { SendResult } from './sender.js';

/** What one finished attempt means for its delivery and its subscription. */
export interface Decision {
  record: AttemptRecord;
  /** The subscription must be switched off: the receiver answered 410 Gone. */
  gone: boolean;
  /** Why it went dead, when it did. */
  dead?: string | undefined;
}

/**
 * The documented outcome rules: 2xx succeeded; 410 holds the delivery (pending, due at once) and
 * disables the subscription; anything else is retried by the policy, with a 429/503
 * `Retry-After` as the earliest next time, until the policy says dead. A subscription
 * deleted during the attempt (policy null) leaves nothing to retry: cancelled.
 */
export function decide(
  claimed: ClaimedDelivery,
  result: SendResult,
  startedAt: number,
  now: number,
  policy: RetryPolicy | null,
  random: Random,
): Decision {
  const attempt = {
    n: claimed.attempt,
    at: startedAt,
    durationMs: result.durationMs,
    status: result.status,
    error: result.error,
    responseBody: result.responseBody,
  };
  const of = (r: AttemptRecord['result']): AttemptRecord => ({ deliverySeq: claimed.seq, attempt, result: r });
  if (result.outcome === 'success') return { record: of({ state: 'succeeded' }), gone: false };
  if (!policy) return { record: of({ state: 'cancelled' }), gone: false };
  if (result.status === 410) return { record: of({ state: 'pending', nextAttemptAt: now }), gone: true };
  const next = nextAttempt({
    attempt: claimed.cycleAttempts + 1,
    firstAttemptAt: claimed.cycleStartedAt ?? startedAt,
    status: result.status,
    retryAfterMs: parseRetryAfter(result.retryAfter, now),
    now,
    policy,
    random,
  });
  if ('dead' in next) return { record: of({ state: 'dead' }), gone: false, dead: next.dead };
  return { record: of({ state: 'retrying', nextAttemptAt: next.at }), gone: false };
}
