import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type TestHub } from '../helpers/hub.js';

let hub: TestHub;
beforeAll(async () => {
  hub = await startHub();
});
afterAll(() => hub.close());

interface Accepted {
  id: string;
  channel: string;
  type: string;
  occurred_at: string;
  cursor: string;
  status_url: string;
}

const publish = (body: unknown) => hub.api('/v1/events', { body });

describe('POST /v1/events', () => {
  it('answers 202 with the accepted event, readable afterwards as an envelope', async () => {
    const res = await publish({ channel: 'orders', type: 'order.created', data: { n: 1 } });
    expect(res.status).toBe(202);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    const body = (await res.json()) as Accepted;
    expect(Object.keys(body).sort()).toEqual(['channel', 'cursor', 'id', 'occurred_at', 'status_url', 'type']);
    expect(body).toMatchObject({ channel: 'orders', type: 'order.created', status_url: `/v1/events/${body.id}` });
    expect(body.id).toMatch(/^evt_[0-9A-Z]{26}$/);
    expect(Date.parse(body.occurred_at)).toBeGreaterThan(Date.now() - 60_000);
    const status = await hub.api(body.status_url);
    expect(status.status).toBe(200);
    expect(await status.json()).toEqual({
      event: {
        id: body.id,
        channel: 'orders',
        type: 'order.created',
        occurred_at: body.occurred_at,
        cursor: body.cursor,
        spec_version: '1',
        data: { n: 1 },
      },
      status: 'no_subscribers',
      deliveries: [],
    });
  });

  it('keeps a client-supplied occurred_at, normalised to UTC', async () => {
    const res = await publish({ channel: 'orders', type: 't', data: null, occurred_at: '2026-01-20T13:00:01.123+01:00' });
    expect(res.status).toBe(202);
    expect(((await res.json()) as Accepted).occurred_at).toBe('2026-01-20T12:00:01.123Z');
  });

  it.each([null, 0, 'text', [1, { a: [true] }], { deep: { er: { x: 'ü€😀' } } }])('carries any JSON data value: %j', async (data) => {
    const res = await publish({ channel: 'data.kinds', type: 't', data });
    const { status_url } = (await res.json()) as Accepted;
    const status = (await (await hub.api(status_url)).json()) as { event: { data: unknown } };
    expect(status.event.data).toEqual(data);
  });

  it('gives every field that is wrong, and writes nothing', async () => {
    const before = (await hub.app.store.position()).head;
    const res = await publish({ channel: 'bad channel', type: '', occurred_at: 'yesterday', extra: 1 });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; message: string; details: Array<{ field: string }> } };
    expect(error.code).toBe('invalid_request');
    expect(error.message).toEqual(expect.any(String));
    expect(error.details.map((d) => d.field).sort()).toEqual(['channel', 'data', 'extra', 'occurred_at', 'type']);
    expect((await hub.app.store.position()).head).toBe(before);
  });

  it.each([
    ['a body that is not an object', [1, 2], 'body'],
    ['a reserved channel', { channel: '$hub.x', type: 't', data: 1 }, 'channel'],
    ['a channel too long', { channel: 'c'.repeat(129), type: 't', data: 1 }, 'channel'],
    ['an empty segment', { channel: 'a..b', type: 't', data: 1 }, 'channel'],
    ['a type too long', { channel: 'c', type: 't'.repeat(129), data: 1 }, 'type'],
    ['a non-string type', { channel: 'c', type: 5, data: 1 }, 'type'],
    ['a missing data', { channel: 'c', type: 't' }, 'data'],
  ])('refuses %s with 400 naming %s', async (_what, body, field) => {
    const res = await publish(body);
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; details: Array<{ field: string }> } };
    expect(error.code).toBe('invalid_request');
    expect(error.details.map((d) => d.field)).toContain(field);
  });

  it('carries __proto__ and constructor keys in data as data; refuses them as unknown top-level fields', async () => {
    const data = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}';
    const res = await hub.api('/v1/events', { body: `{"channel":"docs","type":"t","data":${data}}`, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(202);
    const { status_url } = (await res.json()) as Accepted;
    const stored = await (await hub.api(status_url)).text();
    expect(stored).toContain(`"data":${data}`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const top = await hub.api('/v1/events', { body: '{"channel":"docs","type":"t","data":1,"__proto__":{"x":1}}', headers: { 'content-type': 'application/json' } });
    expect(top.status).toBe(400);
    expect(await top.json()).toMatchObject({ error: { code: 'invalid_request', details: [{ field: '__proto__' }] } });
  });

  it('refuses malformed JSON, an empty body and a non-JSON content type', async () => {
    const bad = await hub.api('/v1/events', { body: '{"channel":', headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
    const empty = await hub.api('/v1/events', { method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(empty.status).toBe(400);
    const text = await hub.api('/v1/events', { body: 'channel=a', headers: { 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);
    expect(((await text.json()) as { error: { code: string } }).error.code).toBe('unsupported_media_type');
  });

  it('refuses a body over the limit with 413', async () => {
    const res = await publish({ channel: 'c', type: 't', data: 'x'.repeat(300 * 1024) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
  });
});

describe('POST /v1/events/batch', () => {
  it('accepts up to 1000 events atomically and answers one result per input, in order', async () => {
    const events = Array.from({ length: 1000 }, (_, i) => ({ channel: `batch.${i % 3}`, type: 'b', data: { i } }));
    const res = await hub.api('/v1/events/batch', { body: { events } });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { events: Accepted[] };
    expect(body.events).toHaveLength(1000);
    body.events.forEach((e, i) => expect(e.channel).toBe(`batch.${i % 3}`));
    const seqs = body.events.map((e) => hub.app.codec.decode(e.cursor)).map((d) => (d.ok ? d.seq : -1));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(1000);
  });

  it('rejects the whole batch when one event is invalid, and writes nothing', async () => {
    const before = (await hub.app.store.position()).head;
    const events = [
      { channel: 'ok', type: 't', data: 1 },
      { channel: 'ok', type: 't', data: 2 },
      { channel: 'not ok!', type: 't', data: 3 },
    ];
    const res = await hub.api('/v1/events/batch', { body: { events } });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { details: Array<{ field: string }> } };
    expect(error.details).toEqual([{ field: 'events[2].channel', message: expect.any(String) }]);
    expect((await hub.app.store.position()).head).toBe(before);
  });

  it('refuses an empty batch and one over 1000', async () => {
    expect((await hub.api('/v1/events/batch', { body: { events: [] } })).status).toBe(400);
    const tooMany = Array.from({ length: 1001 }, () => ({ channel: 'c', type: 't', data: 1 }));
    const res = await hub.api('/v1/events/batch', { body: { events: tooMany } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { details: Array<{ field: string }> } }).error.details[0]!.field).toBe('events');
  });
});

describe('reading events', () => {
  it('GET /v1/events/<id> is 404 for an unknown id', async () => {
    const res = await hub.api('/v1/events/evt_nope');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('every 202 event of a concurrent burst is readable afterwards, in cursor order', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const res = await publish({ channel: 'burst', type: 't', data: { i } });
        expect(res.status).toBe(202);
        return (await res.json()) as Accepted;
      }),
    );
    const listed = await hub.api('/v1/channels/burst/events?limit=1000');
    const { events } = (await listed.json()) as { events: Array<{ id: string; cursor: string }> };
    const byCursor = [...results].sort(
      (a, b) => (hub.app.codec.decode(a.cursor) as { seq: number }).seq - (hub.app.codec.decode(b.cursor) as { seq: number }).seq,
    );
    expect(events.map((e) => e.id)).toEqual(byCursor.map((r) => r.id));
    expect(events.map((e) => e.cursor)).toEqual(byCursor.map((r) => r.cursor));
  });
});
