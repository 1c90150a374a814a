import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';
import { handMadeJwt, mintToken, publish } from '../helpers/tokens.js';
import { connect, type EventFrame } from '../helpers/ws-client.js';

let hub: TestHub;
beforeAll(async () => {
  hub = await startHub({
    config: {
      realtime: {
        ...(await import('../../src/config.js')).loadConfig({}).realtime,
        maxSubscriptionsPerConnection: 3,
        maxFrameBytes: 4096,
        publishRatePerS: 5,
        pingIntervalMs: 100,
        replayPageSize: 3,
      },
    },
  });
});
afterAll(() => hub.close());

const nowS = () => Math.floor(Date.now() / 1000);

describe('WebSocket pub/sub', () => {
  it('subscribes and receives events published over HTTP, in order, with the envelope', async () => {
    const c = await connect(hub.url, { bearer: API_KEY });
    const sub = await c.request({ op: 'subscribe', channel: 'orders' });
    expect(sub).toMatchObject({ op: 'subscribed', channel: 'orders', resumed: false });
    expect(sub).not.toHaveProperty('reason');
    const sent = [await publish(hub, 'orders', { n: 1 }), await publish(hub, 'other', 0), await publish(hub, 'orders', { n: 2 })];
    const events = await c.waitEvents(2);
    expect(events.map((e) => e.id)).toEqual([sent[0]!.id, sent[2]!.id]);
    expect(events[0]).toMatchObject({ channel: 'orders', type: 'test', cursor: sent[0]!.cursor, spec_version: '1', data: { n: 1 } });
    expect(await c.request({ op: 'unsubscribe', channel: 'orders' })).toMatchObject({ op: 'unsubscribed', channel: 'orders' });
    await publish(hub, 'orders', { n: 3 });
    expect((await c.request({ op: 'ping' })).op).toBe('pong');
    expect(c.events()).toHaveLength(2);
    c.close();
  });

  it('answers frames that arrive together in the order sent, a subscribe waiting for the store included', async () => {
    const first = await publish(hub, 'together', 0);
    await publish(hub, 'together', 1);
    const c = await connect(hub.url, { bearer: API_KEY });
    // One TCP write: the hub parses all four frames in one go, while the first subscribe
    // still waits for the store.
    const socket = (c.ws as unknown as { _socket: Socket })._socket;
    socket.cork();
    c.send({ op: 'subscribe', channel: 'together', cursor: first.cursor, id: 101 });
    c.send({ op: 'unsubscribe', channel: 'together', id: 102 });
    c.send({ op: 'subscribe', channel: 'together', id: 103 });
    c.send({ op: 'ping', id: 104 });
    socket.uncork();
    await c.next((f) => f.id === 104);
    expect(c.frames.filter((f) => f.id !== undefined).map((f) => [f.op, f.id])).toEqual([
      ['subscribed', 101],
      ['unsubscribed', 102],
      ['subscribed', 103],
      ['pong', 104],
    ]);
    const live = await publish(hub, 'together', 2);
    await c.next((f) => f.op === 'event' && (f as EventFrame).event.id === live.id);
    expect((await c.request({ op: 'ping' })).op).toBe('pong');
    expect(c.events('together').filter((e) => e.id === live.id)).toHaveLength(1);
    c.close();
  });

  it('resumes from a cursor across replay pages, then goes live with nothing repeated', async () => {
    const first = await publish(hub, 'resume', 0);
    for (let i = 1; i <= 10; i++) await publish(hub, 'resume', i);
    const c = await connect(hub.url, { bearer: API_KEY });
    const sub = await c.request({ op: 'subscribe', channel: 'resume', cursor: first.cursor });
    expect(sub).toMatchObject({ resumed: true, cursor: first.cursor });
    await c.waitEvents(10);
    await publish(hub, 'resume', 11);
    const events = await c.waitEvents(11);
    expect(events.map((e) => e.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    c.close();
  });

  it('answers a cursor it cannot resume with resumed:false and the reason, then delivers live', async () => {
    const c = await connect(hub.url, { bearer: API_KEY });
    const foreign = await c.request({ op: 'subscribe', channel: 'gap', cursor: 'abcdefghij-5' });
    expect(foreign).toMatchObject({ resumed: false, reason: 'foreign_cursor' });
    c.close();
    const old = await publish(hub, 'gap', 'old');
    await publish(hub, 'gap', 'newer');
    await hub.app.store.pruneEvents(Date.now() + 1000, 1000); // retention removes everything
    const c2 = await connect(hub.url, { bearer: API_KEY });
    const expired = await c2.request({ op: 'subscribe', channel: 'gap', cursor: old.cursor });
    expect(expired).toMatchObject({ resumed: false, reason: 'cursor_expired' });
    await publish(hub, 'gap', 'live');
    await c2.next((f) => f.op === 'event');
    expect(c2.events().map((e) => e.data)).toEqual(['live']); // nothing replayed
    expect((await c2.request({ op: 'subscribe', channel: 'gap', cursor: 'nope' })).code).toBe('invalid_cursor');
    c2.close();
  });

  it('acknowledges a WebSocket publish after commit, through the same ingest path', async () => {
    const c = await connect(hub.url, { bearer: API_KEY });
    await c.request({ op: 'subscribe', channel: 'chat.room1' });
    const ack = await c.request({ op: 'publish', channel: 'chat.room1', type: 'message', data: { text: 'hi' } });
    expect(ack).toMatchObject({ op: 'ack', event_id: expect.stringMatching(/^evt_/), cursor: expect.any(String) });
    const stored = await (await hub.api(`/v1/events/${String(ack.event_id)}`)).json();
    expect(stored).toMatchObject({ event: { channel: 'chat.room1', type: 'message', data: { text: 'hi' }, cursor: ack.cursor } });
    const [event] = await c.waitEvents(1);
    expect(event!.id).toBe(ack.event_id);
    c.close();
  });

  it('answers bad frames with error frames and keeps the connection', async () => {
    const c = await connect(hub.url, { bearer: API_KEY });
    c.ws.send('{not json');
    expect(await c.next((f) => f.op === 'error')).toMatchObject({ code: 'invalid_message' });
    c.ws.send(Buffer.from('{}'), { binary: true });
    expect(await c.request({ op: 'dance' })).toMatchObject({ op: 'error', code: 'unknown_op' });
    expect(await c.request({ op: 'subscribe', channel: '$hub' })).toMatchObject({ code: 'invalid_channel' });
    expect(await c.request({ op: 'subscribe', channel: 'a', cursor: 12 })).toMatchObject({ code: 'invalid_cursor' });
    expect(await c.request({ op: 'publish', channel: 'a', type: 't' })).toMatchObject({ code: 'invalid_message' });
    expect(c.frames.filter((f) => f.op === 'error' && f.id === undefined)).toHaveLength(2);
    for (const ch of ['s1', 's2', 's3']) expect((await c.request({ op: 'subscribe', channel: ch })).op).toBe('subscribed');
    expect(await c.request({ op: 'subscribe', channel: 's4' })).toMatchObject({ code: 'too_many_subscriptions' });
    expect((await c.request({ op: 'subscribe', channel: 's1' })).op).toBe('subscribed'); // re-subscribing replaces
    const replies = await Promise.all(Array.from({ length: 8 }, () => c.request({ op: 'publish', channel: 'rl', type: 't', data: 1 })));
    expect(replies.filter((r) => r.op === 'ack')).toHaveLength(5);
    expect(replies.filter((r) => r.code === 'rate_limited')).toHaveLength(3);
    expect((await c.request({ op: 'ping' })).op).toBe('pong');
    c.close();
  });

  it('closes with 1009 on a frame over the size limit', async () => {
    const c = await connect(hub.url, { bearer: API_KEY });
    c.send({ op: 'publish', channel: 'big', type: 't', data: 'x'.repeat(5000) });
    expect((await c.closed).code).toBe(1009);
  });

  it('drops a peer that leaves two pings unanswered', async () => {
    const c = await connect(hub.url, { bearer: API_KEY }, { autoPong: false });
    const started = Date.now();
    expect((await c.closed).code).toBe(1006); // terminated, no close frame
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    const alive = await connect(hub.url, { bearer: API_KEY });
    await new Promise((r) => setTimeout(r, 400));
    expect(alive.ws.readyState).toBe(WebSocket.OPEN);
    alive.close();
  });
});

describe('WebSocket auth', () => {
  it('a token for channel A cannot subscribe to B nor publish without a publish grant', async () => {
    const token = await mintToken(hub, { channels: ['a.*'], sub: 'user-1' });
    const c = await connect(hub.url, { query: token });
    expect(await c.request({ op: 'subscribe', channel: 'a.x' })).toMatchObject({ op: 'subscribed' });
    expect(await c.request({ op: 'subscribe', channel: 'b' })).toMatchObject({ op: 'error', code: 'forbidden' });
    expect(await c.request({ op: 'publish', channel: 'a.x', type: 't', data: 1 })).toMatchObject({ code: 'forbidden' });
    c.close();

    const publisher = await connect(hub.url, { bearer: await mintToken(hub, { channels: [], publish: ['chat.>'] }) });
    expect(await publisher.request({ op: 'publish', channel: 'chat.r.1', type: 't', data: 1 })).toMatchObject({ op: 'ack' });
    expect(await publisher.request({ op: 'publish', channel: 'chat', type: 't', data: 1 })).toMatchObject({ code: 'forbidden' });
    publisher.close();
  });

  it('closes with 4001 for a missing, invalid or expired token', async () => {
    for (const credential of [undefined, { query: 'garbage' }, { bearer: handMadeJwt({ exp: nowS() - 5, channels: ['a'] }) }]) {
      const c = await connect(hub.url, credential);
      expect((await c.closed).code).toBe(4001);
    }
  });

  it('closes with 4001 when the token expires while connected', async () => {
    const c = await connect(hub.url, { query: handMadeJwt({ exp: nowS() + 1, channels: ['a'] }) });
    expect((await c.request({ op: 'subscribe', channel: 'a' })).op).toBe('subscribed');
    expect(await c.closed).toMatchObject({ code: 4001, reason: 'token expired' });
  });

  it('accepts a fractional exp (RFC 7519 NumericDate, as PyJWT mints it) and closes at that instant', async () => {
    const exp = Date.now() / 1000 + 1.3;
    const c = await connect(hub.url, { query: handMadeJwt({ exp, channels: ['a'] }) });
    expect((await c.request({ op: 'subscribe', channel: 'a' })).op).toBe('subscribed');
    expect(await c.closed).toMatchObject({ code: 4001, reason: 'token expired' });
    expect(Date.now()).toBeGreaterThanOrEqual(Math.floor(exp * 1000));
  });

  it('tokens work on the polling fallback, and never reach the logs', async () => {
    const token = await mintToken(hub, { channels: ['poll'] });
    await publish(hub, 'poll', 1);
    const res = await fetch(`${hub.url}/v1/channels/poll/events?token=${token}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { events: unknown[] }).events).toHaveLength(1);
    expect((await fetch(`${hub.url}/v1/channels/other/events?token=${token}`)).status).toBe(403);
    const bad = await connect(hub.url, { query: `${token}x` });
    await bad.closed;
    const text = JSON.stringify(hub.logs);
    expect(text).not.toContain(token.split('.')[2]);
    expect(text).toContain('[REDACTED]');
  });

  it('refuses other upgrade paths with 404', async () => {
    const ws = new WebSocket(hub.url.replace('http', 'ws') + '/v1/other');
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!)));
    expect(status).toBe(404);
  });
});

describe('POST /v1/tokens', () => {
  it('mints with the server key only, and validates the body', async () => {
    const res = await hub.api('/v1/tokens', { body: { channels: ['orders'], publish: ['orders'], sub: 'u', ttl_s: 60 } });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { token: string; expires_at: string };
    expect(Date.parse(body.expires_at) - Date.now()).toBeGreaterThan(55_000);
    const bad = await hub.api('/v1/tokens', { body: { channels: ['a..b'], ttl_s: 0 } });
    expect(bad.status).toBe(400);
    const details = ((await bad.json()) as { error: { details: Array<{ field: string }> } }).error.details;
    expect(details.map((d) => d.field).sort()).toEqual(['channels[0]', 'ttl_s']);
    const asSubscriber = await hub.api('/v1/tokens', { body: { channels: ['a'] }, headers: { authorization: `Bearer ${body.token}` } });
    expect(asSubscriber.status).toBe(403);
  });
});

describe('metrics', () => {
  it('exposes connections, subscriptions, deliveries and closes', async () => {
    const text = await (await hub.api('/metrics')).text();
    for (const name of [
      'pushhub_realtime_connections{transport="ws"}',
      'pushhub_realtime_subscriptions',
      'pushhub_realtime_events_delivered_total{transport="ws",phase="live"}',
      'pushhub_realtime_events_delivered_total{transport="ws",phase="replay"}',
      'pushhub_realtime_ws_closes_total{code="4001"}',
      'pushhub_realtime_replay_events_bucket',
    ]) {
      expect(text).toContain(name);
    }
  });
});
