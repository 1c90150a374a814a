import { afterEach, describe, expect, it } from 'vitest';
import { API_KEY, manualClock, startHub, type TestHub } from '../helpers/hub.js';
import { createKey, revokeKey, runCli, type CreatedKey } from '../helpers/keys.js';
import { expectApiError } from '../helpers/store-writes.js';
import { json } from '../helpers/webhooks.js';
import { connect } from '../helpers/ws-client.js';

/** API keys: the routes' shapes, expiry, last use, logs and metrics, revocation of open connections, the CLI. */
let hub: TestHub | undefined;
afterEach(async () => {
  await hub?.close();
  hub = undefined;
});

const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
const listKeys = async (h: TestHub): Promise<Array<Record<string, unknown>>> => (await json<{ keys: Array<Record<string, unknown>> }>(h.api('/v1/keys'))).keys;

describe('POST/GET/DELETE /v1/keys', () => {
  it('shows the key once, lists keys without it, and refuses it at once when revoked', async () => {
    hub = await startHub();
    const created = await createKey(hub, { name: 'publisher', scopes: ['publish', 'read'] });
    expect(Object.keys(created).sort()).toEqual(['created_at', 'expires_at', 'id', 'key', 'last_used_at', 'name', 'prefix', 'scopes']);
    expect(created).toMatchObject({ id: expect.stringMatching(/^key_/), name: 'publisher', scopes: ['publish', 'read'], expires_at: null, last_used_at: null });
    expect(created.key).toMatch(/^phk_[A-Za-z0-9_-]{43}$/);
    expect(created.key.startsWith(created.prefix)).toBe(true);
    expect(created.prefix.length).toBeLessThan(16);

    const listed = await listKeys(hub);
    expect(listed).toEqual([{ ...created, key: undefined }].map(({ key: _key, ...rest }) => rest));
    expect(JSON.stringify(listed)).not.toContain(created.key.slice(created.prefix.length));

    expect((await hub.api('/v1/events', { body: { channel: 'a', type: 't', data: 1 }, ...as(created.key) })).status).toBe(202);
    expect(await revokeKey(hub, created.id)).toBe(204);
    await expectApiError(await hub.api('/v1/events', { body: { channel: 'a', type: 't', data: 1 }, ...as(created.key) }), 401, 'unauthorized');
    expect(await listKeys(hub)).toEqual([]);
    await expectApiError(await hub.api(`/v1/keys/${created.id}`, { method: 'DELETE' }), 404, 'not_found');
  });

  it('refuses bad bodies naming each field', async () => {
    hub = await startHub();
    for (const [body, fields] of [
      [{ name: 'x', scopes: ['root'] }, ['scopes[0]']],
      [{ name: 'x', scopes: [] }, ['scopes']],
      [{ name: 'x', scopes: ['read', 'read'] }, ['scopes']],
      [{ name: '', scopes: ['read'], extra: 1 }, ['name', 'extra']],
      [{ name: 'x', scopes: ['read'], expires_at: 'tomorrow' }, ['expires_at']],
      [{ name: 'x', scopes: ['read'], expires_at: '2001-01-01T00:00:00Z' }, ['expires_at']],
    ] as const) {
      const error = await expectApiError(await hub.api('/v1/keys', { body }), 400, 'invalid_request');
      expect((error.details as Array<{ field: string }>).map((d) => d.field).sort(), JSON.stringify(body)).toEqual([...fields].sort());
    }
    expect(await listKeys(hub)).toEqual([]);
  });

  it('honours expires_at by the hub clock, and records last_used_at at most once a minute', async () => {
    const clock = manualClock(Date.now());
    hub = await startHub({ clock, config: { keyUsageFlushMs: 100 } });
    const start = clock.now();
    const key = await createKey(hub, { name: 'short', scopes: ['read'], expires_at: new Date(start + 3_600_000).toISOString() });
    const lastUsed = async () => (await listKeys(hub!)).find((k) => k.id === key.id)?.last_used_at;
    const use = async () => (await hub!.api('/v1/keys', as(key.key))).status;

    expect(await use()).toBe(200);
    await expect.poll(lastUsed, { timeout: 10_000 }).toBe(new Date(start).toISOString());
    clock.advance(30_000);
    expect(await use()).toBe(200);
    clock.advance(29_000);
    expect(await use()).toBe(200);
    await new Promise((r) => setTimeout(r, 300)); // a few flush intervals: nothing is due
    expect(await lastUsed()).toBe(new Date(start).toISOString());
    clock.advance(2_000); // 61 s after the first use
    expect(await use()).toBe(200);
    await expect.poll(lastUsed, { timeout: 10_000 }).toBe(new Date(start + 61_000).toISOString());

    clock.set(start + 3_600_000);
    await expectApiError(await hub.api('/v1/keys', as(key.key)), 401, 'unauthorized');
  });
});

