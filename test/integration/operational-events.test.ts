import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';
import { createKey } from '../helpers/keys.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { handMadeJwt } from '../helpers/tokens.js';
import { FAST_RETRY, createSubscription, deliveryIn, json, publish, publishMany, waitFor, type CreatedSubscription } from '../helpers/webhooks.js';
import { connect, type TestSocket } from '../helpers/ws-client.js';

/**
 * Operational events through the real path: a watcher subscription naming the hub's channels
 * (its receiver verifies every signature with standardwebhooks) and a WebSocket subscriber
 * on them, while the subscriptions they report on live their lives.
 */

interface Envelope {
  id: string;
  channel: string;
  type: string;
  data: Record<string, unknown>;
}

let hub: TestHub;
let watcherRx: Receiver;
let watcher: CreatedSubscription;
let ws: TestSocket;
const receivers: Receiver[] = [];
let channelNo = 0;
const freshChannel = (): string => `ops${++channelNo}`;
const token = (channels: string[]): string => handMadeJwt({ channels, exp: Math.floor(Date.now() / 1000) + 600 });

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

/** What the watcher received, verified. */
const watched = (): Envelope[] => watcherRx.received.map((r) => new Webhook(watcher.secret).verify(r.body, r.headers as Record<string, string>) as Envelope);
const about = (events: Envelope[], subscriptionId: string) => events.filter((e) => e.data.subscription_id === subscriptionId);
const typesOf = (events: Envelope[]) => events.map((e) => e.type);
const wsEvents = (): Envelope[] => ws.events().map((e) => e as unknown as Envelope);

/** Waits until both the watcher and the WebSocket have `types` (in order) about a subscription, and returns the watcher's. */
async function reported(subscriptionId: string, types: string[]): Promise<Envelope[]> {
  await waitFor(async () => typesOf(about(watched(), subscriptionId)).length >= types.length && typesOf(about(wsEvents(), subscriptionId)).length >= types.length, 15_000, `${types.join(', ')} about ${subscriptionId}`);
  const got = about(watched(), subscriptionId);
  expect(typesOf(got)).toEqual(types);
  expect(typesOf(about(wsEvents(), subscriptionId))).toEqual(types);
  // The same events both ways.
  expect(about(wsEvents(), subscriptionId).map((e) => e.id)).toEqual(got.map((e) => e.id));
  return got;
}

beforeAll(async () => {
  hub = await startHub({ config: { allowPrivateUrls: true } });
  watcherRx = await startReceiver();
  watcher = await createSubscription(hub, { url: watcherRx.url, channels: ['$hub.>'] });
  ws = await connect(hub.url, { bearer: API_KEY });
  for (const [id, channel] of [[1, '$hub.subscriptions'], [2, '$hub.deliveries']] as const) {
    expect(await ws.request({ op: 'subscribe', channel, id })).toMatchObject({ op: 'subscribed', channel });
  }
});
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});
afterAll(async () => {
  ws.close();
  await watcherRx.close();
  await hub.close();
});

