import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFrameSchemas } from '../../src/realtime/frames.js';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';
import { SseClient } from '../helpers/sse-client.js';
import { expectApiError, watchWrites, type WriteWatcher } from '../helpers/store-writes.js';
import { handMadeJwt, mintToken } from '../helpers/tokens.js';
import { createSubscription, json, waitFor } from '../helpers/webhooks.js';
import { connect } from '../helpers/ws-client.js';

/**
 * The auth matrix: every route of docs/protocol.md and every WebSocket/SSE operation, tried with every
 * kind of credential: the root key, an API key of each scope, unknown, revoked, expired and
 * malformed keys, and tokens of every sort. Each refusal has the right code in the documented
 * error shape and writes nothing; each granted case works. The routes come from the hub's own
 * catalogue and the WebSocket ops from its frame schemas: one without a row here fails.
 */

type Scope = 'publish' | 'read' | 'subscriptions' | 'tokens' | 'admin';
const SCOPES: Scope[] = ['publish', 'read', 'subscriptions', 'tokens', 'admin'];
/** docs/protocol.md § API keys, written out here rather than imported: admin is everything, subscriptions includes read. */
const grants = (held: readonly Scope[], needed: Scope): boolean =>
  held.some((s) => s === needed || s === 'admin' || (s === 'subscriptions' && needed === 'read'));

let hub: TestHub;
let writes: WriteWatcher;
const fx = { eventId: '', subscriptionId: '', deliveryId: '', mintedToken: '', taskId: '' };
/** A live key of each scope; keys revoked and expired (each used once before, so the hub had it in memory). */
const keys: Record<Scope, string> & { revoked: string; expired: string } = {
  publish: '', read: '', subscriptions: '', tokens: '', admin: '', revoked: '', expired: '',
};

interface CreatedKey {
  id: string;
  key: string;
}
const createKey = (body: Record<string, unknown>): Promise<CreatedKey> => json<CreatedKey>(hub.api('/v1/keys', { body }));
const usesKey = async (key: string): Promise<number> => (await fetch(`${hub.url}/v1/keys`, { headers: { authorization: `Bearer ${key}` } })).status;

beforeAll(async () => {
  hub = await startHub({
    // last_used_at is written at close only, and channel.occupied/vacated (events written a
    // moment after a subscribe or its end) are off: the write watcher sees no bookkeeping mid-test.
    config: {
      allowPrivateUrls: true,
      bodyLimitBytes: 2048,
      batchBodyLimitBytes: 4096,
      logLevel: 'warn',
      keyUsageFlushMs: 3_600_000,
      realtime: { occupancyEvents: false },
    },
  });
  writes = watchWrites(hub);
  // A disabled subscription holds its deliveries as pending: nothing changes behind the test's back.
  const sub = await createSubscription(hub, { url: 'http://127.0.0.1:9/hook', channels: ['orders'], enabled: false });
  const published = await json<{ id: string }>(hub.api('/v1/events', { body: { channel: 'orders', type: 't', data: 1 } }));
  const status = await json<{ deliveries: Array<{ id: string }> }>(hub.api(`/v1/events/${published.id}`));
  Object.assign(fx, {
    eventId: published.id,
    subscriptionId: sub.id,
    deliveryId: status.deliveries[0]!.id,
    mintedToken: await mintToken(hub, { channels: ['orders'], publish: ['orders'], sub: 'user-1' }),
    taskId: await replayed(sub.id),
  });
  for (const scope of SCOPES) keys[scope] = (await createKey({ name: `only ${scope}`, scopes: [scope] })).key;
  const revoked = await createKey({ name: 'revoked', scopes: ['admin'] });
  expect(await usesKey(revoked.key)).toBe(200);
  expect((await hub.api(`/v1/keys/${revoked.id}`, { method: 'DELETE' })).status).toBe(204);
  keys.revoked = revoked.key;
  const expired = await createKey({ name: 'expiring', scopes: ['admin'], expires_at: new Date(Date.now() + 1000).toISOString() });
  expect(await usesKey(expired.key)).toBe(200);
  await waitFor(async () => (await usesKey(expired.key)) === 401, 10_000, 'the key expired');
  keys.expired = expired.key;
});
afterAll(async () => {
  writes?.close();
  await hub?.close();
});

