import { z } from 'zod';
import type { Clock, Random } from '../clock.js';
import { envelopeSchema, type NewEvent } from './envelope.js';
import { newId } from './ids.js';
import { compilePattern } from './patterns.js';
import type { DisabledReason, Subscription } from './subscription.js';

/**
 * The catalogue of operational events: what the hub publishes about itself, on its own
 * channels, with the envelope of any event. Each is written in the transaction of the state
 * change it reports (the stores call the functions below inside it), so one exists if and
 * only if the change happened.
 */
export const HUB_CHANNELS = {
  subscriptions: '$hub.subscriptions',
  deliveries: '$hub.deliveries',
  channels: '$hub.channels',
  test: '$hub.test',
} as const;
export type HubChannel = (typeof HUB_CHANNELS)[keyof typeof HUB_CHANNELS];

export const SUBSCRIPTION_EVENT_TYPES = [
  'subscription.created',
  'subscription.updated',
  'subscription.deleted',
  'subscription.disabled',
  'subscription.enabled',
  'subscription.secret_rotated',
] as const;
export const DELIVERY_EVENT_TYPES = ['delivery.failing', 'delivery.dead', 'delivery.recovered'] as const;
export const CHANNEL_EVENT_TYPES = ['channel.occupied', 'channel.vacated'] as const;
/** The default type of a test event (`POST /v1/subscriptions/<id>/test`). */
export const TEST_EVENT_TYPE = 'pushhub.test';

export type SubscriptionEventType = (typeof SUBSCRIPTION_EVENT_TYPES)[number];
export type DeliveryEventType = (typeof DELIVERY_EVENT_TYPES)[number];
export type ChannelEventType = (typeof CHANNEL_EVENT_TYPES)[number];

/** The failed attempt of a delivery that raises `delivery.failing` (once: attempt numbers only grow). */
export const FAILING_AT_ATTEMPT = 3;

export const subscriptionEventDataSchema = z
  .strictObject({ subscription_id: z.string(), url: z.string(), disabled_reason: z.enum(['manual', 'gone', 'failing']).optional() })
  .meta({ id: 'SubscriptionEventData', description: `The data of ${SUBSCRIPTION_EVENT_TYPES.join(', ')} on ${HUB_CHANNELS.subscriptions}.` });
export const deliveryEventDataSchema = z
  .strictObject({
    delivery_id: z.string(),
    subscription_id: z.string(),
    event_id: z.string(),
    attempts: z.int(),
    last_status: z.int().nullable(),
    last_error: z.string().nullable(),
  })
  .meta({ id: 'DeliveryEventData', description: `The data of ${DELIVERY_EVENT_TYPES.join(', ')} on ${HUB_CHANNELS.deliveries}.` });
export const channelEventDataSchema = z
  .strictObject({ channel: z.string() })
  .meta({ id: 'ChannelEventData', description: `The data of ${CHANNEL_EVENT_TYPES.join(', ')} on ${HUB_CHANNELS.channels}.` });

/** The envelopes of the operational events, for the API documents: one per hub channel. */
export const operationalEventSchemas = {
  subscriptions: envelopeSchema
    .extend({ channel: z.literal(HUB_CHANNELS.subscriptions), type: z.enum(SUBSCRIPTION_EVENT_TYPES), data: subscriptionEventDataSchema })
    .meta({ id: 'SubscriptionOperationalEvent', description: 'A subscription was created, changed, disabled (disabled_reason says why), enabled, deleted or its secret rotated.' }),
  deliveries: envelopeSchema
    .extend({ channel: z.literal(HUB_CHANNELS.deliveries), type: z.enum(DELIVERY_EVENT_TYPES), data: deliveryEventDataSchema })
    .meta({
      id: 'DeliveryOperationalEvent',
      description: `delivery.failing: a delivery's ${FAILING_AT_ATTEMPT}rd failed attempt (once per delivery); delivery.dead: it gave up; delivery.recovered: one that failed that often then succeeded.`,
    }),
  channels: envelopeSchema
    .extend({ channel: z.literal(HUB_CHANNELS.channels), type: z.enum(CHANNEL_EVENT_TYPES), data: channelEventDataSchema })
    .meta({ id: 'ChannelOperationalEvent', description: 'channel.occupied: its first subscriber on any hub; channel.vacated: its last one gone.' }),
  test: envelopeSchema
    .extend({ channel: z.literal(HUB_CHANNELS.test) })
    .meta({ id: 'TestOperationalEvent', description: 'A test event (POST /v1/subscriptions/<id>/test), delivered to that subscription only; type pushhub.test unless asked otherwise.' }),
};

export type SubscriptionEventData = z.output<typeof subscriptionEventDataSchema>;
export type DeliveryEventData = z.output<typeof deliveryEventDataSchema>;

/** An operational event to write; the store gives it an id and plans its deliveries. */
export type OperationalEvent =
  | { channel: typeof HUB_CHANNELS.subscriptions; type: SubscriptionEventType; data: SubscriptionEventData }
  | { channel: typeof HUB_CHANNELS.deliveries; type: DeliveryEventType; data: DeliveryEventData }
  | { channel: typeof HUB_CHANNELS.channels; type: ChannelEventType; data: { channel: string } }
  /** A test event: delivered to `to` only, whatever its patterns. */
  | { channel: typeof HUB_CHANNELS.test; type: string; data: unknown; to: string };

