import { describe, expect, it } from 'vitest';
import type { Random } from '../../src/clock.js';
import { headersSchema } from '../../src/domain/headers.js';
import { channelProblem } from '../../src/domain/names.js';
import {
  deliveryEvents,
  mayRaiseDeliveryEvent,
  planOperational,
  subscriptionChangeEvents,
  type RecordedAttempt,
} from '../../src/domain/operational.js';
import { compilePattern, patternProblem } from '../../src/domain/patterns.js';
import type { Subscription } from '../../src/domain/subscription.js';
import { replayTargets } from '../../src/domain/task.js';
import type { StoredEvent } from '../../src/domain/envelope.js';
import { storedSubscription } from '../helpers/subscription.js';

const random: Random = { float: () => 0.5, bytes: (n) => Buffer.alloc(n, 7) };

const sub = (over: Partial<Subscription> = {}): Subscription => storedSubscription('https://example.com/hook', ['orders'], { id: 'sub_a', secret: 'whsec_A', ...over });
const types = (before: Subscription | undefined, after: Subscription) => subscriptionChangeEvents(before, after).map((e) => e.type);

describe('subscription change events', () => {
  it('one event per kind of change, compared with the row replaced', () => {
    expect(types(undefined, sub())).toEqual(['subscription.created']);
    expect(types(undefined, sub({ enabled: false, disabledReason: 'manual' }))).toEqual(['subscription.created', 'subscription.disabled']);
    expect(types(sub(), sub({ description: 'x', updatedAt: 2 }))).toEqual(['subscription.updated']);
    expect(types(sub(), sub({ headers: { 'x-a': '1' } }))).toEqual(['subscription.updated']);
    expect(types(sub(), sub({ secret: 'whsec_B', previousSecret: 'whsec_A', previousSecretExpiresAt: 9 }))).toEqual(['subscription.secret_rotated']);
    expect(types(sub(), sub({ enabled: false, disabledReason: 'manual' }))).toEqual(['subscription.disabled']);
    expect(types(sub({ enabled: false, disabledReason: 'gone' }), sub())).toEqual(['subscription.enabled']);
    expect(types(sub(), sub({ url: 'https://example.com/other', enabled: false, disabledReason: 'manual' }))).toEqual(['subscription.updated', 'subscription.disabled']);
    // Only the time moved: nothing to report.
    expect(types(sub(), sub({ updatedAt: 5 }))).toEqual([]);
  });

  it('carries subscription_id, url and, when disabled, the reason', () => {
    const [disabled] = subscriptionChangeEvents(sub(), sub({ enabled: false, disabledReason: 'manual' }));
    expect(disabled).toEqual({ channel: '$hub.subscriptions', type: 'subscription.disabled', data: { subscription_id: 'sub_a', url: 'https://example.com/hook', disabled_reason: 'manual' } });
    const [created] = subscriptionChangeEvents(undefined, sub());
    expect(created!.data).toEqual({ subscription_id: 'sub_a', url: 'https://example.com/hook' });
  });
});

describe('delivery events', () => {
  const attempt = (over: Partial<RecordedAttempt>): RecordedAttempt => ({
    deliveryId: 'dlv_1', subscriptionId: 'sub_a', eventId: 'evt_1', channel: 'orders', n: 1, state: 'retrying', status: 500, error: null, previousStatus: null, ...over,
  });
  const of = (over: Partial<RecordedAttempt>) => deliveryEvents(attempt(over)).map((e) => e.type);

  it('failing at the 3rd failed attempt only, dead when it gives up, recovered when one that failed that often succeeds', () => {
    expect(of({ n: 1 })).toEqual([]);
    expect(of({ n: 2 })).toEqual([]);
    expect(of({ n: 3 })).toEqual(['delivery.failing']);
    expect(of({ n: 3, state: 'pending', status: 410 })).toEqual(['delivery.failing']);
    expect(of({ n: 4 })).toEqual([]);
    expect(of({ n: 3, state: 'dead' })).toEqual(['delivery.failing', 'delivery.dead']);
    expect(of({ n: 2, state: 'dead' })).toEqual(['delivery.dead']);
    expect(of({ n: 4, state: 'succeeded', status: 200, previousStatus: 503 })).toEqual(['delivery.recovered']);
    expect(of({ n: 4, state: 'succeeded', status: 200, previousStatus: null })).toEqual(['delivery.recovered']);
    expect(of({ n: 3, state: 'succeeded', status: 200, previousStatus: 503 })).toEqual([]); // only two had failed
    // Sent again by hand after a success: nothing had failed.
    expect(of({ n: 5, state: 'succeeded', status: 200, previousStatus: 204 })).toEqual([]);
  });

  it('none for deliveries of $hub.deliveries events (two watchers would feed each other)', () => {
    expect(of({ n: 3, state: 'dead', channel: '$hub.deliveries' })).toEqual([]);
    expect(of({ n: 3, channel: '$hub.subscriptions' })).toEqual(['delivery.failing']);
  });

  it('the pre-filter lets through every attempt that can raise one', () => {
    for (const n of [1, 2, 3, 4, 5, 11]) {
      for (const state of ['succeeded', 'retrying', 'dead', 'pending', 'cancelled']) {
        for (const previousStatus of [null, 200, 500]) {
          if (deliveryEvents(attempt({ n, state, previousStatus })).length > 0) expect(mayRaiseDeliveryEvent(n, state), `${n} ${state}`).toBe(true);
        }
      }
    }
    expect(mayRaiseDeliveryEvent(1, 'succeeded')).toBe(false);
    expect(mayRaiseDeliveryEvent(2, 'retrying')).toBe(false);
  });
});

