import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';
import { SseClient } from '../helpers/sse-client.js';
import { expectApiError, watchWrites, type WriteWatcher } from '../helpers/store-writes.js';
import { handMadeJwt, mintToken } from '../helpers/tokens.js';
import { createSubscription, json } from '../helpers/webhooks.js';
import { connect } from '../helpers/ws-client.js';

/**
 * The auth matrix: every route of docs/protocol.md and every WebSocket/SSE operation, tried with every
 * kind of credential. Each refusal has the right code in the documented error shape and writes
 * nothing; each granted case works.
 */

let hub: TestHub;
let writes: WriteWatcher;
const fx = { eventId: '', subscriptionId: '', spareSubscriptionId: '', deliveryId: '', mintedToken: '' };

beforeAll(async () => {
  hub = await startHub({
    config: { allowPrivateUrls: true, bodyLimitBytes: 2048, batchBodyLimitBytes: 4096, logLevel: 'warn' },
  });
  writes = watchWrites(hub);
  // A disabled subscription holds its deliveries as pending: nothing changes behind the test's back.
  const sub = await createSubscription(hub, { url: 'http://127.0.0.1:9/hook', channels: ['orders'], enabled: false });
  const spare = await createSubscription(hub, { url: 'http://127.0.0.1:9/hook', channels: ['spare'], enabled: false });
  const published = await json<{ id: string }>(hub.api('/v1/events', { body: { channel: 'orders', type: 't', data: 1 } }));
  const status = await json<{ deliveries: Array<{ id: string }> }>(hub.api(`/v1/events/${published.id}`));
  Object.assign(fx, {
    eventId: published.id,
    subscriptionId: sub.id,
    spareSubscriptionId: spare.id,
    deliveryId: status.deliveries[0]!.id,
    mintedToken: await mintToken(hub, { channels: ['orders'], publish: ['orders'], sub: 'user-1' }),
  });
});
afterAll(async () => {
  writes?.close();
  await hub?.close();
});

// ── the routes ───────────────────────────────────────────────────────────────────────────

interface HttpRoute {
  name: string;
  /** `server`: the API key only. `channel`: the API key, or a token granting the channel. */
  access: 'server' | 'channel';
  /** What the API key gets: the route works. */
  granted: number;
  request(): { method: string; path: string; body?: unknown };
}

const route = (name: string, access: HttpRoute['access'], granted: number, request: HttpRoute['request']): HttpRoute => ({
  name,
  access,
  granted,
  request,
});
const event = { channel: 'orders', type: 't', data: { n: 1 } };

/** Every HTTP route of docs/protocol.md but the unauthenticated operations ones. */
const ROUTES: HttpRoute[] = [
  route('POST /v1/events', 'server', 202, () => ({ method: 'POST', path: '/v1/events', body: event })),
  route('POST /v1/events/batch', 'server', 202, () => ({ method: 'POST', path: '/v1/events/batch', body: { events: [event] } })),
  route('GET /v1/events/:id', 'server', 200, () => ({ method: 'GET', path: `/v1/events/${fx.eventId}` })),
  route('GET /v1/channels/:channel/events', 'channel', 200, () => ({ method: 'GET', path: '/v1/channels/orders/events' })),
  route('GET /v1/channels/:channel/sse', 'channel', 200, () => ({ method: 'GET', path: '/v1/channels/orders/sse' })),
  route('POST /v1/subscriptions', 'server', 201, () => ({
    method: 'POST',
    path: '/v1/subscriptions',
    body: { url: 'http://127.0.0.1:9/hook', channels: ['orders'], enabled: false },
  })),
  route('GET /v1/subscriptions', 'server', 200, () => ({ method: 'GET', path: '/v1/subscriptions' })),
  route('GET /v1/subscriptions/:id', 'server', 200, () => ({ method: 'GET', path: `/v1/subscriptions/${fx.subscriptionId}` })),
  route('PATCH /v1/subscriptions/:id', 'server', 200, () => ({
    method: 'PATCH',
    path: `/v1/subscriptions/${fx.subscriptionId}`,
    body: { description: 'changed' },
  })),
  route('DELETE /v1/subscriptions/:id', 'server', 204, () => ({ method: 'DELETE', path: `/v1/subscriptions/${fx.spareSubscriptionId}` })),
  route('POST /v1/subscriptions/:id/rotate-secret', 'server', 200, () => ({
    method: 'POST',
    path: `/v1/subscriptions/${fx.subscriptionId}/rotate-secret`,
  })),
  route('POST /v1/subscriptions/:id/redrive', 'server', 202, () => ({
    method: 'POST',
    path: `/v1/subscriptions/${fx.subscriptionId}/redrive`,
    body: { state: 'dead' },
  })),
  route('GET /v1/deliveries', 'server', 200, () => ({ method: 'GET', path: '/v1/deliveries?state=pending' })),
  route('GET /v1/deliveries/:id', 'server', 200, () => ({ method: 'GET', path: `/v1/deliveries/${fx.deliveryId}` })),
  route('POST /v1/deliveries/:id/retry', 'server', 202, () => ({ method: 'POST', path: `/v1/deliveries/${fx.deliveryId}/retry` })),
  route('POST /v1/tokens', 'server', 201, () => ({ method: 'POST', path: '/v1/tokens', body: { channels: ['orders'] } })),
];

