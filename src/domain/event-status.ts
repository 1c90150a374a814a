import { z } from 'zod';

export const DELIVERY_STATES = ['pending', 'in_flight', 'succeeded', 'retrying', 'dead', 'cancelled'] as const;
export const EVENT_STATUSES = ['pending', 'delivering', 'delivered', 'failed', 'no_subscribers'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];
export type EventStatus = (typeof EVENT_STATUSES)[number];

export const deliveryStateSchema = z.enum(DELIVERY_STATES).meta({ id: 'DeliveryState' });

/**
 * An event's overall status from its deliveries: `pending` until the first attempt,
 * `delivering` while any delivery is still under way, then `delivered` when all that were
 * not cancelled succeeded, `failed` when any went dead.
 */
export function eventStatus(deliveries: ReadonlyArray<{ state: DeliveryState; attempts: number }>): EventStatus {
  const live = deliveries.filter((d) => d.state !== 'cancelled');
  if (live.length === 0) return 'no_subscribers';
  const active = live.filter((d) => d.state === 'pending' || d.state === 'in_flight' || d.state === 'retrying');
  if (active.length > 0) {
    const started = live.some((d) => d.attempts > 0 || d.state !== 'pending');
    return started ? 'delivering' : 'pending';
  }
  return live.some((d) => d.state === 'dead') ? 'failed' : 'delivered';
}
