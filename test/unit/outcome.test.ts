import { describe, expect, it } from 'vitest';
import type { Random } from '../../src/clock.js';
import type { ClaimedDelivery } from '../../src/domain/delivery.js';
import type { RetryPolicy } from '../../src/domain/retry-policy.js';
import { decide } from '../../src/webhooks/outcome.js';
import type { SendResult } from '../../src/webhooks/sender.js';

const NOW = Date.parse('2026-01-20T12:00:00Z');
const policy: RetryPolicy = { initialDelayMs: 1000, factor: 2, maxDelayMs: 60_000, maxAttempts: 3, maxAgeMs: 0, scheduleMs: null, timeoutMs: 1000 };
const half: Random = { float: () => 0.5, bytes: (n) => Buffer.alloc(n) };

function claimed(over: Partial<ClaimedDelivery> = {}): ClaimedDelivery {
  return {
    seq: 7,
    id: 'dlv_1',
    subscriptionId: 'sub_1',
    attempt: 1,
    cycleAttempts: 0,
    cycleStartedAt: null,
    event: { seq: 1, id: 'evt_1', channel: 'c', type: 't', occurredAt: NOW, receivedAt: NOW, data: '{}' },
    ...over,
  };
}

function result(status: number | null, over: Partial<SendResult> = {}): SendResult {
  const outcome = status === null ? 'network_error' : status < 300 ? 'success' : 'http_error';
  return { outcome, status, error: status === null ? 'connection_error: refused' : null, retryAfter: undefined, responseBody: '', durationMs: 3, ...over };
}

describe('decide (docs/protocol.md outcome rules)', () => {
  it('2xx → succeeded, with the attempt as recorded', () => {
    const d = decide(claimed(), result(204, { responseBody: 'ok' }), NOW - 3, NOW, policy, half);
    expect(d).toEqual({
      gone: false,
      record: { deliverySeq: 7, attempt: { n: 1, at: NOW - 3, durationMs: 3, status: 204, error: null, responseBody: 'ok' }, result: { state: 'succeeded' } },
    });
  });

  it('410 → held as pending, due now, and the subscription is gone', () => {
    const d = decide(claimed(), result(410), NOW, NOW, policy, half);
    expect(d.gone).toBe(true);
    expect(d.record.result).toEqual({ state: 'pending', nextAttemptAt: NOW });
  });

  it('5xx and connection errors → retrying on the curve; the retry budget counts attempts since the last queueing', () => {
    expect(decide(claimed(), result(500), NOW, NOW, policy, half).record.result).toEqual({ state: 'retrying', nextAttemptAt: NOW + 500 });
    expect(decide(claimed({ attempt: 9, cycleAttempts: 1, cycleStartedAt: NOW - 10 }), result(null), NOW, NOW, policy, half).record).toMatchObject({
      attempt: { n: 9, status: null, error: 'connection_error: refused' },
      result: { state: 'retrying', nextAttemptAt: NOW + 1000 },
    });
    const last = decide(claimed({ attempt: 3, cycleAttempts: 2, cycleStartedAt: NOW - 10 }), result(500), NOW, NOW, policy, half);
    expect(last).toMatchObject({ dead: 'max_attempts', record: { result: { state: 'dead' } } });
  });

  it('429 with Retry-After waits at least that long', () => {
    const d = decide(claimed(), result(429, { retryAfter: '30' }), NOW, NOW, policy, half);
    expect(d.record.result).toEqual({ state: 'retrying', nextAttemptAt: NOW + 30_000 });
  });

  it('a subscription deleted during the attempt: a success still counts, a failure is cancelled', () => {
    expect(decide(claimed(), result(200), NOW, NOW, null, half).record.result).toEqual({ state: 'succeeded' });
    expect(decide(claimed(), result(500), NOW, NOW, null, half).record.result).toEqual({ state: 'cancelled' });
  });
});