/** The events a subscription's change raises, from the row before (undefined: created) and after. */
export function subscriptionChangeEvents(before: Subscription | undefined, after: Subscription): OperationalEvent[] {
  const about = (type: SubscriptionEventType, reason?: DisabledReason | null): OperationalEvent => ({
    channel: HUB_CHANNELS.subscriptions,
    type,
    data: { subscription_id: after.id, url: after.url, ...(reason ? { disabled_reason: reason } : {}) },
  });
  if (!before) return [about('subscription.created'), ...(after.enabled ? [] : [about('subscription.disabled', after.disabledReason)])];
  const out: OperationalEvent[] = [];
  if (settingsChanged(before, after)) out.push(about('subscription.updated'));
  if (before.secret !== after.secret) out.push(about('subscription.secret_rotated'));
  if (before.enabled && !after.enabled) out.push(about('subscription.disabled', after.disabledReason));
  if (!before.enabled && after.enabled) out.push(about('subscription.enabled'));
  return out;
}

/** `subscription.deleted`. */
export function subscriptionDeletedEvent(sub: Pick<Subscription, 'id' | 'url'>): OperationalEvent {
  return { channel: HUB_CHANNELS.subscriptions, type: 'subscription.deleted', data: { subscription_id: sub.id, url: sub.url } };
}

/** `subscription.disabled` by the hub (a `410`, auto-pause). */
export function subscriptionDisabledEvent(sub: Pick<Subscription, 'id' | 'url'>, reason: DisabledReason): OperationalEvent {
  return { channel: HUB_CHANNELS.subscriptions, type: 'subscription.disabled', data: { subscription_id: sub.id, url: sub.url, disabled_reason: reason } };
}

const SETTINGS: ReadonlyArray<keyof Subscription> = [
  'url', 'channels', 'types', 'description', 'ordered', 'maxInFlight', 'rateLimitPerS', 'signatureScheme', 'retry', 'headers',
];
function settingsChanged(a: Subscription, b: Subscription): boolean {
  return SETTINGS.some((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/** One recorded attempt, as the store sees it inside the transaction that records it. */
export interface RecordedAttempt {
  deliveryId: string;
  subscriptionId: string;
  eventId: string;
  /** The channel of the delivery's event. */
  channel: string;
  /** This attempt's number (all attempts ever, 1-based). */
  n: number;
  /** The delivery's state after it. */
  state: string;
  status: number | null;
  error: string | null;
  /** The status of the attempt before this one (null: none, or no response). */
  previousStatus: number | null;
}

const ok = (status: number | null): boolean => status !== null && status >= 200 && status < 300;

/**
 * Whether an attempt may raise a delivery event at all, judged before the store looks at the
 * row: most attempts (a first success) cannot, and cost no extra read.
 */
export function mayRaiseDeliveryEvent(n: number, state: string): boolean {
  return state === 'dead' || (state !== 'succeeded' && n === FAILING_AT_ATTEMPT) || (state === 'succeeded' && n > FAILING_AT_ATTEMPT);
}

/**
 * The delivery events an attempt raises: `failing` at the 3rd failed attempt, `dead` when it
 * gives up, `recovered` when one that had failed that often then succeeds. Deliveries of
 * `$hub.deliveries` events raise none, or two subscriptions watching each other's failures
 * would feed each other for ever.
 */
export function deliveryEvents(a: RecordedAttempt): OperationalEvent[] {
  if (a.channel === HUB_CHANNELS.deliveries) return [];
  const data: DeliveryEventData = {
    delivery_id: a.deliveryId,
    subscription_id: a.subscriptionId,
    event_id: a.eventId,
    attempts: a.n,
    last_status: a.status,
    last_error: a.error,
  };
  const types: DeliveryEventType[] = [];
  if (a.state === 'succeeded') {
    if (a.n > FAILING_AT_ATTEMPT && !ok(a.previousStatus)) types.push('delivery.recovered');
  } else {
    if (a.n === FAILING_AT_ATTEMPT) types.push('delivery.failing');
    if (a.state === 'dead') types.push('delivery.dead');
  }
  return types.map((type) => ({ channel: HUB_CHANNELS.deliveries, type, data }));
}

/** What planning the events needs of each subscription: only those with a `$` pattern can match. */
export type Watcher = Pick<Subscription, 'id' | 'channels' | 'types'>;

/** The rows of operational events: the events with their ids, and their deliveries (by event index). */
export interface OperationalWrite {
  events: NewEvent[];
  deliveries: Array<{ id: string; subscriptionId: string; event: number }>;
}

/**
 * Ids and deliveries of operational events. A subscription gets one when its own patterns
 * name the channel (`$…`: see compilePattern) and never one about itself; a test event goes to
 * its one subscription only.
 */
export function planOperational(events: readonly OperationalEvent[], watchers: readonly Watcher[], now: number, random: Random): OperationalWrite {
  const clock: Clock = { now: () => now };
  const matchers = watchers.map((w) => ({
    id: w.id,
    channel: w.channels.map(compilePattern),
    type: w.types?.map(compilePattern),
  }));
  const out: OperationalWrite = { events: [], deliveries: [] };
  events.forEach((e, i) => {
    out.events.push({ id: newId('evt', clock, random), channel: e.channel, type: e.type, occurredAt: now, receivedAt: now, data: JSON.stringify(e.data ?? null) });
    const about = e.data !== null && typeof e.data === 'object' && 'subscription_id' in e.data ? e.data.subscription_id : undefined;
    const targets =
      'to' in e
        ? [e.to]
        : matchers
            .filter((m) => m.id !== about && m.channel.some((c) => c(e.channel)) && (m.type === undefined || m.type.some((t) => t(e.type))))
            .map((m) => m.id);
    for (const subscriptionId of targets) out.deliveries.push({ id: newId('dlv', clock, random), subscriptionId, event: i });
  });
  return out;
}

/** Whether a subscription's patterns could match an operational event (stores read only these). */
export const watchesHub = (channels: readonly string[]): boolean => channels.some((c) => c.startsWith('$'));
