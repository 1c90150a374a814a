import { describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/domain/envelope.js';
import type { RetryPolicy } from '../../src/domain/retry-policy.js';
import type { Subscription } from '../../src/domain/subscription.js';
import { outboxRows, subscriptionsOf } from '../../src/webhooks/outbox.js';
import { SubscriptionIndex } from '../../src/webhooks/subscription-index.js';

const policy: RetryPolicy = { initialDelayMs: 1, factor: 2, maxDelayMs: 10, maxAttempts: 3, maxAgeMs: 0, scheduleMs: null, timeoutMs: 1000 };

function sub(id: string, channels: string[], types: string[] | null = null, over: Partial<Subscription> = {}): Subscription {
  return {
    id, url: 'https://example.com/hook', channels, types, description: null, ordered: false, maxInFlight: 10,
    rateLimitPerS: null, signatureScheme: 'standard', retry: null, secret: 'whsec_AAAA', previousSecret: null,
    previousSecretExpiresAt: null, enabled: true, disabledReason: null, createdAt: 1, updatedAt: 1, headers: {}, ...over,
  };
}

const event = (id: string, channel: string, type = 't'): NewEvent => ({ id, channel, type, occurredAt: 1, receivedAt: 1, data: '{}' });

describe('outboxRows', () => {
  it('plans one row per event and matching subscription, in event order, naming the event by index', () => {
    const index = new SubscriptionIndex(policy);
    index.set(sub('sub_a', ['orders.>']));
    index.set(sub('sub_b', ['orders.eu'], ['order.*']));
    index.set(sub('sub_off', ['orders.eu'], null, { enabled: false, disabledReason: 'manual' })); // held, still owed
    let n = 0;
    const rows = outboxRows(
      [event('e0', 'billing'), event('e1', 'orders.eu', 'order.created'), event('e2', 'orders.us', 'refund')],
      index,
      () => `dlv_${++n}`,
    );
    expect(rows.map((r) => [r.event, r.subscriptionId]).sort()).toEqual([[1, 'sub_a'], [1, 'sub_b'], [1, 'sub_off'], [2, 'sub_a']].sort());
    expect(rows.map((r) => r.event)).toEqual([1, 1, 1, 2]); // in event order
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length); // each its own id
  });

  it('plans nothing without events or without a match', () => {
    const index = new SubscriptionIndex(policy);
    expect(outboxRows([], index, () => 'x')).toEqual([]);
    index.set(sub('sub_a', ['a']));
    expect(outboxRows([event('e0', 'b')], index, () => 'x')).toEqual([]);
  });
});

describe('subscriptionsOf', () => {
  it('names each subscription once', () => {
    const rows = [
      { id: 'd1', subscriptionId: 'a', event: 0 },
      { id: 'd2', subscriptionId: 'b', event: 0 },
      { id: 'd3', subscriptionId: 'a', event: 1 },
    ];
    expect([...subscriptionsOf(rows)]).toEqual(['a', 'b']);
  });
});
