import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';
import { mintToken, publish } from '../helpers/tokens.js';

/** The one origin the list hub allows, and one it does not. */
const APP = 'https://app.example.com';
const EVIL = 'https://evil.example.com';

let open: TestHub; // PUSHHUB_CORS_ORIGINS=* (the default)
let list: TestHub; // PUSHHUB_CORS_ORIGINS=https://app.example.com
let openToken: string;
let listToken: string;

beforeAll(async () => {
  open = await startHub({ config: { logLevel: 'info' } });
  list = await startHub({ config: { logLevel: 'info', corsOrigins: [APP], realtime: { maxConnections: 1 } } });
  openToken = await mintToken(open, { channels: ['feed.*'] });
  listToken = await mintToken(list, { channels: ['feed.*'] });
});
afterAll(async () => {
  await open?.close();
  await list?.close();
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One request with exactly these headers (fetch would not send `Origin` as given). */
async function call(hub: TestHub, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  const res = await request(hub.url + path, { method: method as 'GET', headers, body });
  const text = await res.body.text();
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
  return { status: res.statusCode, headers: flat, body: text };
}

/** Opens an SSE stream, keeps only its status and headers, and leaves. */
async function sseHeaders(hub: TestHub, path: string, headers: Record<string, string>): Promise<Omit<Answer, 'body'>> {
  const res = await request(hub.url + path, { headers: { accept: 'text/event-stream', ...headers } });
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
  res.body.destroy();
  return { status: res.statusCode, headers: flat };
}

const corsHeaders = (a: { headers: Record<string, string> }): string[] => Object.keys(a.headers).filter((h) => h.startsWith('access-control-'));
const vary = (a: { headers: Record<string, string> }): string[] => (a.headers.vary ?? '').split(',').map((v) => v.trim().toLowerCase()).filter(Boolean);
const errorCode = (a: Answer): string => (JSON.parse(a.body) as { error: { code: string } }).error.code;
const preflight = (origin: string, requestHeaders = 'authorization') => ({
  origin,
  'access-control-request-method': 'GET',
  'access-control-request-headers': requestHeaders,
});

const SURFACE = ['/v1/channels/feed.a/sse', '/v1/channels/feed.a/events', '/v1/channels/feed.a/presence'];

describe('preflights on the subscriber surface', () => {
  it.each(SURFACE)('%s, setting *: allowed for any origin, with the methods, headers and max-age', async (path) => {
    const a = await call(open, 'OPTIONS', path, preflight('http://anything.test:1234', 'authorization,last-event-id'));
    expect(a.status).toBe(204);
    expect(a.headers['access-control-allow-origin']).toBe('*');
    expect(a.headers['access-control-allow-methods']).toBe('GET, HEAD');
    expect(a.headers['access-control-allow-headers']).toBe('authorization, last-event-id');
    expect(a.headers['access-control-max-age']).toBe('600');
    expect(a.headers['access-control-allow-credentials']).toBeUndefined();
    expect(vary(a)).not.toContain('origin'); // * is the same answer for every origin
  });

  it.each(SURFACE)('%s, a list: the allowed origin echoed, with Vary: Origin', async (path) => {
    const a = await call(list, 'OPTIONS', path, preflight(APP));
    expect(a.status).toBe(204);
    expect(a.headers['access-control-allow-origin']).toBe(APP);
    expect(a.headers['access-control-allow-headers']).toBe('authorization, last-event-id');
    expect(a.headers['access-control-allow-methods']).toBe('GET, HEAD');
    expect(vary(a)).toContain('origin');
  });

  it.each(SURFACE)('%s, a list: another origin gets 403 and no CORS header', async (path) => {
    const a = await call(list, 'OPTIONS', path, preflight(EVIL));
    expect(a.status).toBe(403);
    expect(errorCode(a)).toBe('forbidden');
    expect(JSON.parse(a.body).error.message).toContain('PUSHHUB_CORS_ORIGINS');
    expect(corsHeaders(a)).toEqual([]);
  });

  it('an OPTIONS that is not a preflight (no Origin) is refused in the API shape', async () => {
    const a = await call(open, 'OPTIONS', SURFACE[1]!);
    expect(a.status).toBe(400);
    expect(errorCode(a)).toBe('invalid_request');
  });
});

describe('requests on the subscriber surface', () => {
  it('polling, setting *: Allow-Origin * and the exposed headers, on the events themselves', async () => {
    const sent = await publish(open, 'feed.a', { n: 1 });
    const a = await call(open, 'GET', `/v1/channels/feed.a/events?token=${openToken}`, { origin: 'http://page.test' });
    expect(a.status).toBe(200);
    expect((JSON.parse(a.body) as { events: Array<{ id: string }> }).events.map((e) => e.id)).toContain(sent.id);
    expect(a.headers['access-control-allow-origin']).toBe('*');
    expect(a.headers['access-control-expose-headers']).toBe('retry-after, x-request-id');
  });

  it('polling, a list: the origin echoed with Vary: Origin; Authorization header works as well as ?token=', async () => {
    const a = await call(list, 'GET', '/v1/channels/feed.a/events', { origin: APP, authorization: `Bearer ${listToken}` });
    expect(a.status).toBe(200);
    expect(a.headers['access-control-allow-origin']).toBe(APP);
    expect(vary(a)).toContain('origin');
  });

  it('SSE (a hijacked reply) carries the CORS headers too, for * and for a list', async () => {
    const star = await sseHeaders(open, `/v1/channels/feed.a/sse?token=${openToken}`, { origin: 'http://page.test' });
    expect(star.status).toBe(200);
    expect(star.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(star.headers['access-control-allow-origin']).toBe('*');
    expect(star.headers['access-control-expose-headers']).toBe('retry-after, x-request-id');
    const listed = await sseHeaders(list, `/v1/channels/feed.a/sse?token=${listToken}`, { origin: APP });
    expect(listed.status).toBe(200);
    expect(listed.headers['access-control-allow-origin']).toBe(APP);
    expect(vary(listed)).toContain('origin');
    const head = await call(list, 'HEAD', `/v1/channels/feed.a/sse?token=${listToken}`, { origin: APP });
    expect(head.status).toBe(200);
    expect(head.headers['access-control-allow-origin']).toBe(APP);
  });

  it('errors carry the CORS headers, so a page can read them: 401, 403, 400, 410, 503', async () => {
    const foreignCursor = (await publish(open, 'feed.a', 0)).cursor; // another database's cursor
    const other = await mintToken(list, { channels: ['other'] });
    const cases: Array<[string, string, number, string]> = [
      ['GET', '/v1/channels/feed.a/events', 401, 'unauthorized'],
      ['GET', '/v1/channels/feed.a/sse', 401, 'unauthorized'],
      ['GET', `/v1/channels/feed.a/events?token=${other}`, 403, 'forbidden'],
      ['GET', `/v1/channels/feed.a/events?token=${listToken}&limit=0`, 400, 'invalid_request'],
      ['GET', `/v1/channels/feed.a/events?token=${listToken}&after=${foreignCursor}`, 410, 'cursor_expired'],
    ];
    for (const [method, path, status, code] of cases) {
      const a = await call(list, method, path, { origin: APP });
      expect([path, a.status, errorCode(a)]).toEqual([path, status, code]);
      expect(a.headers['access-control-allow-origin']).toBe(APP);
      expect(a.headers['access-control-expose-headers']).toBe('retry-after, x-request-id');
    }
    // 503: the list hub allows one connection; a WebSocket (no Origin: not a browser) takes it.
    const ws = new WebSocket(`${list.url.replace('http', 'ws')}/v1/ws?token=${listToken}`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      const a = await call(list, 'GET', `/v1/channels/feed.a/sse?token=${listToken}`, { origin: APP });
      expect([a.status, errorCode(a)]).toEqual([503, 'overloaded']);
      expect(a.headers['retry-after']).toBe('1');
      expect(a.headers['access-control-allow-origin']).toBe(APP);
    } finally {
      ws.close();
      await new Promise((resolve) => ws.once('close', resolve));
    }
  });

  it('a 503 raised before the route (the hub shutting down) carries them as well', async () => {
    const closing = await startHub({ config: { logLevel: 'info', corsOrigins: [APP] } });
    const stopped = closing.close(); // refuses new requests from now on
    try {
      // All at once, before the server itself closes (the hub waits for its realtime side first).
      const [a, refused, server] = await Promise.all([
        closing.app.server.inject({ url: '/v1/channels/feed.a/events', headers: { origin: APP } }),
        closing.app.server.inject({ url: '/v1/channels/feed.a/events', headers: { origin: EVIL } }),
        closing.app.server.inject({ method: 'POST', url: '/v1/events', headers: { origin: APP } }),
      ]);
      expect([a.statusCode, a.json().error.code]).toEqual([503, 'shutting_down']);
      expect(a.headers['access-control-allow-origin']).toBe(APP);
      expect(a.headers['access-control-expose-headers']).toBe('retry-after, x-request-id');
      expect(refused.statusCode).toBe(503);
      expect(Object.keys(refused.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
      expect(server.statusCode).toBe(503);
      expect(Object.keys(server.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    } finally {
      await stopped;
    }
  });

  it('a disallowed origin is refused with 403 and no CORS header, whatever the credential', async () => {
    for (const [method, path] of [
      ['GET', `/v1/channels/feed.a/events?token=${listToken}`],
      ['GET', `/v1/channels/feed.a/sse?token=${listToken}`],
      ['HEAD', `/v1/channels/feed.a/sse?token=${listToken}`],
      ['GET', '/v1/channels/feed.a/events'],
    ] as const) {
      const a = await call(list, method, path, { origin: EVIL, accept: 'text/event-stream' });
      expect([method, path, a.status]).toEqual([method, path, 403]);
      if (method !== 'HEAD') expect(errorCode(a)).toBe('forbidden');
      expect(corsHeaders(a)).toEqual([]);
    }
    // Not an origin at all (a browser never sends these): refused as well, not guessed at.
    for (const origin of ['null', `${APP}/`, 'HTTPS://evil.example.com']) {
      const a = await call(list, 'GET', `/v1/channels/feed.a/events?token=${listToken}`, { origin });
      expect([origin, a.status]).toEqual([origin, 403]);
    }
    // The same origin in another case is the same origin (RFC 6454): allowed.
    const upper = await call(list, 'GET', `/v1/channels/feed.a/events?token=${listToken}`, { origin: APP.toUpperCase() });
    expect(upper.status).toBe(200);
  });

  it('a request without Origin is unaffected by a list (not a browser)', async () => {
    const a = await call(list, 'GET', `/v1/channels/feed.a/events?token=${listToken}`);
    expect(a.status).toBe(200);
    expect(corsHeaders(a)).toEqual([]);
    const sse = await sseHeaders(list, `/v1/channels/feed.a/sse?token=${listToken}`, {});
    expect(sse.status).toBe(200);
    expect(corsHeaders(sse)).toEqual([]);
  });
});

/** Every route the hub serves, read from its router (`printRoutes`), so a new route is covered by itself. */
function routesOf(hub: TestHub): Array<{ path: string; methods: string[] }> {
  const stack: string[] = [];
  const routes: Array<{ path: string; methods: string[] }> = [];
  for (const line of hub.app.server.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (\S+)(?: \(([^)]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + m[2]!;
    stack.push(path);
    if (m[3]) routes.push({ path, methods: m[3].split(', ') });
  }
  return routes;
}

const concrete = (path: string): string => path.replace(/:channel/g, 'feed.a').replace(/:\w+/g, 'x_1');

describe('server routes never answer CORS', () => {
  it('no Access-Control-* header on any server route, even sent an allowed Origin', async () => {
    const surface = ['/v1/channels/:channel/sse', '/v1/channels/:channel/events', '/v1/channels/:channel/presence'];
    const server = routesOf(open).filter((r) => r.path !== '*' && !surface.includes(r.path));
    expect(server.map((r) => r.path)).toEqual(expect.arrayContaining(['/v1/events', '/v1/subscriptions', '/v1/tokens', '/v1/deliveries', '/healthz', '/metrics']));
    for (const hub of [open, list]) {
      for (const { path, methods } of server) {
        for (const method of methods.filter((m) => m !== 'OPTIONS')) {
          const body = ['POST', 'PATCH'].includes(method) ? '{}' : undefined;
          const headers = { origin: APP, authorization: `Bearer ${API_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) };
          const a = await call(hub, method, concrete(path), headers, body);
          expect([method, path, corsHeaders(a)]).toEqual([method, path, []]);
        }
        // And no preflight succeeds there.
        const p = await call(hub, 'OPTIONS', concrete(path), { ...preflight(APP), 'access-control-request-method': 'POST' });
        expect([path, p.status, corsHeaders(p)]).toEqual([path, 404, []]);
      }
      // An unknown route neither.
      expect(corsHeaders(await call(hub, 'GET', '/nowhere', { origin: APP }))).toEqual([]);
    }
  });

  it('OPTIONS /v1/events is not a preflight success: 404 in the API error shape', async () => {
    const a = await call(open, 'OPTIONS', '/v1/events', {
      origin: APP,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type',
    });
    expect(a.status).toBe(404);
    expect(errorCode(a)).toBe('not_found');
    expect(corsHeaders(a)).toEqual([]);
  });
});

describe('WebSocket upgrades and Origin', () => {
  /** Resolves with `open`, or the status and body of the refused upgrade. */
  function upgrade(hub: TestHub, token: string | undefined, origin?: string): Promise<{ opened: true } | { opened: false; status: number; body: string }> {
    const url = `${hub.url.replace('http', 'ws')}/v1/ws${token ? `?token=${token}` : ''}`;
    const ws = new WebSocket(url, origin === undefined ? {} : { origin });
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.close();
        ws.once('close', () => resolve({ opened: true }));
      });
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ opened: false, status: res.statusCode ?? 0, body }));
      });
      ws.once('error', (err) => reject(err));
    });
  }

  it('a disallowed Origin is refused with 403 forbidden, before authentication', async () => {
    for (const token of [listToken, undefined]) {
      const r = await upgrade(list, token, EVIL);
      expect(r.opened).toBe(false);
      if (r.opened) continue;
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body).error.code).toBe('forbidden');
      expect(JSON.parse(r.body).error.message).toContain('PUSHHUB_CORS_ORIGINS');
    }
  });

  it('an allowed Origin, or none, opens; * opens for any origin', async () => {
    expect(await upgrade(list, listToken, APP)).toEqual({ opened: true });
    expect(await upgrade(list, listToken)).toEqual({ opened: true });
    expect(await upgrade(open, openToken, EVIL)).toEqual({ opened: true });
    expect(await upgrade(open, openToken, 'null')).toEqual({ opened: true });
  });
});
