import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock, startHub, type TestHub } from '../helpers/hub.js';

let hub: TestHub;
const clock = manualClock(Date.now());
beforeAll(async () => {
  hub = await startHub({ clock });
});
afterAll(() => hub.close());

const publish = (key: string, body: unknown, path = '/v1/events') =>
  hub.api(path, { body, headers: { 'idempotency-key': key } });

describe('Idempotency-Key', () => {
  it('replays the same 202 for the same key and body, with Idempotent-Replayed', async () => {
    const body = { channel: 'idem', type: 't', data: { a: 1, b: [1, 2] } };
    const first = await publish('key-1', body);
    expect(first.status).toBe(202);
    const firstBody = await first.json();
    const again = await publish('key-1', { data: { b: [1, 2], a: 1 }, type: 't', channel: 'idem' });
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(firstBody);
    const listed = (await (await hub.api('/v1/channels/idem/events')).json()) as { events: unknown[] };
    expect(listed.events).toHaveLength(1);
  });

  it('answers 409 idempotency_key_reused for the same key with another body', async () => {
    expect((await publish('key-2', { channel: 'idem2', type: 't', data: 1 })).status).toBe(202);
    const res = await publish('key-2', { channel: 'idem2', type: 't', data: 2 });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('idempotency_key_reused');
  });

  it('never creates two events for concurrent requests with one key', async () => {
    const body = { channel: 'idem.race', type: 't', data: { x: 1 } };
    const responses = await Promise.all(Array.from({ length: 25 }, () => publish('race-key', body)));
    const bodies = await Promise.all(responses.map((r) => r.json() as Promise<{ id: string }>));
    expect(responses.every((r) => r.status === 202)).toBe(true);
    expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
    expect(responses.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(24);
    const listed = (await (await hub.api('/v1/channels/idem.race/events')).json()) as { events: unknown[] };
    expect(listed.events).toHaveLength(1);
  });

  it('concurrent requests with one key and different bodies: one event, the others 409', async () => {
    const responses = await Promise.all(
      Array.from({ length: 5 }, (_, i) => publish('race-key-2', { channel: 'idem.race2', type: 't', data: i })),
    );
    expect(responses.map((r) => r.status).sort()).toEqual([202, 409, 409, 409, 409]);
  });

  it('covers batches, and a key used for a single event cannot replay a batch', async () => {
    const batch = { events: [{ channel: 'idem.b', type: 't', data: 1 }, { channel: 'idem.b', type: 't', data: 2 }] };
    const first = await publish('batch-key', batch, '/v1/events/batch');
    expect(first.status).toBe(202);
    const again = await publish('batch-key', batch, '/v1/events/batch');
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(await first.json());
    expect((await publish('batch-key', batch.events[0], '/v1/events')).status).toBe(409);
  });

  it('forgets keys after 24 hours', async () => {
    const body = { channel: 'idem.ttl', type: 't', data: 1 };
    const first = (await (await publish('ttl-key', body)).json()) as { id: string };
    clock.advance(24 * 3600 * 1000 + 1);
    const later = await publish('ttl-key', body);
    expect(later.headers.get('idempotent-replayed')).toBeNull();
    expect(((await later.json()) as { id: string }).id).not.toBe(first.id);
  });

  it('refuses a key over 255 characters or with control characters', async () => {
    const body = { channel: 'idem', type: 't', data: 1 };
    const long = await publish('k'.repeat(256), body);
    expect(long.status).toBe(400);
    expect(((await long.json()) as { error: { details: Array<{ field: string }> } }).error.details[0]!.field).toBe('Idempotency-Key');
    expect((await publish('k'.repeat(255), body)).status).toBe(202);
  });

  it('does not burn a key on a rejected request', async () => {
    expect((await publish('fresh-key', { channel: 'bad channel', type: 't', data: 1 })).status).toBe(400);
    const ok = await publish('fresh-key', { channel: 'good', type: 't', data: 1 });
    expect(ok.status).toBe(202);
    expect(ok.headers.get('idempotent-replayed')).toBeNull();
  });
});
