import fc from 'fast-check';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSuccessOrCleanRefusal, nameLike } from '../helpers/fuzz.js';
import { startHub, TOKEN_SECRET, type TestHub } from '../helpers/hub.js';
import { watchWrites, type WriteWatcher } from '../helpers/store-writes.js';
import { createSubscription, json, publishMany } from '../helpers/webhooks.js';

/**
 * Fuzzing the webhook and token routes: random subscription bodies (URLs, patterns, retry
 * objects), patches, token-mint bodies, delivery-list queries and ids. Never a 5xx; a success
 * is what was asked for; a refusal is in the documented shape and wrote nothing.
 *
 * No receiver URL names a host (only IP literals and `localhost`): nothing here waits on DNS.
 * The subscriptions holding deliveries are disabled, so the dispatcher writes nothing behind
 * the test's back.
 */

let hub: TestHub;
let writes: WriteWatcher;
const fx = { subscriptionId: '', patchedId: '', deliveryId: '', eventId: '' };

beforeAll(async () => {
  hub = await startHub({ config: { logLevel: 'warn', retention: { intervalMs: 3_600_000 }, realtime: { occupancyEvents: false } } });
  writes = watchWrites(hub);
  const held = await createSubscription(hub, { url: 'http://93.184.215.14/hook', channels: ['fuzz.>'], enabled: false });
  const patched = await createSubscription(hub, { url: 'http://93.184.215.14/other', channels: ['never'] });
  const [event] = await publishMany(hub, 'fuzz.a', 30);
  const status = await json<{ deliveries: Array<{ id: string }> }>(hub.api(`/v1/events/${event!.id}`));
  Object.assign(fx, { subscriptionId: held.id, patchedId: patched.id, deliveryId: status.deliveries[0]!.id, eventId: event!.id });
});
afterAll(async () => {
  writes?.close();
  await hub?.close();
});

const RUNS = 150;

// ── arbitraries ──────────────────────────────────────────────────────────────────────────

