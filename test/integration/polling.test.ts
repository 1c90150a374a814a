import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cursorCodec } from '../../src/domain/cursor.js';
import { startHub, type TestHub } from '../helpers/hub.js';

let hub: TestHub;
let other: TestHub;
beforeAll(async () => {
  [hub, other] = await Promise.all([startHub(), startHub()]);
  const events = Array.from({ length: 25 }, (_, i) => ({ channel: i % 2 ? 'poll.odd' : 'poll.even', type: 't', data: { i } }));
  expect((await hub.api('/v1/events/batch', { body: { events } })).status).toBe(202);
});
afterAll(() => Promise.all([hub.close(), other.close()]));

interface Page {
  events: Array<{ channel: string; cursor: string; data: { i: number } }>;
  next_cursor: string;
  has_more: boolean;
}
const poll = async (query: string, channel = 'poll.even') => {
  const res = await hub.api(`/v1/channels/${channel}/events${query}`);
  return { status: res.status, body: (await res.json()) as Page & { error: { code: string; details: unknown } } };
};

describe('GET /v1/channels/<channel>/events', () => {
  it('pages through a channel oldest first, following next_cursor until has_more is false', async () => {
    const seen: number[] = [];
    let query = '?limit=5';
    for (let pages = 0; pages < 10; pages++) {
      const { status, body } = await poll(query);
      expect(status).toBe(200);
      seen.push(...body.events.map((e) => e.data.i));
      expect(body.events.every((e) => e.channel === 'poll.even')).toBe(true);
      if (!body.has_more) break;
      query = `?limit=5&after=${body.next_cursor}`;
    }
    expect(seen).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24]);
  });

  it('defaults to 100 events and returns the cursor to go on from when nothing is new', async () => {
    const all = await poll('');
    expect(all.body.events).toHaveLength(13);
    expect(all.body.has_more).toBe(false);
    const after = await poll(`?after=${all.body.next_cursor}`);
    expect(after.body.events).toEqual([]);
    expect(after.body.has_more).toBe(false);
    await hub.api('/v1/events', { body: { channel: 'poll.even', type: 't', data: { i: 26 } } });
    const fresh = await poll(`?after=${after.body.next_cursor}`);
    expect(fresh.body.events.map((e) => e.data.i)).toEqual([26]);
  });

  it('gives an empty channel a next_cursor that sees later events', async () => {
    const empty = await poll('', 'poll.empty');
    expect(empty.body).toMatchObject({ events: [], has_more: false });
    await hub.api('/v1/events', { body: { channel: 'poll.empty', type: 't', data: { i: 1 } } });
    expect((await poll(`?after=${empty.body.next_cursor}`, 'poll.empty')).body.events).toHaveLength(1);
  });

  it('refuses a cursor from another database with 410 cursor_expired', async () => {
    const theirs = (await (
      await other.api('/v1/events', { body: { channel: 'poll.even', type: 't', data: 1 } })
    ).json()) as { cursor: string };
    const res = await poll(`?after=${theirs.cursor}`);
    expect(res.status).toBe(410);
    expect(res.body.error).toMatchObject({ code: 'cursor_expired', details: { reason: 'foreign_cursor' } });
  });

  it('refuses a cursor past the head as foreign', async () => {
    const ahead = cursorCodec(hub.app.store.epoch).encode((await hub.app.store.position()).head + 10);
    expect((await poll(`?after=${ahead}`)).status).toBe(410);
  });

  it.each([
    ['?after=garbage', 'after'],
    ['?limit=0', 'limit'],
    ['?limit=1001', 'limit'],
    ['?limit=ten', 'limit'],
  ])('refuses %s with 400 naming %s', async (query, field) => {
    const res = await poll(query);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_request', details: [{ field }] });
  });

  it('refuses an invalid channel name', async () => {
    const res = await hub.api('/v1/channels/bad%20name/events');
    expect(res.status).toBe(400);
  });

  it('judges long channel names itself, and answers router errors in the API shape', async () => {
    expect((await hub.api(`/v1/channels/${'c'.repeat(128)}/events`)).status).toBe(200);
    for (const path of [`/v1/channels/${'c'.repeat(129)}/events`, `/v1/channels/${'c'.repeat(600)}/events`, '/v1/channels/%E0%A4%A/events']) {
      const res = await hub.api(path);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
    }
  });
});
