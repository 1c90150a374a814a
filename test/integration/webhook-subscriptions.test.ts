import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type TestHub } from '../helpers/hub.js';
import { startReceiver } from '../helpers/receiver.js';
import { createSubscription, deliveryIn, eventStatus, json, publish } from '../helpers/webhooks.js';

interface ErrorBody {
  error: { code: string; details?: Array<{ field: string; message: string }> };
}

describe('subscriptions API', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startHub({ config: { allowPrivateUrls: true } });
  });
  afterAll(() => hub.close());

  it('creates (201, secret shown once), reads and lists without the secret', async () => {
    const res = await hub.api('/v1/subscriptions', {
      body: { url: 'https://example.com/hook', channels: ['orders', 'billing.>'], types: ['order.*'], description: 'main' },
    });
    expect(res.status).toBe(201);
    const created = await json<Record<string, unknown>>(res);
    expect(created).toEqual({
      id: expect.stringMatching(/^sub_[0-9A-Z]{26}$/),
      url: 'https://example.com/hook',
      channels: ['orders', 'billing.>'],
      types: ['order.*'],
      description: 'main',
      ordered: false,
      max_in_flight: 10,
      rate_limit_per_s: null,
      signature_scheme: 'standard',
      retry: null,
      headers: {},
      enabled: true,
      disabled_reason: null,
      previous_secret_expires_at: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
    });
    const { secret, ...rest } = created;
    expect(Buffer.from(String(secret).slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    expect(await json(hub.api(`/v1/subscriptions/${String(created.id)}`))).toEqual(rest);
    const list = await json<{ subscriptions: Array<Record<string, unknown>> }>(hub.api('/v1/subscriptions'));
    expect(list.subscriptions).toContainEqual(rest);
    expect(JSON.stringify(list)).not.toContain('whsec_');
    expect(JSON.stringify(hub.logs)).not.toContain(String(secret));
  });

  it('PATCH changes any field, enabled included; null clears types and retry', async () => {
    const sub = await createSubscription(hub, { url: 'https://example.com/a', channels: ['a'], types: ['x'], retry: { max_attempts: 3 } });
    const patch = {
      url: 'https://example.com/b',
      channels: ['b.*'],
      types: null,
      description: 'changed',
      ordered: true,
      max_in_flight: 5,
      rate_limit_per_s: 2.5,
      signature_scheme: 'stripe',
      retry: null,
      enabled: false,
    };
    const res = await hub.api(`/v1/subscriptions/${sub.id}`, { method: 'PATCH', body: patch });
    expect(res.status).toBe(200);
    const { enabled, ...settings } = patch;
    expect(await res.json()).toMatchObject({ ...settings, enabled, disabled_reason: 'manual' });
    const again = await hub.api(`/v1/subscriptions/${sub.id}`, { method: 'PATCH', body: { retry: { schedule_ms: [0, 1000], max_age_s: 0 } } });
    expect(await again.json()).toMatchObject({ enabled: false, disabled_reason: 'manual', retry: { schedule_ms: [0, 1000], max_age_s: 0 } });
    const on = await hub.api(`/v1/subscriptions/${sub.id}`, { method: 'PATCH', body: { enabled: true } });
    expect(await on.json()).toMatchObject({ enabled: true, disabled_reason: null });
  });

  it('refuses bad input with 400 invalid_request, one detail per field, and changes nothing', async () => {
    const before = (await json<{ subscriptions: unknown[] }>(hub.api('/v1/subscriptions'))).subscriptions.length;
    const res = await hub.api('/v1/subscriptions', {
      body: {
        url: 'ftp://example.com',
        channels: ['ok', 'a..b', 'x.>.y'],
        max_in_flight: 0,
        signature_scheme: 'md5',
        retry: { max_attempts: -1, bogus: 1 },
        colour: 'red',
      },
    });
    expect(res.status).toBe(400);
    const body = await json<ErrorBody>(res);
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.details!.map((d) => d.field).sort()).toEqual(
      ['channels[1]', 'channels[2]', 'colour', 'max_in_flight', 'retry.bogus', 'retry.max_attempts', 'signature_scheme'].sort(),
    );
    for (const url of ['ftp://example.com', 'not a url', 'https://user:pw@example.com/', 'https://example.com/#x']) {
      const r = await hub.api('/v1/subscriptions', { body: { url, channels: ['a'] } });
      expect(r.status, url).toBe(400);
      expect((await json<ErrorBody>(r)).error).toMatchObject({ code: 'invalid_request', details: [{ field: 'url' }] });
    }
    expect((await hub.api('/v1/subscriptions', { body: { url: 'https://example.com', channels: [] } })).status).toBe(400);
    // A lone surrogate is legal JSON text but not storable Unicode: refused, not altered. A pair is fine.
    const lone = await hub.api('/v1/subscriptions', {
      body: '{"url":"https://example.com/hook","channels":["a"],"description":"half \\ud83d of an emoji"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(lone.status).toBe(400);
    expect((await json<ErrorBody>(lone)).error).toMatchObject({ code: 'invalid_request', details: [{ field: 'description' }] });
    expect((await json<{ subscriptions: unknown[] }>(hub.api('/v1/subscriptions'))).subscriptions).toHaveLength(before);
    const pair = await json<{ id: string; description: string }>(
      hub.api('/v1/subscriptions', { body: { url: 'https://example.com/hook', channels: ['a'], description: 'whole 🙂 emoji' } }),
    );
    expect(pair.description).toBe('whole 🙂 emoji');
    await hub.api(`/v1/subscriptions/${pair.id}`, { method: 'DELETE' });
  });

  it('404 for unknown ids, 401 without the API key', async () => {
    for (const [method, path] of [
      ['GET', '/v1/subscriptions/sub_nope'],
      ['PATCH', '/v1/subscriptions/sub_nope'],
      ['DELETE', '/v1/subscriptions/sub_nope'],
      ['POST', '/v1/subscriptions/sub_nope/rotate-secret'],
      ['GET', '/v1/deliveries/dlv_nope'],
    ] as const) {
      const res = await hub.api(path, { method, body: method === 'PATCH' ? {} : undefined });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect((await json<ErrorBody>(res)).error.code).toBe('not_found');
    }
    const redrive = await hub.api('/v1/subscriptions/sub_nope/redrive', { body: { state: 'dead' } });
    expect(redrive.status).toBe(404);
    const anon = await hub.api('/v1/subscriptions', { headers: { authorization: '' } });
    expect(anon.status).toBe(401);
  });

  it('redrive takes only {"state":"dead"}', async () => {
    const sub = await createSubscription(hub, { url: 'https://example.com/r', channels: ['r'] });
    const res = await hub.api(`/v1/subscriptions/${sub.id}/redrive`, { body: { state: 'pending' } });
    expect(res.status).toBe(400);
    expect((await json<ErrorBody>(res)).error.details).toEqual([{ field: 'state', message: expect.any(String) }]);
  });

  it('DELETE → 204; waiting deliveries are cancelled, and it is gone', async () => {
    const sub = await createSubscription(hub, { url: 'https://example.com/d', channels: ['del'], enabled: false });
    const event = await publish(hub, 'del');
    expect((await eventStatus(hub, event.id)).deliveries[0]).toMatchObject({ state: 'pending' });
    const res = await hub.api(`/v1/subscriptions/${sub.id}`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect((await hub.api(`/v1/subscriptions/${sub.id}`)).status).toBe(404);
    const status = await eventStatus(hub, event.id);
    expect(status.deliveries[0]).toMatchObject({ state: 'cancelled', last_error: 'subscription deleted' });
    expect(status.status).toBe('no_subscribers');
    const retry = await hub.api(`/v1/deliveries/${status.deliveries[0]!.id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(409);
    expect((await json<ErrorBody>(retry)).error.code).toBe('subscription_deleted');
    const after = await publish(hub, 'del');
    expect((await eventStatus(hub, after.id)).deliveries).toEqual([]);
  });
});

describe('private addresses', () => {
  it('are refused by default at creation: 400 url_not_allowed', async () => {
    const hub = await startHub();
    try {
      for (const url of [
        'http://127.0.0.1:9/hook',
        'http://localhost/hook',
        'http://[::1]/hook',
        'http://10.1.2.3/hook',
        'http://192.168.0.10/hook',
        'http://169.254.169.254/latest/meta-data',
        'http://[::ffff:127.0.0.1]/hook',
        'http://0.0.0.0/hook',
      ]) {
        const res = await hub.api('/v1/subscriptions', { body: { url, channels: ['a'] } });
        expect(res.status, url).toBe(400);
        expect((await json<ErrorBody>(res)).error.code, url).toBe('url_not_allowed');
      }
      const sub = await createSubscription(hub, { url: 'https://93.184.215.14/hook', channels: ['a'], enabled: false });
      const patch = await hub.api(`/v1/subscriptions/${sub.id}`, { method: 'PATCH', body: { url: 'http://127.0.0.1/x' } });
      expect(patch.status).toBe(400);
      expect((await json<ErrorBody>(patch)).error.code).toBe('url_not_allowed');
    } finally {
      await hub.close();
    }
  });

  it('are refused again at connection time: a hub restarted without the permission does not connect', async () => {
    const rx = await startReceiver();
    const first = await startHub({ config: { allowPrivateUrls: true } });
    const dir = first.dir;
    const sub = await createSubscription(first, { url: rx.url, channels: ['p'], retry: { max_attempts: 1 } });
    await first.app.close(); // keeps the folder
    const hub = await startHub({ dir });
    try {
      const event = await publish(hub, 'p');
      const dead = await deliveryIn(hub, event.id, 'dead');
      expect(dead).toMatchObject({ subscription_id: sub.id, last_status: null, last_error: expect.stringMatching(/^url_not_allowed: .*loopback/) });
      expect(rx.received).toHaveLength(0);
      expect(await (await hub.api('/metrics')).text()).toMatch(/pushhub_webhook_attempts_total\{outcome="blocked"\} 1/);
    } finally {
      await hub.close();
      await rx.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