describe('logs and metrics', () => {
  it('puts the key id on access-log lines, never the key, and counts outcomes', async () => {
    hub = await startHub();
    const key = await createKey(hub, { name: 'reader', scopes: ['read'] });
    expect((await hub.api('/v1/subscriptions', as(key.key))).status).toBe(200);
    expect((await hub.api('/v1/events', { body: { channel: 'a', type: 't', data: 1 }, ...as(key.key) })).status).toBe(403);
    expect((await hub.api('/v1/subscriptions', as('phk_nope'))).status).toBe(401);
    const lines = hub.logs.filter((l) => l.msg === 'request completed');
    expect(lines.filter((l) => l.keyId === key.id).map((l) => l.status)).toEqual([200, 403]);
    expect(lines.some((l) => l.keyId === 'root')).toBe(true);
    expect(JSON.stringify(hub.logs)).not.toContain(key.key);
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    for (const outcome of ['allowed', 'forbidden', 'unauthorized']) expect(metrics).toMatch(new RegExp(`^pushhub_auth_total\\{outcome="${outcome}"\\} [1-9]`, 'm'));
  });
});

describe('revocation and open connections', () => {
  it('closes a WebSocket opened with a key once the key is revoked (4001); one on another key stays open', async () => {
    hub = await startHub();
    const [doomed, other] = [await createKey(hub, { name: 'doomed', scopes: ['read'] }), await createKey(hub, { name: 'other', scopes: ['read'] })];
    const a = await connect(hub.url, { bearer: doomed.key });
    const b = await connect(hub.url, { query: other.key });
    expect(await a.request({ op: 'subscribe', channel: 'x' })).toMatchObject({ op: 'subscribed' });
    expect(await revokeKey(hub, doomed.id)).toBe(204);
    expect(await a.closed).toMatchObject({ code: 4001 });
    expect(await b.request({ op: 'ping' })).toMatchObject({ op: 'pong' });
    b.close();
  });
});

describe('pushhub keys', () => {
  it('creates (printing the key once), lists and revokes through the running hub', async () => {
    hub = await startHub();
    const env = { PUSHHUB_API_KEY: API_KEY };
    const created = await runCli(['keys', 'create', '--name', 'ci', '--scopes', 'publish,read', '--expires', '30d', '--url', hub.url], env);
    expect(created.code, created.stderr).toBe(0);
    const [key, rest] = created.stdout.trim().split('\n');
    expect(key).toMatch(/^phk_/);
    const info = JSON.parse(rest!) as CreatedKey;
    expect(info).toMatchObject({ name: 'ci', scopes: ['publish', 'read'] });
    expect(Date.parse(info.expires_at!) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect((await hub.api('/v1/events', { body: { channel: 'a', type: 't', data: 1 }, ...as(key!) })).status).toBe(202);

    const listed = await runCli(['keys', 'list', '--url', hub.url], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).not.toContain(key);
    expect(JSON.parse(listed.stdout.trim())).toMatchObject({ id: info.id, name: 'ci' });

    const revoked = await runCli(['keys', 'revoke', info.id, '--url', hub.url], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await hub.api('/v1/events', { body: { channel: 'a', type: 't', data: 1 }, ...as(key!) })).status).toBe(401);
    expect((await runCli(['keys', 'revoke', info.id, '--url', hub.url], env)).code).toBe(1);
    expect((await runCli(['keys', 'create', '--name', 'x', '--url', hub.url], env)).code).toBe(2);
  }, 60_000);
});