const urlLike = fc.oneof(
  fc.constantFrom(
    'http://93.184.215.14/hook',
    'https://93.184.215.14:8443/a?b=c&token=t',
    'HTTP://93.184.215.14',
    'http://127.0.0.1/x',
    'http://10.1.2.3/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[64:ff9b::a00:1]/',
    'http://[2002:a00:1::]/',
    'http://169.254.169.254/latest/meta-data',
    'http://0.0.0.0/',
    'http://2130706433/',
    'http://0x7f.1/',
    'http://localhost:8080/',
    'http://user:pw@93.184.215.14/',
    'http://93.184.215.14/#frag',
    'ftp://93.184.215.14/',
    'javascript:alert(1)',
    'http://',
    '',
    `http://93.184.215.14/${'a'.repeat(3000)}`,
  ),
  fc
    .tuple(fc.constantFrom('http', 'https', 'ws', 'file'), fc.oneof(fc.ipV4(), fc.ipV6().map((ip) => `[${ip}]`)), fc.webPath())
    .map(([scheme, host, path]) => `${scheme}://${host}${path}`),
  fc.string({ maxLength: 60 }).filter((s) => !/^[a-z][a-z0-9+.-]*:\/\/[^/\d[]/i.test(s)), // no host names
);
/** Mostly a valid value, sometimes a wild one: enough whole bodies come out valid to test success too. */
function mostly(valid: fc.Arbitrary<unknown>, wild: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 9, arbitrary: valid }, { weight: 1, arbitrary: wild });
}
const validPattern = fc.stringMatching(/^[a-z]{1,6}(\.([a-z]{1,6}|\*)){0,2}(\.>)?$/);
const validPatterns = fc.array(validPattern, { minLength: 1, maxLength: 3 });
const patternsLike = fc.oneof({ weight: 4, arbitrary: fc.array(nameLike, { maxLength: 4 }) }, { weight: 1, arbitrary: fc.anything() });
const publicUrl = fc.tuple(fc.constantFrom('http', 'https'), fc.ipV4(), fc.webPath()).map(([scheme, host, path]) => `${scheme}://${host}${path}`);
const numberLike = fc.oneof(fc.integer({ min: -10, max: 2_000_000_000 }), fc.double(), fc.constantFrom(0, 1, 100, 60_000, 1e300), fc.string({ maxLength: 4 }), fc.constant(null));
const DAY_MS = 86_400_000;
const validRetry = fc.record(
  {
    initial_delay_ms: fc.integer({ min: 0, max: DAY_MS }),
    factor: fc.double({ min: 1, max: 10, noNaN: true }),
    max_delay_ms: fc.integer({ min: 0, max: 7 * DAY_MS }),
    max_attempts: fc.integer({ min: 0, max: 10_000 }),
    max_age_s: fc.integer({ min: 0, max: 30 * 86_400 }),
    schedule_ms: fc.array(fc.integer({ min: 0, max: 7 * DAY_MS }), { minLength: 1, maxLength: 5 }),
    timeout_ms: fc.integer({ min: 100, max: 60_000 }),
  },
  { requiredKeys: [] },
);
const retryLike = fc.oneof(
  fc.record(
    {
      initial_delay_ms: numberLike,
      factor: numberLike,
      max_delay_ms: numberLike,
      max_attempts: numberLike,
      max_age_s: numberLike,
      timeout_ms: numberLike,
      schedule_ms: fc.oneof(fc.array(numberLike, { maxLength: 5 }), fc.constant([]), fc.anything()),
      extra: fc.anything(),
    },
    { requiredKeys: [] },
  ),
  fc.anything(),
);
const subscriptionFields = {
  url: mostly(publicUrl, urlLike),
  channels: mostly(validPatterns, patternsLike),
  types: mostly(fc.oneof(validPatterns, fc.constant(null)), patternsLike),
  description: mostly(fc.oneof(fc.string({ maxLength: 50 }), fc.constant(null)), fc.oneof(fc.constant('d'.repeat(1025)), fc.anything())),
  ordered: mostly(fc.boolean(), fc.anything()),
  max_in_flight: mostly(fc.integer({ min: 1, max: 1000 }), numberLike),
  rate_limit_per_s: mostly(fc.oneof(fc.double({ min: 0.001, max: 100_000, noNaN: true }), fc.constant(null)), numberLike),
  signature_scheme: mostly(fc.constantFrom('standard', 'stripe'), fc.oneof(fc.constantFrom('STRIPE', ''), fc.anything())),
  retry: mostly(fc.oneof(validRetry, fc.constant(null)), retryLike),
  enabled: mostly(fc.boolean(), fc.anything()),
};
/** Fields no body may carry. */
const foreignFields = { secret: fc.string({ maxLength: 10 }), id: fc.string({ maxLength: 10 }), extra: fc.anything() };
/** A body: mostly subscription-like records, sometimes with foreign fields, sometimes any JSON at all. */
const subscriptionBody = fc.oneof(
  { weight: 8, arbitrary: fc.record(subscriptionFields, { requiredKeys: ['url', 'channels'] }) },
  { weight: 1, arbitrary: fc.record({ ...subscriptionFields, ...foreignFields }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.jsonValue() },
);
const patchBody = fc.oneof(
  { weight: 8, arbitrary: fc.record(subscriptionFields, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.record({ ...subscriptionFields, ...foreignFields }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.jsonValue() },
);

async function send(method: string, path: string, body?: unknown): Promise<Response> {
  return hub.api(path, { method, body: body === undefined ? undefined : JSON.stringify(body) ?? 'null' });
}

// ── the properties ───────────────────────────────────────────────────────────────────────

describe('fuzzing the webhook routes', () => {
  it('POST /v1/subscriptions with random bodies: 201 with what was asked and a whsec_ secret, or a clean refusal', async () => {
    await fc.assert(
      fc.asyncProperty(subscriptionBody, async (body) => {
        const before = writes.version();
        const res = await send('POST', '/v1/subscriptions', body);
        const text = await expectSuccessOrCleanRefusal(res, writes, before, [201]);
        if (res.status !== 201) return;
        const created = JSON.parse(text) as Record<string, unknown> & { id: string; secret: string };
        const asked = body as Record<string, unknown>;
        expect(created).toMatchObject({ url: asked.url, channels: asked.channels, enabled: asked.enabled ?? true });
        expect(created.id).toMatch(/^sub_/);
        expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
        const { secret: _secret, ...view } = created;
        expect(await json(hub.api(`/v1/subscriptions/${created.id}`))).toEqual(view);
      }),
      { numRuns: RUNS },
    );
  });

  it('PATCH /v1/subscriptions/:id with random bodies: 200 and read back the same, or a clean refusal', async () => {
    await fc.assert(
      fc.asyncProperty(patchBody, async (body) => {
        const before = writes.version();
        const res = await send('PATCH', `/v1/subscriptions/${fx.patchedId}`, body);
        const text = await expectSuccessOrCleanRefusal(res, writes, before, [200]);
        if (res.status !== 200) return;
        expect(JSON.parse(text)).not.toHaveProperty('secret');
        expect(await json(hub.api(`/v1/subscriptions/${fx.patchedId}`))).toEqual(JSON.parse(text));
      }),
      { numRuns: RUNS },
    );
  });

  it('random ids and bodies on the subscription and delivery resources: never a 5xx', async () => {
    const idLike = fc.oneof(
      fc.constantFrom(fx.subscriptionId || 'sub_x', 'sub_', 'dlv_', 'evt_', '..', '%00', 'x'.repeat(600)),
      fc.string({ maxLength: 40 }).map(encodeURIComponent),
      fc.constant(null).map(() => fx.subscriptionId),
      fc.constant(null).map(() => fx.deliveryId),
      fc.constant(null).map(() => fx.eventId),
    );
    const action = fc.constantFrom(
      ['GET', (id: string) => `/v1/subscriptions/${id}`],
      ['POST', (id: string) => `/v1/subscriptions/${id}/redrive`],
      ['POST', (id: string) => `/v1/subscriptions/${id}/rotate-secret`],
      ['GET', (id: string) => `/v1/deliveries/${id}`],
      ['POST', (id: string) => `/v1/deliveries/${id}/retry`],
      ['GET', (id: string) => `/v1/events/${id}`],
    ) as fc.Arbitrary<[string, (id: string) => string]>;
    await fc.assert(
      fc.asyncProperty(action, idLike, fc.option(fc.oneof(fc.constant({ state: 'dead' }), fc.jsonValue()), { nil: undefined }), async ([method, path], id, body) => {
        const before = writes.version();
        const res = await send(method, path(id), method === 'POST' ? body : undefined);
        await expectSuccessOrCleanRefusal(res, writes, before, [200, 202]);
      }),
      { numRuns: RUNS },
    );
  });

  it('GET /v1/deliveries with random query strings: a page as asked, or a clean 400', async () => {
    const states = ['pending', 'in_flight', 'succeeded', 'retrying', 'dead', 'cancelled'];
    const pair = fc.tuple(
      fc.constantFrom('subscription_id', 'state', 'limit', 'after', 'x', 'state[]', 'limit'),
      fc.oneof(
        fc.constantFrom(...states, 'Dead', '0', '1', '2', '1000', '1001', '-1', '1.5', '1e3', ' 5', 'zzzzzzzzzzz', 'zzzzzzzzzzzz', '9'.repeat(20), ''),
        fc.constant(null).map(() => fx.subscriptionId),
        fc.string({ maxLength: 15 }),
      ),
    );
    const query = fc.array(pair, { maxLength: 5 });
    await fc.assert(
      fc.asyncProperty(query, async (pairs) => {
        const q = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
        const before = writes.version();
        const res = await hub.api(`/v1/deliveries?${q}`);
        const text = await expectSuccessOrCleanRefusal(res, writes, before, [200]);
        if (res.status !== 200) return;
        const page = JSON.parse(text) as { deliveries: Array<{ state: string; subscription_id: string }>; next_cursor: string | null };
        expect(page.next_cursor === null || /^[0-9a-z]+$/.test(page.next_cursor)).toBe(true);
        const asked = new URLSearchParams(q);
        expect(page.deliveries.length).toBeLessThanOrEqual(Number(asked.get('limit') ?? 100));
        if (asked.has('state')) for (const d of page.deliveries) expect(d.state).toBe(asked.get('state'));
        if (asked.has('subscription_id')) for (const d of page.deliveries) expect(d.subscription_id).toBe(asked.get('subscription_id'));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzzing POST /v1/tokens', () => {
  it('random bodies: 201 with a token carrying exactly what was asked, or a clean refusal; never a write', async () => {
    const tokenFields = {
      channels: mostly(fc.array(validPattern, { maxLength: 3 }), patternsLike),
      publish: mostly(fc.option(fc.array(validPattern, { maxLength: 3 }), { nil: undefined }), patternsLike),
      sub: mostly(fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }), fc.oneof(fc.constantFrom('', 's'.repeat(257)), fc.anything())),
      ttl_s: mostly(fc.option(fc.integer({ min: 1, max: 2_592_000 }), { nil: undefined }), fc.oneof(numberLike, fc.constant(2_592_001))),
    };
    const tokenBody = fc.oneof(
      { weight: 8, arbitrary: fc.record(tokenFields, { requiredKeys: ['channels'] }) },
      { weight: 1, arbitrary: fc.record({ ...tokenFields, exp: fc.integer(), extra: fc.anything() }, { requiredKeys: [] }) },
      { weight: 1, arbitrary: fc.jsonValue() },
    );
    await fc.assert(
      fc.asyncProperty(tokenBody, async (body) => {
        const before = writes.version();
        const res = await send('POST', '/v1/tokens', body);
        const text = await expectSuccessOrCleanRefusal(res, writes, before, [201]);
        expect(writes.version(), 'minting a token wrote something').toBe(before);
        if (res.status !== 201) return;
        const { token, expires_at } = JSON.parse(text) as { token: string; expires_at: string };
        const { payload } = await jwtVerify(token, new TextEncoder().encode(TOKEN_SECRET), { algorithms: ['HS256'] });
        const asked = body as { channels: string[]; publish?: string[]; sub?: string; ttl_s?: number };
        expect(payload.channels).toEqual(asked.channels);
        expect(payload.publish).toEqual(asked.publish);
        expect(payload.sub).toEqual(asked.sub);
        expect(payload.exp! - payload.iat!).toBe(asked.ttl_s ?? 3600);
        expect(Date.parse(expires_at)).toBe(payload.exp! * 1000);
      }),
      { numRuns: RUNS },
    );
  });
});