/** Starts a replay of the subscription and waits for it to finish (nothing left running behind the test's back); resolves with its id. */
async function replayed(subscriptionId: string, started?: { task_id: string }): Promise<string> {
  const { task_id } = started ?? (await json<{ task_id: string }>(hub.api(`/v1/subscriptions/${subscriptionId}/replay`, { body: { since: new Date().toISOString() } })));
  await waitFor(async () => (await json<{ state: string }>(hub.api(`/v1/tasks/${task_id}`))).state !== 'running', 10_000, 'the replay finished');
  return task_id;
}

// ── the routes ───────────────────────────────────────────────────────────────────────────

interface RouteRequest {
  method: string;
  path: string;
  body?: unknown;
}

interface HttpRoute {
  /** As the hub's route catalogue names it: `GET /v1/events/:id`. */
  name: string;
  /** `server`: an API key only. `channel`: an API key, or a token granting the channel. */
  access: 'server' | 'channel';
  /** The scope an API key needs (docs/protocol.md § API keys). */
  scope: Scope;
  /** What a key with the scope gets: the route works. */
  granted: number;
  /** Built when the test runs: some need a fresh thing to act on (a subscription or a key to delete). */
  request(): RouteRequest | Promise<RouteRequest>;
}

const route = (name: string, access: HttpRoute['access'], scope: Scope, granted: number, request: HttpRoute['request']): HttpRoute => ({
  name,
  access,
  scope,
  granted,
  request,
});
const event = { channel: 'orders', type: 't', data: { n: 1 } };
const spareSubscription = async (): Promise<string> =>
  (await createSubscription(hub, { url: 'http://127.0.0.1:9/hook', channels: ['spare'], enabled: false })).id;

/** Every HTTP route of docs/protocol.md but the unauthenticated ones. */
const ROUTES: HttpRoute[] = [
  route('POST /v1/events', 'server', 'publish', 202, () => ({ method: 'POST', path: '/v1/events', body: event })),
  route('POST /v1/events/batch', 'server', 'publish', 202, () => ({ method: 'POST', path: '/v1/events/batch', body: { events: [event] } })),
  route('GET /v1/events/:id', 'server', 'read', 200, () => ({ method: 'GET', path: `/v1/events/${fx.eventId}` })),
  route('GET /v1/channels/:channel/events', 'channel', 'read', 200, () => ({ method: 'GET', path: '/v1/channels/orders/events' })),
  route('GET /v1/channels/:channel/sse', 'channel', 'read', 200, () => ({ method: 'GET', path: '/v1/channels/orders/sse' })),
  route('GET /v1/channels/:channel/presence', 'channel', 'read', 200, () => ({ method: 'GET', path: '/v1/channels/orders/presence' })),
  route('POST /v1/subscriptions', 'server', 'subscriptions', 201, () => ({
    method: 'POST',
    path: '/v1/subscriptions',
    body: { url: 'http://127.0.0.1:9/hook', channels: ['orders'], enabled: false },
  })),
  route('GET /v1/subscriptions', 'server', 'read', 200, () => ({ method: 'GET', path: '/v1/subscriptions' })),
  route('GET /v1/subscriptions/:id', 'server', 'read', 200, () => ({ method: 'GET', path: `/v1/subscriptions/${fx.subscriptionId}` })),
  route('PATCH /v1/subscriptions/:id', 'server', 'subscriptions', 200, () => ({
    method: 'PATCH',
    path: `/v1/subscriptions/${fx.subscriptionId}`,
    body: { description: 'changed' },
  })),
  route('DELETE /v1/subscriptions/:id', 'server', 'subscriptions', 204, async () => ({
    method: 'DELETE',
    path: `/v1/subscriptions/${await spareSubscription()}`,
  })),
  route('POST /v1/subscriptions/:id/rotate-secret', 'server', 'subscriptions', 200, () => ({
    method: 'POST',
    path: `/v1/subscriptions/${fx.subscriptionId}/rotate-secret`,
  })),
  route('POST /v1/subscriptions/:id/redrive', 'server', 'subscriptions', 202, () => ({
    method: 'POST',
    path: `/v1/subscriptions/${fx.subscriptionId}/redrive`,
    body: { state: 'dead' },
  })),
  route('POST /v1/subscriptions/:id/replay', 'server', 'subscriptions', 202, () => ({
    method: 'POST',
    path: `/v1/subscriptions/${fx.subscriptionId}/replay`,
    body: { since: new Date().toISOString() },
  })),
  route('POST /v1/subscriptions/:id/test', 'server', 'subscriptions', 202, () => ({
    method: 'POST',
    path: `/v1/subscriptions/${fx.subscriptionId}/test`,
    body: {},
  })),
  route('GET /v1/tasks/:id', 'server', 'read', 200, () => ({ method: 'GET', path: `/v1/tasks/${fx.taskId}` })),
  route('GET /v1/deliveries', 'server', 'read', 200, () => ({ method: 'GET', path: '/v1/deliveries?state=pending' })),
  route('GET /v1/deliveries/:id', 'server', 'read', 200, () => ({ method: 'GET', path: `/v1/deliveries/${fx.deliveryId}` })),
  route('POST /v1/deliveries/:id/retry', 'server', 'subscriptions', 202, () => ({ method: 'POST', path: `/v1/deliveries/${fx.deliveryId}/retry` })),
  route('POST /v1/tokens', 'server', 'tokens', 201, () => ({ method: 'POST', path: '/v1/tokens', body: { channels: ['orders'] } })),
  route('POST /v1/keys', 'server', 'admin', 201, () => ({ method: 'POST', path: '/v1/keys', body: { name: 'made in the matrix', scopes: ['read'] } })),
  route('GET /v1/keys', 'server', 'read', 200, () => ({ method: 'GET', path: '/v1/keys' })),
  route('DELETE /v1/keys/:id', 'server', 'admin', 204, async () => ({
    method: 'DELETE',
    path: `/v1/keys/${(await createKey({ name: 'to revoke', scopes: ['read'] })).id}`,
  })),
];

