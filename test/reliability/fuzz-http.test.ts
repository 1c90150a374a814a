import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';

let hub: TestHub;
let validCursor: string;
beforeAll(async () => {
  hub = await startHub({ config: { logLevel: 'warn' } });
  const res = await hub.api('/v1/events', { body: { channel: 'fuzz', type: 't', data: 1 } });
  validCursor = ((await res.json()) as { cursor: string }).cursor;
});
afterAll(() => hub.close());

const RUNS = 150;

/** Every refusal is a 4xx in the API.md shape; nothing was written for it; no 5xx ever. */
async function expectWellFormedRefusalOrSuccess(res: Response, before: number, okStatuses: number[]): Promise<void> {
  expect(res.status, `unexpected ${res.status}`).toBeLessThan(500);
  const text = await res.text();
  if (okStatuses.includes(res.status)) return;
  expect(res.status).toBeGreaterThanOrEqual(400);
  const body = JSON.parse(text) as { error: { code: unknown; message: unknown } };
  expect(body.error.code).toMatch(/^[a-z_]+$/);
  expect(typeof body.error.message).toBe('string');
  expect(hub.app.store.events.headSeq(), 'a refused request wrote something').toBe(before);
}

// Channel-ish strings: mostly near-valid, sometimes wild.
const nameLike = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_.:$>* -]{0,140}$/),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('orders', 'a.b', '$hub', 'a..b', '.', '', 'x'.repeat(128), 'x'.repeat(129)),
);
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
        const before = hub.app.store.events.headSeq();
        const res = await hub.api('/v1/events', { body: JSON.stringify(body) });
        await expectWellFormedRefusalOrSuccess(res, before, [202]);
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
          const before = hub.app.store.events.headSeq();
          const headers: Record<string, string> = { 'content-type': contentType };
          if (key !== undefined) headers['idempotency-key'] = key;
          const res = await hub.api('/v1/events', { method: 'POST', body, headers });
          await expectWellFormedRefusalOrSuccess(res, before, [202]);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('POST /v1/events/batch with random batches', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.record({ events: fc.array(eventLike, { maxLength: 20 }) }), fc.anything()),
        async (body) => {
          const before = hub.app.store.events.headSeq();
          const res = await hub.api('/v1/events/batch', { body: JSON.stringify(body) ?? 'null' });
          await expectWellFormedRefusalOrSuccess(res, before, [202]);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('GET polling with random channels, cursors and limits', async () => {
    const cursorLike = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constant(validCursor),
      // Valid-looking cursors with a mutated character: foreign, past the head, or malformed.
      fc.tuple(fc.nat({ max: 40 }), fc.string({ minLength: 1, maxLength: 1 })).map(([i, ch]) => validCursor.slice(0, i) + ch + validCursor.slice(i + 1)),
    );
    await fc.assert(
      fc.asyncProperty(nameLike, fc.option(cursorLike), fc.option(fc.oneof(fc.string({ maxLength: 8 }), fc.integer().map(String))), async (channel, after, limit) => {
        const q = new URLSearchParams();
        if (after != null) q.set('after', after);
        if (limit != null) q.set('limit', limit);
        const before = hub.app.store.events.headSeq();
        const res = await hub.api(`/v1/channels/${encodeURIComponent(channel)}/events?${q}`);
        await expectWellFormedRefusalOrSuccess(res, before, [200]);
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
          const before = hub.app.store.events.headSeq();
          const res = await fetch(hub.url + (path.startsWith('/') ? path : `/${path}`), {
            method,
            headers: { authorization, 'content-type': 'application/json' },
            body: method === 'GET' || method === 'HEAD' ? undefined : '{}',
          });
          expect(res.status).toBeLessThan(500);
          if (method !== 'HEAD' && res.status >= 400) await expectWellFormedRefusalOrSuccess(res, before, []);
          else await res.body?.cancel();
        },
      ),
      { numRuns: RUNS },
    );
  });
});
