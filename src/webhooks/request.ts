import type { CursorCodec } from '../domain/cursor.js';
import type { ClaimedDelivery } from '../domain/delivery.js';
import { envelopeJson } from '../domain/envelope.js';
import type { SendRequest } from './sender.js';
import type { IndexedSubscription } from './subscription-index.js';

/**
 * The POST of one attempt: the envelope as body and exactly the documented headers. The body is
 * built once and signed as sent; `webhook-id` is the event id, the receiver's dedupe key.
 */
export function deliveryRequest(entry: IndexedSubscription, claimed: ClaimedDelivery, codec: CursorCodec, now: number): SendRequest {
  const { event } = claimed;
  const timestamp = Math.floor(now / 1000);
  const body = envelopeJson(event, codec.encode(event.seq));
  const headers: Record<string, string> = {
    // The subscription's own first: a name of the hub's below could never be replaced (they are refused anyway).
    ...entry.sub.headers,
    'content-type': 'application/json',
    'user-agent': 'pushhub-webhooks',
    'webhook-id': event.id,
    'webhook-timestamp': String(timestamp),
    ...entry.signerAt(now)(event.id, timestamp, body),
    'x-event-id': event.id,
    'x-event-type': event.type,
    'x-pushhub-delivery': claimed.id,
    'x-pushhub-attempt': String(claimed.attempt),
  };
  return { url: entry.url, headers, body, timeoutMs: entry.policy.timeoutMs };
}
