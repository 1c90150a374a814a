import type { NewEvent } from '../domain/envelope.js';
import type { OutboxRow } from '../store/index.js';

/** What the outbox needs from the subscription index. */
export interface OutboxMatcher {
  match(channel: string, type: string): ReadonlyArray<{ sub: { id: string } }>;
}

/**
 * The outbox rows of one commit: one delivery per event and matching subscription (enabled
 * or not: a disabled one holds its deliveries until enabled again), in event order, each
 * naming its event by index. Built from the in-memory index before the commit is written.
 */
export function outboxRows(events: readonly NewEvent[], index: OutboxMatcher, newDeliveryId: () => string): OutboxRow[] {
  const rows: OutboxRow[] = [];
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    for (const { sub } of index.match(event.channel, event.type)) rows.push({ id: newDeliveryId(), subscriptionId: sub.id, event: i });
  }
  return rows;
}

/** The subscriptions that got deliveries in a commit, once each. */
export function subscriptionsOf(rows: readonly OutboxRow[]): Set<string> {
  const ids = new Set<string>();
  for (const row of rows) ids.add(row.subscriptionId);
  return ids;
}
