import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cursorLike, deepJson, expectSuccessOrCleanRefusal, nameLike } from '../helpers/fuzz.js';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';
import { rawExchange } from '../helpers/raw-http.js';
import { watchWrites, type WriteWatcher } from '../helpers/store-writes.js';

let hub: TestHub;
let writes: WriteWatcher;
let validCursor: string;
beforeAll(async () => {
  // channel.occupied/vacated off: they are events written a moment after a subscribe (SSE), which the write watcher would see.
  hub = await startHub({ config: { logLevel: 'warn', realtime: { occupancyEvents: false } } });
  writes = watchWrites(hub);
  const res = await hub.api('/v1/events', { body: { channel: 'fuzz', type: 't', data: 1 } });
  validCursor = ((await res.json()) as { cursor: string }).cursor;
});
afterAll(async () => {
  writes?.close();
  await hub?.close();
});

const RUNS = 150;

const eventLike = fc.record(
  {
    channel: fc.oneof(nameLike, fc.anything()),
    type: fc.oneof(nameLike, fc.anything()),
    data: fc.jsonValue(),
    occurred_at: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string(), fc.anything()),
    extra: fc.anything(),
  },
  { requiredKeys: [] },
);

describe('fuzzing the HTTP API', () => {
  it('POST /v1/events with random event-like bodies', async () => {
    await fc.assert(
      fc.asyncProperty(eventLike, async (body) => {
        const before = writes.version();
        const res = await hub.api('/v1/events', { body: JSON.stringify(body) });
        await expectSuccessOrCleanRefusal(res, writes, before, [202]);
      }),
      { numRuns: RUNS },
    );
  });

  it('POST /v1/events with random bytes, content types and Idempotency-Keys', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 300 }), fc.json(), fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1'))),
        fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', ''),
        fc.option(fc.string({ maxLength: 300 }).filter((s) => !/[\r\n\0]/.test(s) && /^[\x20-\x7e]*$/.test(s)), { nil: undefined }),
        async (body, contentType, key) => {
          const before = writes.version();
          const headers: Record<string, string> = { 'content-type': contentType };
          if (key !== undefined) headers['idempotency-key'] = key;
          const res = await hub.api('/v1/events', { method: 'POST', body, headers });
          await expectSuccessOrCleanRefusal(res, writes, before, [202]);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('POST /v1/events and /batch with deeply nested data, with or without an Idempotency-Key', async () => {
    await fc.assert(
      fc.asyncProperty(deepJson(), fc.boolean(), fc.option(fc.uuid(), { nil: undefined }), async (data, batch, key) => {
        const event = `{"channel":"fuzz","type":"t","data":${data}}`;
        const before = writes.version();
        const res = await hub.api(batch ? '/v1/events/batch' : '/v1/events', {
          body: batch ? `{"events":[${event}]}` : event,
          headers: key === undefined ? {} : { 'idempotency-key': key },
        });
        await expectSuccessOrCleanRefusal(res, writes, before, [202]);
      }),
      { numRuns: 30 },
    );
  });

  it('POST /v1/events/batch with random batches', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.record({ events: fc.array(eventLike, { maxLength: 20 }) }), fc.anything()),
        async (body) => {
          const before = writes.version();
          const res = await hub.api('/v1/events/batch', { body: JSON.stringify(body) ?? 'null' });
          await expectSuccessOrCleanRefusal(res, writes, before, [202]);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('GET polling with random channels, cursors and limits', async () => {
    await fc.assert(
      fc.asyncProperty(nameLike, fc.option(cursorLike(validCursor)), fc.option(fc.oneof(fc.string({ maxLength: 8 }), fc.integer().map(String))), async (channel, after, limit) => {
        const q = new URLSearchParams();
        if (after != null) q.set('after', after);
        if (limit != null) q.set('limit', limit);
        const before = writes.version();
        const res = await hub.api(`/v1/channels/${encodeURIComponent(channel)}/events?${q}`);
        await expectSuccessOrCleanRefusal(res, writes, before, [200]);
      }),
      { numRuns: RUNS },
    );
  });

  it('random methods, paths and authorization headers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'),
        fc.oneof(
          fc.constantFrom('/v1/events', '/v1/events/batch', '/v1/events/x', '/v1/channels/a/events', '/healthz', '/readyz'),
          fc.webPath(),
        ),
        fc.constantFrom(`Bearer ${API_KEY}`, 'Bearer nope', '', `bearer ${API_KEY}`, 'Basic Zm9vOmJhcg==', `Bearer ${API_KEY}x`),
        async (method, path, authorization) => {
          const before = writes.version();
          const res = await fetch(hub.url + (path.startsWith('/') ? path : `/${path}`), {
            method,
            headers: { authorization, 'content-type': 'application/json' },
            body: method === 'GET' || method === 'HEAD' ? undefined : '{}',
          });
          expect(res.status).toBeLessThan(500);
          if (method !== 'HEAD' && res.status >= 400) await expectSuccessOrCleanRefusal(res, writes, before, []);
          else await res.body?.cancel();
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('malformed HTTP over a raw socket: an answer in the API shape (or none), never a 5xx', async () => {
    const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/);
    const wild = fc.string({ maxLength: 30, unit: fc.constantFrom('a', ' ', ':', '\r', '\n', '\0', '\t', '\x7f', 'é', '%', '/', '?') });
    const header = fc.oneof(
      fc.tuple(token, fc.string({ maxLength: 30 })).map(([name, value]) => `${name}: ${value.replace(/[\r\n]/g, '')}`),
      fc.constantFrom(`Authorization: Bearer ${API_KEY}`, 'Content-Length: 5', 'Content-Length: -1', 'Content-Length: 1x', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip, chunked', 'Host: h', 'Expect: 100-continue', 'Upgrade: websocket', 'Connection: upgrade'),
      wild,
      fc.constant(`X-Big: ${'b'.repeat(20_000)}`),
    );
    const request = fc
      .record({
        method: fc.oneof(fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PRI', 'CONNECT'), token, wild),
        path: fc.oneof(fc.constantFrom('/v1/events', '/v1/events/batch', '/v1/ws', '/v1/channels/a/sse', '/healthz', '*', ''), fc.webPath(), wild),
        version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', 'HTTP/9.9', ''),
        headers: fc.array(header, { maxLength: 6 }),
        body: fc.oneof(fc.constant(''), fc.string({ maxLength: 50 }), fc.constantFrom('0\r\n\r\n', 'zz\r\nbad\r\n', '5\r\nhello\r\n')),
      })
      .map(({ method, path, version, headers, body }) => `${method} ${path} ${version}\r\n${headers.join('\r\n')}\r\n\r\n${body}`);
    await fc.assert(
      fc.asyncProperty(request, async (raw) => {
        const before = writes.version();
        const responses = await expectRawAnswersWellFormed(raw);
        // Pipelined garbage may hold a well-formed request; only all-refused exchanges must write nothing.
        if (responses.every((r) => r.status >= 400)) expect(writes.version()).toBe(before);
      }),
      { numRuns: RUNS },
    );
  });

  it('malformed WebSocket upgrades over a raw socket: 101 or an answer in the API shape', async () => {
    const upgrade = fc
      .record({
        method: fc.constantFrom('GET', 'GET', 'POST', 'PUT'),
        path: fc.constantFrom('/v1/ws', '/v1/ws', '/v1/ws?token=nope', '/v1/wsx', '/'),
        key: fc.oneof(fc.constant('dGhlIHNhbXBsZSBub25jZQ=='), fc.string({ maxLength: 30 }).map((k) => k.replace(/[\r\n]/g, '')), fc.constant(undefined)),
        version: fc.constantFrom('13', '8', '12', 'x', undefined),
        upgradeHeader: fc.constantFrom('websocket', 'WebSocket', 'h2c', ''),
        auth: fc.constantFrom(`Bearer ${API_KEY}`, 'Bearer nope', undefined),
        extra: fc.constantFrom('', 'Sec-WebSocket-Protocol: a, , b\r\n', 'Sec-WebSocket-Extensions: permessage-deflate; x=\r\n', 'Sec-WebSocket-Extensions: ;;\r\n'),
      })
      .map(({ method, path, key, version, upgradeHeader, auth, extra }) =>
        [
          `${method} ${path} HTTP/1.1`,
          'Host: h',
          'Connection: Upgrade',
          `Upgrade: ${upgradeHeader}`,
          key === undefined ? '' : `Sec-WebSocket-Key: ${key}`,
          version === undefined ? '' : `Sec-WebSocket-Version: ${version}`,
          auth === undefined ? '' : `Authorization: ${auth}`,
        ]
          .filter(Boolean)
          .join('\r\n') + `\r\n${extra}\r\n`,
      );
    await fc.assert(
      fc.asyncProperty(upgrade, async (raw) => {
        const before = writes.version();
        await expectRawAnswersWellFormed(raw);
        expect(writes.version()).toBe(before);
      }),
      { numRuns: 60 },
    );
  });
});

/** Every answer to a raw request is below 500, and each error in it has the documented shape. */
async function expectRawAnswersWellFormed(raw: string): Promise<RawResponse[]> {
  const responses = parseResponses(await rawExchange(hub.url, raw));
  for (const { status, contentType, body } of responses) {
    expect(status, body).toBeLessThan(500);
    if (status < 400 || body === '' || raw.startsWith('HEAD ')) continue;
    expect(contentType, body).toMatch(/^application\/json/);
    const error = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error;
    expect(error?.code, body).toMatch(/^[a-z_]+$/);
    expect(error?.message, body).toBeTypeOf('string');
  }
  return responses;
}

interface RawResponse {
  status: number;
  contentType: string;
  body: string;
}

/** The responses in what a socket received, one after another (pipelined requests get several). */
function parseResponses(raw: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = raw;
  for (;;) {
    const head = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n/.exec(rest);
    if (!head) return out;
    const headers = head[2]!;
    const length = Number(/^content-length: *(\d+)/im.exec(headers)?.[1] ?? 0);
    const contentType = /^content-type: *([^\r]*)/im.exec(headers)?.[1] ?? '';
    const bodyStart = head[0].length;
    out.push({ status: Number(head[1]), contentType, body: rest.slice(bodyStart, bodyStart + length) });
    rest = rest.slice(bodyStart + length);
  }
}
