import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Random } from '../../src/clock.js';
import { backoffCeiling, nextAttempt, resolvePolicy, type AttemptFacts, type RetryPolicy } from '../../src/domain/retry-policy.js';

/** The documented hub default. */
const HUB: RetryPolicy = {
  initialDelayMs: 2000,
  factor: 2,
  maxDelayMs: 600_000,
  maxAttempts: 10,
  maxAgeMs: 86_400_000,
  scheduleMs: null,
  timeoutMs: 10_000,
};
const T0 = Date.parse('2026-01-20T12:00:00Z');

const fixed = (float: number): Random => ({ float: () => float, bytes: (n) => Buffer.alloc(n) });
const MAX_FLOAT = 1 - Number.EPSILON;

function facts(over: Partial<AttemptFacts>): AttemptFacts {
  return { attempt: 1, firstAttemptAt: T0, status: 500, retryAfterMs: undefined, now: T0, policy: HUB, random: fixed(0.5), ...over };
}

describe('backoff curve', () => {
  it('ceilings start at the first delay, double, and stop at the cap', () => {
    const ceilings = Array.from({ length: 12 }, (_, i) => backoffCeiling(i + 1, HUB));
    expect(ceilings).toEqual([2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 600_000, 600_000, 600_000]);
  });

  it('does not overflow for huge attempt numbers', () => {
    expect(backoffCeiling(10_000, HUB)).toBe(600_000);
    expect(backoffCeiling(Number.MAX_SAFE_INTEGER, { ...HUB, maxAttempts: 0 })).toBe(600_000);
  });

  it('full jitter: every delay lies in [0, ceiling] and both ends are reached', () => {
    const policy = { ...HUB, maxAttempts: 0, maxAgeMs: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0, max: MAX_FLOAT, noNaN: true }), (attempt, float) => {
        const next = nextAttempt(facts({ attempt, policy, random: fixed(float) }));
        if (!('at' in next)) return false;
        const delay = next.at - T0;
        return delay >= 0 && delay <= backoffCeiling(attempt, policy);
      }),
    );
    expect(nextAttempt(facts({ random: fixed(0) }))).toEqual({ at: T0 });
    expect(nextAttempt(facts({ attempt: 3, random: fixed(MAX_FLOAT) }))).toEqual({ at: T0 + 7999 });
  });

  it('is measured from now, not from the first attempt', () => {
    const now = T0 + 60_000;
    expect(nextAttempt(facts({ attempt: 2, now, random: fixed(0.5) }))).toEqual({ at: now + 2000 });
  });
});

describe('limits', () => {
  it('attempt numbering: after attempt 9 of 10 there is a retry, after attempt 10 it is dead', () => {
    expect(nextAttempt(facts({ attempt: 9 }))).toHaveProperty('at');
    expect(nextAttempt(facts({ attempt: 10 }))).toEqual({ dead: 'max_attempts' });
    expect(nextAttempt(facts({ attempt: 11 }))).toEqual({ dead: 'max_attempts' });
    expect(nextAttempt(facts({ attempt: 1, policy: { ...HUB, maxAttempts: 1 } }))).toEqual({ dead: 'max_attempts' });
  });

  it('max_attempts 0 means no limit', () => {
    const policy = { ...HUB, maxAttempts: 0, maxAgeMs: 0 };
    expect(nextAttempt(facts({ attempt: 1_000_000, policy }))).toHaveProperty('at');
  });

  it('max age: no retry planned past first attempt + max age', () => {
    const policy = { ...HUB, maxAttempts: 0, maxAgeMs: 60_000 };
    const now = T0 + 59_000;
    // ceiling of attempt 1 is 2 s: a delay of 1 s lands inside, 1.5 s lands outside
    expect(nextAttempt(facts({ now, policy, random: fixed(0.5) }))).toEqual({ at: T0 + 60_000 });
    expect(nextAttempt(facts({ now, policy, random: fixed(0.75) }))).toEqual({ dead: 'max_age' });
    expect(nextAttempt(facts({ now: T0 + 60_001, policy, random: fixed(0) }))).toEqual({ dead: 'max_age' });
  });

  it('max_age 0 means no limit', () => {
    const policy = { ...HUB, maxAttempts: 0, maxAgeMs: 0 };
    expect(nextAttempt(facts({ now: T0 + 10 * 365 * 86_400_000, policy }))).toHaveProperty('at');
  });

  it('whichever limit comes first wins', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        (attempt, maxAttempts, maxAgeMs, elapsed) => {
          const policy = { ...HUB, maxAttempts, maxAgeMs };
          const next = nextAttempt(facts({ attempt, now: T0 + elapsed, policy, random: fixed(0) }));
          const outOfAttempts = maxAttempts > 0 && attempt >= maxAttempts;
          const outOfTime = maxAgeMs > 0 && elapsed > maxAgeMs;
          return outOfAttempts || outOfTime ? 'dead' in next : 'at' in next;
        },
      ),
    );
  });
});