describe('the matrix covers the hub', () => {
  it('every route the hub registers with a credential has a row, with the scope its documentation names', () => {
    const registered = hub.app.routes.documented
      .filter((r) => r.doc.access !== 'public')
      .map((r) => ({ name: `${r.method} ${r.url}`, scope: r.doc.scope }));
    expect(registered.sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      ROUTES.map((r) => ({ name: r.name, scope: r.scope })).sort((a, b) => a.name.localeCompare(b.name)),
    );
  });

  it('every WebSocket op has a row', () => {
    expect(Object.keys(clientFrameSchemas).sort()).toEqual(Object.keys(WS_OPS).sort());
  });
});

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
  /** An API key's scopes: what each route and op gives it follows from the scope table. */
  scopes?: Scope[];
  server?: Refusal | 'granted';
  channel?: Refusal | 'granted';
  ws?: WsOutcome;
}

/** What a credential gets on a route. */
function expectedOn(c: Credential, r: HttpRoute): Refusal | 'granted' {
  if (c.scopes) return grants(c.scopes, r.scope) ? 'granted' : 403;
  return c[r.access]!;
}

/** What a credential gets over WebSocket. */
function wsOutcomeOf(c: Credential): WsOutcome {
  if (!c.scopes) return c.ws!;
  return { subscribe: grants(c.scopes, 'read') ? 'subscribed' : 'forbidden', publish: grants(c.scopes, 'publish') ? 'ack' : 'forbidden' };
}

