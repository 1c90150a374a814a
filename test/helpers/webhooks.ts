import { loadConfig } from '../../src/config.js';
import type { AttemptJson, DeliveryJson } from '../../src/domain/delivery.js';
import { API_KEY, type TestHub } from './hub.js';
import { freePort } from './ports.js';

export interface CreatedSubscription {
  id: string;
  secret: string;
  [key: string]: unknown;
}

/** Fast retries for tests: jittered delays of at most 20 ms. */
export const FAST_RETRY = { initial_delay_ms: 20, max_delay_ms: 20 };

/** The `webhooks` config section with some fields changed (the test hub merges config shallowly). */
export function webhooksConfig(over: Record<string, unknown>): Record<string, unknown> {
  return { ...loadConfig({}).webhooks, ...over };
}

export async function json<T>(res: Response | Promise<Response>): Promise<T> {
  return (await (await res).json()) as T;
}

export async function createSubscription(hub: TestHub, body: Record<string, unknown>): Promise<CreatedSubscription> {
  const res = await hub.api('/v1/subscriptions', { body });
  if (res.status !== 201) throw new Error(`subscription not created: ${res.status} ${await res.text()}`);
  return json<CreatedSubscription>(res);
}

export async function publish(hub: TestHub, channel: string, type = 'test.happened', data: unknown = {}): Promise<{ id: string; cursor: string }> {
  const res = await hub.api('/v1/events', { body: { channel, type, data } });
  if (res.status !== 202) throw new Error(`publish failed: ${res.status} ${await res.text()}`);
  return json(res);
}

export async function publishMany(hub: TestHub, channel: string, n: number): Promise<Array<{ id: string }>> {
  const events = Array.from({ length: n }, (_, i) => ({ channel, type: 'test.happened', data: { i } }));
  const res = await hub.api('/v1/events/batch', { body: { events } });
  if (res.status !== 202) throw new Error(`batch failed: ${res.status} ${await res.text()}`);
  return (await json<{ events: Array<{ id: string }> }>(res)).events;
}

/** The deliveries of an event, through GET /v1/events/<id>. */
export async function eventStatus(hub: TestHub, eventId: string): Promise<{ status: string; deliveries: DeliveryJson[] }> {
  return json(hub.api(`/v1/events/${eventId}`));
}

/** Polls `probe` until it returns something truthy; rejects after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false | null>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const value = await probe();
    if (value) return value;
    last = value;
    if (Date.now() > deadline) throw new Error(`waitFor(${what}): not met in ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

/** Waits until the only delivery of an event is in `state`; returns it. */
export function deliveryIn(hub: TestHub, eventId: string, state: string, timeoutMs = 10_000): Promise<DeliveryJson> {
  return waitFor(
    async () => (await eventStatus(hub, eventId)).deliveries.find((d) => d.state === state),
    timeoutMs,
    `delivery of ${eventId} ${state}`,
  );
}

export async function attemptsOf(hub: TestHub, deliveryId: string): Promise<AttemptJson[]> {
  return (await json<{ attempts: AttemptJson[] }>(hub.api(`/v1/deliveries/${deliveryId}`))).attempts;
}

/** A local port nothing listens on (connection refused). */
export const closedPort = freePort;

export type DeliverySummary = Pick<DeliveryJson, 'id' | 'event_id' | 'state' | 'attempts' | 'last_error'>;
const FINISHED = new Set(['succeeded', 'dead', 'cancelled']);

/** Every delivery of a subscription, through GET /v1/deliveries (all pages). */
export async function listDeliveries(url: string, subscriptionId: string): Promise<DeliverySummary[]> {
  const out: DeliverySummary[] = [];
  let after: string | null = '';
  while (after !== null) {
    const res = await fetch(`${url}/v1/deliveries?subscription_id=${subscriptionId}&limit=1000${after ? `&after=${after}` : ''}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    if (!res.ok) throw new Error(`listing deliveries answered ${res.status}: ${await res.text()}`);
    const page = (await res.json()) as { deliveries: DeliverySummary[]; next_cursor: string | null };
    out.push(...page.deliveries);
    after = page.next_cursor;
  }
  return out;
}

/**
 * Waits until every delivery of the subscription has finished; else fails showing some that
 * have not. One pass over all of them: asking state by state would race a delivery moving
 * from one state to the next between two questions.
 */
export async function settled(url: string, subscriptionId: string, name: string, timeoutMs = 30_000): Promise<DeliverySummary[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await listDeliveries(url, subscriptionId);
    const waiting = all.filter((d) => !FINISHED.has(d.state));
    if (waiting.length === 0) return all;
    if (Date.now() > deadline) throw new Error(`${name}: deliveries not finished in ${timeoutMs} ms, e.g. ${JSON.stringify(waiting.slice(0, 3))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