describe('explicit schedule', () => {
  const policy = resolvePolicy(HUB, { schedule_ms: [0, 60_000, 300_000] });

  it('uses the delays in turn, without jitter, then dead', () => {
    expect(nextAttempt(facts({ attempt: 1, policy, random: fixed(0.9) }))).toEqual({ at: T0 });
    expect(nextAttempt(facts({ attempt: 2, policy, random: fixed(0.9) }))).toEqual({ at: T0 + 60_000 });
    expect(nextAttempt(facts({ attempt: 3, policy, random: fixed(0.9) }))).toEqual({ at: T0 + 300_000 });
    expect(nextAttempt(facts({ attempt: 4, policy }))).toEqual({ dead: 'schedule_exhausted' });
  });

  it('is bounded by its own length, not the hub attempt limit, unless max_attempts is given', () => {
    const long = resolvePolicy(HUB, { schedule_ms: Array.from({ length: 15 }, () => 1000) });
    expect(nextAttempt(facts({ attempt: 15, policy: long }))).toHaveProperty('at');
    const capped = resolvePolicy(HUB, { schedule_ms: Array.from({ length: 15 }, () => 1000), max_attempts: 3 });
    expect(nextAttempt(facts({ attempt: 3, policy: capped }))).toEqual({ dead: 'max_attempts' });
  });

  it('still respects max age', () => {
    expect(nextAttempt(facts({ attempt: 3, now: T0 + 86_200_000, policy }))).toEqual({ dead: 'max_age' });
  });
});

describe('Retry-After', () => {
  it('on 429 and 503 it is the earliest next attempt', () => {
    for (const status of [429, 503]) {
      expect(nextAttempt(facts({ status, retryAfterMs: 30_000, random: fixed(0.5) }))).toEqual({ at: T0 + 30_000 });
    }
  });

  it('never shortens the curve', () => {
    expect(nextAttempt(facts({ attempt: 5, status: 429, retryAfterMs: 1000, random: fixed(0.5) }))).toEqual({ at: T0 + 16_000 });
  });

  it('is ignored on other statuses and without a response', () => {
    expect(nextAttempt(facts({ status: 500, retryAfterMs: 30_000 }))).toEqual({ at: T0 + 1000 });
    expect(nextAttempt(facts({ status: null, retryAfterMs: 30_000 }))).toEqual({ at: T0 + 1000 });
  });

  it('a wait past max age is dead now rather than later', () => {
    expect(nextAttempt(facts({ status: 503, retryAfterMs: 2 * 86_400_000 }))).toEqual({ dead: 'max_age' });
  });

  it('does not lift the attempt limit', () => {
    expect(nextAttempt(facts({ attempt: 10, status: 429, retryAfterMs: 1000 }))).toEqual({ dead: 'max_attempts' });
  });
});

describe('resolvePolicy', () => {
  it('without an override is the hub policy', () => {
    expect(resolvePolicy(HUB, null)).toBe(HUB);
  });

  it('overrides field by field, seconds to ms for max_age_s, 0 kept as "no limit"', () => {
    expect(resolvePolicy(HUB, { initial_delay_ms: 10, max_age_s: 0, max_attempts: 0, timeout_ms: 500 })).toEqual({
      ...HUB,
      initialDelayMs: 10,
      maxAgeMs: 0,
      maxAttempts: 0,
      timeoutMs: 500,
    });
    expect(resolvePolicy(HUB, { factor: 3, max_delay_ms: 5000, max_age_s: 60 })).toMatchObject({ factor: 3, maxDelayMs: 5000, maxAgeMs: 60_000 });
  });
});