/** A random key of the right shape that the hub never issued. */
const UNKNOWN_KEY = `phk_${randomBytes(32).toString('base64url')}`;

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
  { name: 'an unknown API key',                     ...bare(() => UNKNOWN_KEY),                                                   server: 401, channel: 401, ws: 4001 },
  { name: 'a revoked API key',                      ...bare(() => keys.revoked),                                                  server: 401, channel: 401, ws: 4001 },
  { name: 'an expired API key',                     ...bare(() => keys.expired),                                                  server: 401, channel: 401, ws: 4001 },
  { name: 'an API key one character short',         ...bare(() => keys.admin.slice(0, -1)),                                       server: 401, channel: 401, ws: 4001 },
  { name: 'an API key plus one character',          ...bare(() => `${keys.admin}A`),                                              server: 401, channel: 401, ws: 4001 },
  { name: 'an API key with a character changed',    ...bare(() => `${keys.admin.slice(0, -1)}${keys.admin.endsWith('A') ? 'B' : 'A'}`), server: 401, channel: 401, ws: 4001 },
  { name: 'an API key in upper case',               ...bare(() => keys.admin.toUpperCase()),                                      server: 401, channel: 401, ws: 4001 },
  { name: 'an API key in a Basic header',           header: () => `Basic ${keys.admin}`,                                          server: 401, channel: 401, ws: 4001 },
  { name: 'the root API key',                       ...bare(() => API_KEY),                                                       scopes: ['admin'] },
  ...SCOPES.map((scope): Credential => ({ name: `an API key with scope ${scope}`, ...bare(() => keys[scope]), scopes: [scope] })),
];

type Via = 'header' | 'query';
/** Each credential as a header, and (where it has a bare form) as `?token=` on the routes that read it. */
function transports(c: Credential, access: 'server' | 'channel' | 'ws'): Via[] {
  return access !== 'server' && c.query ? ['header', 'query'] : ['header'];
}

function withToken(path: string, token: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

async function send({ method, path, body }: RouteRequest, c: Credential, via: Via): Promise<Response> {
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
      const expected = expectedOn(c, r);
      return [`${r.name} · ${c.name} (${via}) → ${expected === 'granted' ? r.granted : expected}`, { r, c, via, expected }] as const;
    }),
  ),
);

describe('HTTP routes × credentials', () => {
  it.each(httpRows)('%s', async (_label, { r, c, via, expected }) => {
    const request = await r.request();
    const before = writes.version();
    const res = await send(request, c, via);
    if (expected === 'granted') {
      if (res.status !== r.granted) expect.fail(`${res.status} ${await res.text()}`);
      if (r.name.endsWith('/sse')) {
        expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
        await res.body!.cancel();
      } else if (res.status !== 204) {
        const body: unknown = await res.json();
        expect(body).toBeTypeOf('object');
        if (r.name.endsWith('/replay')) await replayed('', body as { task_id: string });
      }
      return;
    }
    await expectApiError(res, expected, expected === 401 ? 'unauthorized' : 'forbidden');
    expect(writes.version(), 'a refused request wrote something').toBe(before);
  });
});

// ── WebSocket ────────────────────────────────────────────────────────────────────────────

/** The WebSocket ops, and what decides each: the channel grant (`read`), the publish grant (`publish`), or nothing. */
const WS_OPS = { subscribe: 'read', presence: 'read', publish: 'publish', unsubscribe: null, ping: null } as const;

const wsRows = CREDENTIALS.flatMap((c) =>
  transports(c, 'ws').map((via) => {
    const ws = wsOutcomeOf(c);
    const outcome = ws === 4001 ? 'close 4001' : `open; subscribe, presence → ${ws.subscribe}; publish → ${ws.publish}`;
    return [`GET /v1/ws · ${c.name} (${via}) → ${outcome}`, { c, via, ws }] as const;
  }),
);