describe('planning operational events', () => {
  const watchers = [
    { id: 'sub_all', channels: ['$hub.>'], types: null },
    { id: 'sub_dlv', channels: ['$hub.deliveries'], types: ['delivery.dead'] },
    { id: 'sub_a', channels: ['$hub.subscriptions'], types: null },
    { id: 'sub_gt', channels: ['>'], types: null },
  ];
  it('to the subscriptions whose own patterns name the channel and type, never about themselves; a test event to its one subscription', () => {
    const plan = planOperational(
      [
        { channel: '$hub.subscriptions', type: 'subscription.created', data: { subscription_id: 'sub_a', url: 'u' } },
        { channel: '$hub.deliveries', type: 'delivery.dead', data: { delivery_id: 'd', subscription_id: 'sub_x', event_id: 'e', attempts: 2, last_status: 500, last_error: null } },
        { channel: '$hub.test', type: 'pushhub.test', data: {}, to: 'sub_gt' },
      ],
      watchers,
      1000,
      random,
    );
    expect(plan.events.map((e) => [e.channel, e.type, e.occurredAt])).toEqual([
      ['$hub.subscriptions', 'subscription.created', 1000],
      ['$hub.deliveries', 'delivery.dead', 1000],
      ['$hub.test', 'pushhub.test', 1000],
    ]);
    expect(plan.deliveries.map((d) => [d.subscriptionId, d.event])).toEqual([
      ['sub_all', 0],
      ['sub_all', 1],
      ['sub_dlv', 1],
      ['sub_gt', 2],
    ]);
    expect(JSON.parse(plan.events[0]!.data)).toEqual({ subscription_id: 'sub_a', url: 'u' });
  });
});

describe('names of the hub channels', () => {
  it('readable as $hub.…, never publishable; only $hub patterns match them', () => {
    expect(channelProblem('$hub.deliveries', true)).toBeNull();
    expect(channelProblem('$hub.deliveries')).not.toBeNull();
    expect(channelProblem('$sys.x', true)).not.toBeNull();
    expect(channelProblem('$hub', true)).not.toBeNull();
    expect(channelProblem('$hub..x', true)).not.toBeNull();
    expect(channelProblem(`$hub.${'x'.repeat(124)}`, true)).not.toBeNull();
    expect(patternProblem('$hub.>')).toBeNull();
    expect(patternProblem('$hub')).not.toBeNull();
    expect(patternProblem('a.$hub')).not.toBeNull();
    expect(compilePattern('>')('$hub.deliveries')).toBe(false);
    expect(compilePattern('*.deliveries')('$hub.deliveries')).toBe(false);
    expect(compilePattern('$hub.>')('$hub.deliveries')).toBe(true);
    expect(compilePattern('$hub.*')('$hub.deliveries')).toBe(true);
    expect(compilePattern('$hub.deliveries')('$hub.deliveries')).toBe(true);
    expect(compilePattern('>')('orders')).toBe(true);
  });
});

describe('custom headers', () => {
  const problems = (headers: unknown) => {
    const r = headersSchema.safeParse(headers);
    return r.success ? [] : r.error.issues.map((i) => i.path.join('.'));
  };
  it('at most 20, token names, no reserved ones (case-insensitive), no line breaks, no duplicates by case', () => {
    expect(problems({ 'X-Tenant': 'a b', Authorization: 'Bearer x' })).toEqual([]);
    expect(problems(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`x-${i}`, 'v'])))).toEqual([]);
    expect(problems(Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`x-${i}`, 'v'])))).toEqual(['']);
    for (const name of ['Webhook-Id', 'webhook-timestamp', 'WEBHOOK-SIGNATURE', 'x-signature', 'X-Event-Id', 'x-event-type', 'x-pushhub-delivery', 'X-PushHub-Other', 'host', 'content-length']) {
      expect(problems({ [name]: 'v' }), name).toEqual([name]);
    }
    expect(problems({ 'bad name': 'v' })).toEqual(['bad name']);
    expect(problems({ 'x-a': 'line\r\nx-b: 1' })).toEqual(['x-a']);
    expect(problems({ 'x-a': 'tab\tinside' })).toEqual([]);
    expect(problems({ 'X-A': '1', 'x-a': '2' })).toEqual(['x-a']);
  });
});

describe('replay targets', () => {
  const ev = (seq: number, channel: string, over: Partial<StoredEvent> = {}): StoredEvent => ({
    seq, id: `evt_${seq}`, channel, type: 't', occurredAt: seq, receivedAt: seq * 10, data: '{}', ...over,
  });
  it('matching events of the window that the subscription has no delivery for; no test events, none about itself', () => {
    const s = sub({ channels: ['orders', '$hub.>'] });
    const events = [
      ev(1, 'orders'),
      ev(2, 'orders'),
      ev(3, 'billing'),
      ev(4, '$hub.test'),
      ev(5, '$hub.subscriptions', { data: '{"subscription_id":"sub_a"}' }),
      ev(6, '$hub.subscriptions', { data: '{"subscription_id":"sub_b"}' }),
      ev(7, 'orders'),
    ];
    expect(replayTargets(s, { since: null, until: null }, events, new Set([2])).map((e) => e.seq)).toEqual([1, 6, 7]);
    expect(replayTargets(s, { since: 20, until: 70 }, events, new Set()).map((e) => e.seq)).toEqual([2, 6]);
  });
});