describe('$hub.subscriptions', () => {
  it('created, updated, secret_rotated, disabled (manual), enabled, deleted: each once, with the documented data', async () => {
    const rx = await receiver();
    const sub = await createSubscription(hub, { url: rx.url, channels: [freshChannel()] });
    expect((await hub.api(`/v1/subscriptions/${sub.id}`, { method: 'PATCH', body: { description: 'changed' } })).status).toBe(200);
    expect((await hub.api(`/v1/subscriptions/${sub.id}/rotate-secret`, { method: 'POST' })).status).toBe(200);
    expect((await hub.api(`/v1/subscriptions/${sub.id}`, { method: 'PATCH', body: { enabled: false } })).status).toBe(200);
    expect((await hub.api(`/v1/subscriptions/${sub.id}`, { method: 'PATCH', body: { enabled: true } })).status).toBe(200);
    expect((await hub.api(`/v1/subscriptions/${sub.id}`, { method: 'DELETE' })).status).toBe(204);
    const got = await reported(sub.id, [
      'subscription.created',
      'subscription.updated',
      'subscription.secret_rotated',
      'subscription.disabled',
      'subscription.enabled',
      'subscription.deleted',
    ]);
    for (const e of got) expect(e.channel).toBe('$hub.subscriptions');
    expect(got[0]!.data).toEqual({ subscription_id: sub.id, url: rx.url });
    expect(got[3]!.data).toEqual({ subscription_id: sub.id, url: rx.url, disabled_reason: 'manual' });
  });

  it('a 410 disables the subscription: subscription.disabled with disabled_reason "gone"', async () => {
    const rx = await receiver(() => ({ status: 410 }));
    const channel = freshChannel();
    const sub = await createSubscription(hub, { url: rx.url, channels: [channel] });
    await publish(hub, channel);
    const [, disabled] = await reported(sub.id, ['subscription.created', 'subscription.disabled']);
    expect(disabled!.data).toEqual({ subscription_id: sub.id, url: rx.url, disabled_reason: 'gone' });
  });

  it('auto-pause: subscription.disabled with disabled_reason "failing"', async () => {
    const rx = await receiver(() => ({ status: 500 }));
    const channel = freshChannel();
    const sub = await createSubscription(hub, { url: rx.url, channels: [channel], max_in_flight: 20, retry: { max_attempts: 1 } });
    await publishMany(hub, channel, 20);
    await waitFor(async () => about(watched(), sub.id).some((e) => e.type === 'subscription.disabled'), 15_000, 'paused');
    const disabled = about(watched(), sub.id).filter((e) => e.type === 'subscription.disabled');
    expect(disabled).toHaveLength(1);
    expect(disabled[0]!.data).toEqual({ subscription_id: sub.id, url: rx.url, disabled_reason: 'failing' });
    // Each delivery died at its one attempt: 20 delivery.dead, besides.
    await waitFor(async () => about(watched(), sub.id).filter((e) => e.type === 'delivery.dead').length === 20, 15_000, '20 dead');
  });

  it('no event about a subscription reaches that subscription', async () => {
    await createSubscription(hub, { url: (await receiver()).url, channels: [freshChannel()] }); // something to report
    await waitFor(async () => watched().length > 0);
    expect(about(watched(), watcher.id)).toEqual([]);
    // It was reported, to the others: the WebSocket saw its creation.
    const socket = await connect(hub.url, { bearer: API_KEY });
    try {
      const polled = await json<{ events: Envelope[] }>(hub.api('/v1/channels/$hub.subscriptions/events?limit=1000'));
      expect(about(polled.events, watcher.id).map((e) => e.type)).toEqual(['subscription.created']);
    } finally {
      socket.close();
    }
  });
});

describe('$hub.deliveries', () => {
  it('delivery.failing once, at the 3rd failed attempt; delivery.recovered when it then succeeds', async () => {
    let n = 0;
    const rx = await receiver(() => ({ status: ++n <= 4 ? 503 : 200 }));
    const channel = freshChannel();
    const sub = await createSubscription(hub, { url: rx.url, channels: [channel], retry: FAST_RETRY });
    const event = await publish(hub, channel);
    const delivery = await deliveryIn(hub, event.id, 'succeeded');
    const [, failing, recovered] = await reported(sub.id, ['subscription.created', 'delivery.failing', 'delivery.recovered']);
    expect(failing!.channel).toBe('$hub.deliveries');
    expect(failing!.data).toEqual({ delivery_id: delivery.id, subscription_id: sub.id, event_id: event.id, attempts: 3, last_status: 503, last_error: null });
    expect(recovered!.data).toEqual({ delivery_id: delivery.id, subscription_id: sub.id, event_id: event.id, attempts: 5, last_status: 200, last_error: null });
  });

  it('delivery.dead with its attempts', async () => {
    const rx = await receiver(() => ({ status: 500 }));
    const channel = freshChannel();
    const sub = await createSubscription(hub, { url: rx.url, channels: [channel], retry: { ...FAST_RETRY, max_attempts: 2 } });
    const event = await publish(hub, channel);
    const delivery = await deliveryIn(hub, event.id, 'dead');
    const [, dead] = await reported(sub.id, ['subscription.created', 'delivery.dead']);
    expect(dead!.data).toMatchObject({ delivery_id: delivery.id, subscription_id: sub.id, event_id: event.id, attempts: 2, last_status: 500 });
  });

  it('a success at the first attempts raises nothing', async () => {
    const rx = await receiver();
    const channel = freshChannel();
    const sub = await createSubscription(hub, { url: rx.url, channels: [channel] });
    const event = await publish(hub, channel);
    await deliveryIn(hub, event.id, 'succeeded');
    await reported(sub.id, ['subscription.created']);
    await new Promise((r) => setTimeout(r, 100));
    expect(typesOf(about(watched(), sub.id))).toEqual(['subscription.created']);
  });
});

