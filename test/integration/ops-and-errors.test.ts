import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onPostgres, startHub, type TestHub } from '../helpers/hub.js';

let hub: TestHub;
beforeAll(async () => {
  hub = await startHub();
});
afterAll(() => hub.close());

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

describe('authentication', () => {
  it.each([
    ['POST', '/v1/events'],
    ['POST', '/v1/events/batch'],
    ['GET', '/v1/events/evt_x'],
    ['GET', '/v1/channels/orders/events'],
  ])('%s %s needs the API key: 401 without it or with a wrong one', async (method, path) => {
    const body = method === 'POST' ? { channel: 'c', type: 't', data: 1 } : undefined;
    for (const authorization of ['', 'Bearer wrong-key-000000000000', 'Basic abc', 'Bearer']) {
      const res = await hub.api(path, { method, body, headers: { authorization } });
      expect(res.status).toBe(401);
      expect((await errorOf(res)).code).toBe('unauthorized');
    }
  });

  it('does not take the API key from the query string on server routes', async () => {
    const res = await fetch(`${hub.url}/v1/events?token=${hub.config.apiKey}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'c', type: 't', data: 1 }),
    });
    expect(res.status).toBe(401);
  });
});

describe('error shape', () => {
  it('unknown routes get 404 not_found in the API shape', async () => {
    const res = await hub.api('/v1/nothing-here');
    expect(res.status).toBe(404);
    const error = await errorOf(res);
    expect(error.code).toBe('not_found');
    expect(error.message).toEqual(expect.any(String));
  });

  it('echoes a request id, or makes one', async () => {
    const given = await hub.api('/healthz', { headers: { 'x-request-id': 'my-req.1' } });
    expect(given.headers.get('x-request-id')).toBe('my-req.1');
    const made = await hub.api('/healthz', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(made.headers.get('x-request-id')).toMatch(/^req_/);
  });
});

describe('operations', () => {
  it('/healthz and /readyz answer without credentials', async () => {
    expect(await (await fetch(`${hub.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${hub.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { database: 'ok' } });
  });

  it('/metrics exposes publish, commit and event-loop metrics in Prometheus text', async () => {
    await hub.api('/v1/events', { body: { channel: 'm', type: 't', data: 1 } });
    const res = await fetch(`${hub.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^pushhub_events_published_total\{via="http"\} [1-9]/m);
    expect(text).toMatch(/^pushhub_commit_batch_events_count [1-9]/m);
    expect(text).toMatch(/^pushhub_commit_duration_seconds_bucket/m);
    if (!onPostgres) expect(text).toMatch(/^pushhub_wal_sync_seconds_count [1-9]/m); // no WAL sync of ours on PostgreSQL
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it('never logs the API key', async () => {
    await hub.api('/v1/events', { body: { channel: 'log', type: 't', data: 1 } });
    await hub.api('/v1/nope');
    expect(JSON.stringify(hub.logs)).not.toContain(hub.config.apiKey);
  });
});

describe('storage unavailable', () => {
  // Locks the SQLite file from a second connection; PostgreSQL's outage is in postgres-outage.postgres.test.ts.
  it.skipIf(onPostgres)('answers 503 storage_unavailable with Retry-After while the database is locked, then recovers', async () => {
    const other = new Database(hub.config.db);
    other.prepare('BEGIN IMMEDIATE').run();
    try {
      const res = await hub.api('/v1/events', { body: { channel: 'locked', type: 't', data: 1 } });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expect((await errorOf(res)).code).toBe('storage_unavailable');
      const ready = await fetch(`${hub.url}/readyz`);
      expect(ready.status).toBe(503);
      expect((await errorOf(ready)).code).toBe('not_ready');
    } finally {
      other.prepare('ROLLBACK').run();
      other.close();
    }
    const listed = (await (await hub.api('/v1/channels/locked/events')).json()) as { events: unknown[] };
    expect(listed.events).toEqual([]);
    expect((await hub.api('/v1/events', { body: { channel: 'locked', type: 't', data: 2 } })).status).toBe(202);
  });
});