// ── the credentials ──────────────────────────────────────────────────────────────────────

type Refusal = 401 | 403;
/** What a WebSocket gets: closed with 4001 at connect, or open with these answers on channel `orders`. */
type WsOutcome = 4001 | { subscribe: 'subscribed' | 'forbidden'; publish: 'ack' | 'forbidden' };

interface Credential {
  name: string;
  /** The `Authorization` header value (built when the test runs: tokens carry times). */
  header: () => string | undefined;
  /** The same credential as `?token=` (WebSocket, SSE, polling); absent when it has no bare form. */
  query?: () => string;
  server: Refusal | 'granted';
  channel: Refusal | 'granted';
  ws: WsOutcome;
}

const nowS = (): number => Math.floor(Date.now() / 1000);
const OTHER_SECRET = 'another-token-secret-0123456789abcdef0123';
const claims = (over: Record<string, unknown> = {}) => ({ exp: nowS() + 600, channels: ['>'], publish: ['>'], ...over });
/** A bare credential: sent as `Authorization: Bearer …` or as `?token=…`. */
const bare = (value: () => string) => ({ header: () => `Bearer ${value()}`, query: value });
/** A valid token whose payload was changed after signing. */
function tampered(): string {
  const [header, , signature] = handMadeJwt(claims({ channels: ['nothing'], publish: [] })).split('.');
  return `${header}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.${signature}`;
}
const FORBIDDEN = { subscribe: 'forbidden', publish: 'forbidden' } as const;
const EVERYTHING = { subscribe: 'subscribed', publish: 'ack' } as const;

const CREDENTIALS: Credential[] = [
  //  credential                                   how it is sent                                                                server   channel    WebSocket
  { name: 'no credential',                          header: () => undefined,                                                      server: 401, channel: 401, ws: 4001 },
  { name: 'a wrong API key',                        ...bare(() => 'wrong-api-key-0123456789'),                                    server: 401, channel: 401, ws: 4001 },
  { name: 'the API key plus one character',         ...bare(() => `${API_KEY}x`),                                                 server: 401, channel: 401, ws: 4001 },
  { name: 'the API key in a Basic header',          header: () => `Basic ${API_KEY}`,                                             server: 401, channel: 401, ws: 4001 },
  { name: 'a malformed token',                      ...bare(() => 'eyJhbGciOiJIUzI1NiJ9.not-json.c2ln'),                          server: 401, channel: 401, ws: 4001 },
  { name: 'a token with a tampered payload',        ...bare(tampered),                                                            server: 401, channel: 401, ws: 4001 },
  { name: 'a token signed with another secret',     ...bare(() => handMadeJwt(claims(), OTHER_SECRET)),                            server: 401, channel: 401, ws: 4001 },
  { name: 'a token signed with the API key',        ...bare(() => handMadeJwt(claims(), API_KEY)),                                 server: 401, channel: 401, ws: 4001 },
  { name: 'an expired token',                       ...bare(() => handMadeJwt(claims({ exp: nowS() - 5 }))),                       server: 401, channel: 401, ws: 4001 },
  { name: 'a token not valid yet (nbf)',            ...bare(() => handMadeJwt(claims({ nbf: nowS() + 600 }))),                     server: 401, channel: 401, ws: 4001 },
  { name: 'a token without exp',                    ...bare(() => handMadeJwt(claims({ exp: undefined }))),                        server: 401, channel: 401, ws: 4001 },
  { name: 'a token with alg none',                  ...bare(() => handMadeJwt(claims(), undefined, 'none')),                       server: 401, channel: 401, ws: 4001 },
  { name: 'a token with alg HS512',                 ...bare(() => handMadeJwt(claims(), undefined, 'HS512')),                      server: 401, channel: 401, ws: 4001 },
  { name: 'a token with alg RS256 (HMAC-signed)',   ...bare(() => handMadeJwt(claims(), undefined, 'RS256')),                      server: 401, channel: 401, ws: 4001 },
  { name: 'a token with invalid claims',            ...bare(() => handMadeJwt(claims({ channels: 'orders' }))),                    server: 401, channel: 401, ws: 4001 },
  { name: 'a token granting nothing',               ...bare(() => handMadeJwt(claims({ channels: [], publish: undefined }))),      server: 403, channel: 403, ws: FORBIDDEN },
  { name: 'a token granting other channels',        ...bare(() => handMadeJwt(claims({ channels: ['orders.*'], publish: ['x'] }))), server: 403, channel: 403, ws: FORBIDDEN },
  { name: 'a token granting subscribe only',        ...bare(() => handMadeJwt(claims({ publish: undefined }))),                    server: 403, channel: 'granted', ws: { subscribe: 'subscribed', publish: 'forbidden' } },
  { name: 'a token from POST /v1/tokens',           ...bare(() => fx.mintedToken),                                                server: 403, channel: 'granted', ws: EVERYTHING },
  { name: 'a token granting everything',            ...bare(() => handMadeJwt(claims())),                                          server: 403, channel: 'granted', ws: EVERYTHING },
  { name: 'the API key',                            ...bare(() => API_KEY),                                                       server: 'granted', channel: 'granted', ws: EVERYTHING },
];