describe('the hub channels are the hub’s', () => {
  it('a pattern that does not start with $ never matches them (">" alone does not)', async () => {
    const rx = await receiver();
    const all = await createSubscription(hub, { url: rx.url, channels: ['>'] });
    const channel = freshChannel();
    await createSubscription(hub, { url: (await receiver()).url, channels: [channel] }); // an operational event
    await publish(hub, channel);
    await rx.until((r) => r.length >= 1);
    await waitFor(async () => about(watched(), all.id).length > 0); // created after "all": reported to the watcher
    await new Promise((r) => setTimeout(r, 200));
    const channels = rx.received.map((r) => (JSON.parse(r.body) as Envelope).channel);
    expect(channels.filter((c) => c.startsWith('$'))).toEqual([]);
    expect(channels).toContain(channel);
    await hub.api(`/v1/subscriptions/${all.id}`, { method: 'DELETE' });
  });

  it('nobody may publish there: HTTP, batch and WebSocket are refused naming the channel', async () => {
    const one = await hub.api('/v1/events', { body: { channel: '$hub.x', type: 't', data: {} } });
    expect(one.status).toBe(400);
    expect(((await one.json()) as { error: { details: Array<{ field: string }> } }).error.details[0]!.field).toBe('channel');
    const batch = await hub.api('/v1/events/batch', { body: { events: [{ channel: '$hub.deliveries', type: 't', data: {} }] } });
    expect(batch.status).toBe(400);
    expect(((await batch.json()) as { error: { details: Array<{ field: string }> } }).error.details[0]!.field).toBe('events[0].channel');
    expect(await ws.request({ op: 'publish', channel: '$hub.subscriptions', type: 't', data: {} })).toMatchObject({ op: 'error', code: 'invalid_channel' });
  });

  it('read with a read key, or a token naming a $hub. pattern; a token granting ">" may not', async () => {
    const { key } = await createKey(hub, { name: 'reader', scopes: ['read'] });
    const polled = await fetch(`${hub.url}/v1/channels/$hub.subscriptions/events`, { headers: { authorization: `Bearer ${key}` } });
    expect(polled.status).toBe(200);
    const broad = await connect(hub.url, { query: token(['>']) });
    const named = await connect(hub.url, { query: token(['$hub.>']) });
    try {
      expect(await broad.request({ op: 'subscribe', channel: '$hub.deliveries', id: 1 })).toMatchObject({ op: 'error', code: 'forbidden' });
      expect(await named.request({ op: 'subscribe', channel: '$hub.deliveries', id: 1 })).toMatchObject({ op: 'subscribed' });
      const sse = await fetch(`${hub.url}/v1/channels/$hub.subscriptions/sse?token=${token(['>'])}`);
      expect(sse.status).toBe(403);
    } finally {
      broad.close();
      named.close();
    }
  });
});

