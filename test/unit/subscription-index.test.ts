import { describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../../src/domain/retry-policy.js';
import type { Subscription } from '../../src/domain/subscription.js';
import { SubscriptionIndex } from '../../src/webhooks/subscription-index.js';

const policy: RetryPolicy = { initialDelayMs: 1, factor: 2, maxDelayMs: 10, maxAttempts: 3, maxAgeMs: 0, scheduleMs: null, timeoutMs: 1000 };

let n = 0;
function sub(channels: string[], types: string[] | null = null, over: Partial<Subscription> = {}): Subscription {
  n++;
  return {
    id: `sub_${n}`, url: 'https://example.com/hook', channels, types, description: null, ordered: false, maxInFlight: 10,
    rateLimitPerS: null, signatureScheme: 'standard', retry: null, secret: 'whsec_AAAA', previousSecret: null,
    previousSecretExpiresAt: null, enabled: true, disabledReason: null, createdAt: n, updatedAt: n, headers: {}, ...over,
  };
}

const ids = (index: SubscriptionIndex, channel: string, type: string): string[] => index.match(channel, type).map((e) => e.sub.id).sort();

describe('SubscriptionIndex', () => {
  it('matches exact channels, wildcard channels and type patterns, each subscription once', () => {
    const index = new SubscriptionIndex(policy);
    const a = sub(['orders', 'billing.>']);
    const b = sub(['orders.*'], ['order.*']);
    const c = sub(['orders', 'orders.>', '>']); // several patterns match: still one delivery
    for (const s of [a, b, c]) index.set(s);
    expect(ids(index, 'orders', 'x')).toEqual([a.id, c.id].sort());
    expect(ids(index, 'orders.eu', 'order.created')).toEqual([b.id, c.id].sort());
    expect(ids(index, 'orders.eu', 'refund.created')).toEqual([c.id]);
    expect(ids(index, 'billing.invoice.paid', 't')).toEqual([a.id, c.id].sort());
  });

  it('includes disabled subscriptions (they hold their deliveries)', () => {
    const index = new SubscriptionIndex(policy);
    const s = sub(['a'], null, { enabled: false, disabledReason: 'manual' });
    index.set(s);
    expect(ids(index, 'a', 't')).toEqual([s.id]);
  });

  it('follows updates and removals', () => {
    const index = new SubscriptionIndex(policy);
    const s = sub(['a']);
    index.set(s);
    index.set({ ...s, channels: ['b'] });
    expect(ids(index, 'a', 't')).toEqual([]);
    expect(ids(index, 'b', 't')).toEqual([s.id]);
    index.remove(s.id);
    expect(ids(index, 'b', 't')).toEqual([]);
    expect(index.get(s.id)).toBeUndefined();
  });

  it('resolves the retry override and keeps the previous secret signing until it expires', () => {
    const index = new SubscriptionIndex(policy);
    const s = sub(['a'], null, { retry: { max_attempts: 0 }, previousSecret: 'whsec_BBBB', previousSecretExpiresAt: 1000 });
    index.set(s);
    const entry = index.get(s.id)!;
    expect(entry.policy.maxAttempts).toBe(0);
    expect(entry.signerAt(999)('m', 1, 'b')['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(entry.signerAt(1000)('m', 1, 'b')['webhook-signature']!.split(' ')).toHaveLength(1);
  });
});