type Via = 'header' | 'query';
/** Each credential as a header, and (where it has a bare form) as `?token=` on the routes that read it. */
function transports(c: Credential, access: 'server' | 'channel' | 'ws'): Via[] {
  return access !== 'server' && c.query ? ['header', 'query'] : ['header'];
}

function withToken(path: string, token: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

async function send(r: HttpRoute, c: Credential, via: Via): Promise<Response> {
  const { method, path, body } = r.request();
  const header = c.header();
  const headers: Record<string, string> = { accept: 'application/json, text/event-stream' };
  if (via === 'header' && header !== undefined) headers.authorization = header;
  const url = via === 'query' ? withToken(path, c.query!()) : path;
  return fetch(hub.url + url, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

// ── HTTP ─────────────────────────────────────────────────────────────────────────────────

const httpRows = CREDENTIALS.flatMap((c) =>
  ROUTES.flatMap((r) =>
    transports(c, r.access).map((via) => {
      const expected = c[r.access];
      return [`${r.name} · ${c.name} (${via}) → ${expected === 'granted' ? r.granted : expected}`, { r, c, via, expected }] as const;
    }),
  ),
);

describe('HTTP routes × credentials', () => {
  it.each(httpRows)('%s', async (_label, { r, c, via, expected }) => {
    const before = writes.version();
    const res = await send(r, c, via);
    if (expected === 'granted') {
      if (res.status !== r.granted) expect.fail(`${res.status} ${await res.text()}`);
      if (r.name.endsWith('/sse')) {
        expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
        await res.body!.cancel();
      } else if (res.status !== 204) {
        expect(await res.json()).toBeTypeOf('object');
      }
      return;
    }
    await expectApiError(res, expected, expected === 401 ? 'unauthorized' : 'forbidden');
    expect(writes.version(), 'a refused request wrote something').toBe(before);
  });
});

// ── WebSocket ────────────────────────────────────────────────────────────────────────────

const wsRows = CREDENTIALS.flatMap((c) =>
  transports(c, 'ws').map((via) => {
    const outcome = c.ws === 4001 ? 'close 4001' : `open; subscribe → ${c.ws.subscribe}; publish → ${c.ws.publish}`;
    return [`GET /v1/ws · ${c.name} (${via}) → ${outcome}`, { c, via }] as const;
  }),
);

describe('WebSocket connect, subscribe and publish × credentials', () => {
  it.each(wsRows)('%s', async (_label, { c, via }) => {
    const header = c.header();
    const socket = await connect(
      hub.url,
      via === 'query' ? { query: c.query!() } : undefined,
      header !== undefined && via === 'header' ? { headers: { authorization: header } } : {},
    );
    if (c.ws === 4001) {
      expect(await socket.closed).toMatchObject({ code: 4001 });
      expect(socket.frames).toEqual([]);
      return;
    }
    const subscribed = await socket.request({ op: 'subscribe', channel: 'orders' });
    if (c.ws.subscribe === 'subscribed') expect(subscribed).toMatchObject({ op: 'subscribed', channel: 'orders' });
    else expect(subscribed).toMatchObject({ op: 'error', code: 'forbidden' });

    const before = writes.version();
    const published = await socket.request({ op: 'publish', channel: 'orders', type: 't', data: 1 });
    if (c.ws.publish === 'ack') {
      expect(published).toMatchObject({ op: 'ack', event_id: expect.stringMatching(/^evt_/) });
    } else {
      expect(published).toMatchObject({ op: 'error', code: 'forbidden' });
      expect(writes.version(), 'a refused publish wrote something').toBe(before);
    }
    // Needing no grant, these work for every credential that opened a connection.
    expect(await socket.request({ op: 'unsubscribe', channel: 'orders' })).toMatchObject({ op: 'unsubscribed' });
    expect(await socket.request({ op: 'ping' })).toMatchObject({ op: 'pong' });
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
    socket.close();
    await socket.closed;
  });
});

// ── the order of checks ──────────────────────────────────────────────────────────────────

/** Requests wrong in every other way too: the credential is still what is judged first. */
const BAD_INPUT: Array<[string, { method: string; path: string; body?: string; contentType?: string }]> = [
  ['POST /v1/events with malformed JSON', { method: 'POST', path: '/v1/events', body: '{"channel":' }],
  ['POST /v1/events with an invalid event', { method: 'POST', path: '/v1/events', body: '{"channel":"$x"}' }],
  ['POST /v1/events over the body limit', { method: 'POST', path: '/v1/events', body: JSON.stringify({ ...event, data: 'x'.repeat(4096) }) }],
  ['POST /v1/events as text/plain', { method: 'POST', path: '/v1/events', body: 'hello', contentType: 'text/plain' }],
  ['POST /v1/events/batch over the batch limit', { method: 'POST', path: '/v1/events/batch', body: JSON.stringify({ events: Array(200).fill(event) }) }],
  ['POST /v1/subscriptions with an invalid body', { method: 'POST', path: '/v1/subscriptions', body: '{"url":"ftp://x"}' }],
  ['PATCH /v1/subscriptions/:id of an unknown id', { method: 'PATCH', path: '/v1/subscriptions/sub_nope', body: '{}' }],
  ['POST /v1/subscriptions/:id/redrive with a bad body', { method: 'POST', path: '/v1/subscriptions/sub_nope/redrive', body: '[]' }],
  ['GET /v1/deliveries with a bad query', { method: 'GET', path: '/v1/deliveries?limit=0&state=nope' }],
  ['GET /v1/deliveries/:id of an unknown id', { method: 'GET', path: '/v1/deliveries/dlv_nope' }],
  ['POST /v1/tokens with a bad body', { method: 'POST', path: '/v1/tokens', body: '{"channels":"x","ttl_s":-1}' }],
  ['GET /v1/events/:id of an unknown id', { method: 'GET', path: '/v1/events/evt_nope' }],
  ['polling an invalid channel', { method: 'GET', path: '/v1/channels/$x/events' }],
  ['polling with a malformed cursor and limit', { method: 'GET', path: '/v1/channels/orders/events?after=zzz&limit=0' }],
  ['SSE on an invalid channel', { method: 'GET', path: '/v1/channels/a..b/sse' }],
  ['SSE with a malformed Last-Event-ID', { method: 'GET', path: '/v1/channels/orders/sse?after=zzz' }],
];

describe('a missing credential is judged before the body, path and query', () => {
  it.each(BAD_INPUT)('%s → 401', async (_name, { method, path, body, contentType }) => {
    const before = writes.version();
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = contentType ?? 'application/json';
    await expectApiError(await fetch(hub.url + path, { method, headers, body }), 401, 'unauthorized');
    expect(writes.version()).toBe(before);
  });
});

describe('credentials in the query string', () => {
  it.each(ROUTES.filter((r) => r.access === 'server').map((r) => [r.name, r] as const))(
    '%s does not read ?token=, not even the API key → 401',
    async (_name, r) => {
      const before = writes.version();
      const { method, path, body } = r.request();
      const res = await fetch(hub.url + withToken(path, API_KEY), {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      await expectApiError(res, 401, 'unauthorized');
      expect(writes.version()).toBe(before);
    },
  );
});

describe('token lifetime bounds the connection', () => {
  it('an SSE stream ends when its token expires', async () => {
    const sse = await SseClient.open(`${hub.url}/v1/channels/orders/sse?token=${handMadeJwt(claims({ exp: nowS() + 1 }))}`);
    expect(sse.response.status).toBe(200);
    await Promise.race([sse.done, new Promise((_, reject) => setTimeout(() => reject(new Error('stream still open')), 4000))]);
  });
});

describe('unauthenticated by design', () => {
  it.each(['/healthz', '/readyz', '/metrics'])('GET %s answers without a credential', async (path) => {
    expect((await fetch(hub.url + path)).status).toBe(200);
  });
});