describe('test events', () => {
  it('POST /v1/subscriptions/<id>/test: a $hub.test event to that subscription only, signed, whatever its patterns', async () => {
    const rx = await receiver();
    const sub = await createSubscription(hub, { url: rx.url, channels: [freshChannel()] });
    const res = await hub.api(`/v1/subscriptions/${sub.id}/test`, { method: 'POST' });
    expect(res.status).toBe(202);
    const sent = (await res.json()) as { event_id: string; delivery_id: string };
    const [got] = await rx.until((r) => r.length === 1);
    const envelope = new Webhook(sub.secret).verify(got!.body, got!.headers as Record<string, string>) as Envelope;
    expect(envelope).toMatchObject({ id: sent.event_id, channel: '$hub.test', type: 'pushhub.test', data: { subscription_id: sub.id } });
    expect(got!.headers['x-pushhub-delivery']).toBe(sent.delivery_id);
    // Custom type and data; the watcher (its patterns name $hub.>) gets neither.
    const custom = await json<{ event_id: string }>(hub.api(`/v1/subscriptions/${sub.id}/test`, { body: { type: 'ping.check', data: [1, 2] } }));
    const [, second] = await rx.until((r) => r.length === 2);
    expect(JSON.parse(second!.body)).toMatchObject({ id: custom.event_id, type: 'ping.check', data: [1, 2] });
    expect(watched().filter((e) => e.channel === '$hub.test')).toEqual([]);
    expect((await hub.api('/v1/subscriptions/sub_nope/test', { method: 'POST' })).status).toBe(404);
    const bad = await hub.api(`/v1/subscriptions/${sub.id}/test`, { body: { type: 'a b' } });
    expect(bad.status).toBe(400);
  });
});

describe('custom headers', () => {
  it('are sent on every delivery; reserved names refused naming the field; values shown only to a subscriptions key; never logged', async () => {
    const rx = await receiver();
    const channel = freshChannel();
    const secretValue = 'tenant-secret-value-31337';
    const sub = await createSubscription(hub, { url: rx.url, channels: [channel], headers: { 'X-Tenant': secretValue, Authorization: 'Basic abc' } });
    expect(sub.headers).toEqual({ 'X-Tenant': secretValue, Authorization: 'Basic abc' });
    await publish(hub, channel);
    const [got] = await rx.until((r) => r.length === 1);
    expect(got!.headers['x-tenant']).toBe(secretValue);
    expect(got!.headers.authorization).toBe('Basic abc');
    new Webhook(sub.secret).verify(got!.body, got!.headers as Record<string, string>);

    const reader = await createKey(hub, { name: 'reader', scopes: ['read'] });
    const writer = await createKey(hub, { name: 'writer', scopes: ['subscriptions'] });
    const read = (key: string) => json<{ headers: Record<string, string | null> }>(fetch(`${hub.url}/v1/subscriptions/${sub.id}`, { headers: { authorization: `Bearer ${key}` } }));
    expect((await read(reader.key)).headers).toEqual({ 'X-Tenant': null, Authorization: null });
    expect((await read(writer.key)).headers).toEqual({ 'X-Tenant': secretValue, Authorization: 'Basic abc' });

    for (const name of ['webhook-signature', 'X-Pushhub-Attempt', 'x-pushhub-anything', 'Content-Type', 'bad name']) {
      const res = await hub.api(`/v1/subscriptions/${sub.id}`, { method: 'PATCH', body: { headers: { [name]: 'v' } } });
      expect(res.status, name).toBe(400);
      const body = (await res.json()) as { error: { code: string; details: Array<{ field: string }> } };
      expect(body.error.code).toBe('invalid_request');
      expect(body.error.details[0]!.field).toBe(`headers.${name}`);
    }
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`x-h${i}`, 'v']));
    const tooMany = await hub.api(`/v1/subscriptions/${sub.id}`, { method: 'PATCH', body: { headers: many } });
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: { details: Array<{ field: string }> } }).error.details[0]!.field).toBe('headers');
    const injected = await hub.api(`/v1/subscriptions/${sub.id}`, { method: 'PATCH', body: { headers: { 'x-a': 'v\r\nx-b: 1' } } });
    expect(injected.status).toBe(400);

    // Cleared with {}; the logs never held a value.
    const cleared = await json<{ headers: Record<string, string> }>(hub.api(`/v1/subscriptions/${sub.id}`, { method: 'PATCH', body: { headers: {} } }));
    expect(cleared.headers).toEqual({});
    expect(JSON.stringify(hub.logs)).not.toContain(secretValue);
  });
});