describe('WebSocket connect, subscribe and publish × credentials', () => {
  it.each(wsRows)('%s', async (_label, { c, via, ws }) => {
    const header = c.header();
    const socket = await connect(
      hub.url,
      via === 'query' ? { query: c.query!() } : undefined,
      header !== undefined && via === 'header' ? { headers: { authorization: header } } : {},
    );
    if (ws === 4001) {
      expect(await socket.closed).toMatchObject({ code: 4001 });
      expect(socket.frames).toEqual([]);
      return;
    }
    const subscribed = await socket.request({ op: 'subscribe', channel: 'orders' });
    if (ws.subscribe === 'subscribed') expect(subscribed).toMatchObject({ op: 'subscribed', channel: 'orders' });
    else expect(subscribed).toMatchObject({ op: 'error', code: 'forbidden' });
    const presence = await socket.request({ op: 'presence', channel: 'orders' });
    if (ws.subscribe === 'subscribed') expect(presence).toMatchObject({ op: 'presence', channel: 'orders' });
    else expect(presence).toMatchObject({ op: 'error', code: 'forbidden' });

    const before = writes.version();
    const published = await socket.request({ op: 'publish', channel: 'orders', type: 't', data: 1 });
    if (ws.publish === 'ack') {
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
  ['POST /v1/subscriptions/:id/replay with a bad body', { method: 'POST', path: '/v1/subscriptions/sub_nope/replay', body: '{"since":1}' }],
  ['POST /v1/subscriptions/:id/test with a bad body', { method: 'POST', path: '/v1/subscriptions/sub_nope/test', body: '{"type":""}' }],
  ['GET /v1/tasks/:id of an unknown id', { method: 'GET', path: '/v1/tasks/task_nope' }],
  ['GET /v1/deliveries with a bad query', { method: 'GET', path: '/v1/deliveries?limit=0&state=nope' }],
  ['GET /v1/deliveries/:id of an unknown id', { method: 'GET', path: '/v1/deliveries/dlv_nope' }],
  ['POST /v1/tokens with a bad body', { method: 'POST', path: '/v1/tokens', body: '{"channels":"x","ttl_s":-1}' }],
  ['GET /v1/events/:id of an unknown id', { method: 'GET', path: '/v1/events/evt_nope' }],
  ['POST /v1/keys with a bad body', { method: 'POST', path: '/v1/keys', body: '{"scopes":["root"]}' }],
  ['DELETE /v1/keys/:id of an unknown id', { method: 'DELETE', path: '/v1/keys/key_nope' }],
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

/** The same requests with a valid key that lacks the scope: 403, still before the body is read. */
const SCOPE_FIRST: Array<[string, Scope, { method: string; path: string; body?: string; contentType?: string }]> = [
  ['POST /v1/events over the body limit', 'read', { method: 'POST', path: '/v1/events', body: JSON.stringify({ ...event, data: 'x'.repeat(4096) }) }],
  ['POST /v1/events/batch with malformed JSON', 'subscriptions', { method: 'POST', path: '/v1/events/batch', body: '{"events":' }],
  ['POST /v1/subscriptions with an invalid body', 'publish', { method: 'POST', path: '/v1/subscriptions', body: '{"url":"ftp://x"}' }],
  ['PATCH /v1/subscriptions/:id as text/plain', 'read', { method: 'PATCH', path: '/v1/subscriptions/sub_nope', body: 'x', contentType: 'text/plain' }],
  ['POST /v1/tokens with a bad body', 'subscriptions', { method: 'POST', path: '/v1/tokens', body: '{"ttl_s":-1}' }],
  ['POST /v1/keys with a bad body', 'subscriptions', { method: 'POST', path: '/v1/keys', body: '[]' }],
  ['DELETE /v1/keys/:id of an unknown id', 'read', { method: 'DELETE', path: '/v1/keys/key_nope' }],
  ['polling an invalid channel', 'publish', { method: 'GET', path: '/v1/channels/$x/events' }],
];

describe('a key without the scope is refused before the body is judged', () => {
  it.each(SCOPE_FIRST)('%s with a %s key → 403', async (_name, scope, { method, path, body, contentType }) => {
    const before = writes.version();
    const headers: Record<string, string> = { authorization: `Bearer ${keys[scope]}` };
    if (body !== undefined) headers['content-type'] = contentType ?? 'application/json';
    await expectApiError(await fetch(hub.url + path, { method, headers, body }), 403, 'forbidden');
    expect(writes.version()).toBe(before);
  });
});

describe('credentials in the query string', () => {
  it.each(ROUTES.filter((r) => r.access === 'server').map((r) => [r.name, r] as const))(
    '%s does not read ?token=, not even the API key → 401',
    async (_name, r) => {
      const { method, path, body } = await r.request();
      const before = writes.version();
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
