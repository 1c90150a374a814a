import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';
import { rawExchange } from '../helpers/raw-http.js';
import { SseClient } from '../helpers/sse-client.js';
import { mintToken, publish } from '../helpers/tokens.js';

let hub: TestHub;
beforeAll(async () => {
  hub = await startHub({ config: { realtime: { ...loadConfig({}).realtime, sseHeartbeatMs: 100, replayPageSize: 2 } } });
});
afterAll(() => hub.close());

const auth = { authorization: `Bearer ${API_KEY}` };

describe('GET /v1/channels/:channel/sse', () => {
  it('streams events with id = cursor and data = envelope, plus heartbeats', async () => {
    const sse = await SseClient.open(`${hub.url}/v1/channels/news/sse`, auth);
    expect(sse.response.status).toBe(200);
    expect(sse.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    await sse.waitFor(() => sse.messages.length === 1);
    const head = sse.messages[0]!;
    expect(head.data).toBeUndefined(); // id-only: the position to resume from before any event
    const a = await publish(hub, 'news', { n: 1 });
    await publish(hub, 'elsewhere', 0);
    const b = await publish(hub, 'news', { n: 2 });
    await sse.waitFor(() => sse.events().length === 2);
    expect(sse.messages.slice(1).map((m) => m.id)).toEqual([a.cursor, b.cursor]);
    expect(sse.events()[1]).toMatchObject({ id: b.id, channel: 'news', cursor: b.cursor, data: { n: 2 } });
    await sse.waitFor(() => sse.comments >= 2, 2000);
    sse.abort();
  });

  it('answers HEAD with the stream headers and no stream, after the credential and channel checks', async () => {
    const head = await fetch(`${hub.url}/v1/channels/news/sse`, { method: 'HEAD', headers: auth });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect((await fetch(`${hub.url}/v1/channels/news/sse`, { method: 'HEAD' })).status).toBe(401);
    // A client that keeps its connection: the response is complete, no stream stays open.
    const started = Date.now();
    const answer = await rawExchange(hub.url, `HEAD /v1/channels/news/sse HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer ${API_KEY}\r\n\r\n`, 5000);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer.toLowerCase()).toContain('content-length: 0');
    expect(Date.now() - started).toBeLessThan(5000); // ended by the hub, not by the timeout
  });

  it('resumes from Last-Event-ID (which wins over ?after=) or ?after=, with no gap and no repeat', async () => {
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await publish(hub, 'resume', i));
    const byAfter = await SseClient.open(`${hub.url}/v1/channels/resume/sse?after=${sent[0]!.cursor}`, auth);
    await byAfter.waitFor(() => byAfter.events().length === 4);
    const byHeader = await SseClient.open(`${hub.url}/v1/channels/resume/sse?after=${sent[0]!.cursor}`, {
      ...auth,
      'last-event-id': sent[2]!.cursor,
    });
    await byHeader.waitFor(() => byHeader.events().length === 2);
    await publish(hub, 'resume', 5);
    await byHeader.waitFor(() => byHeader.events().length === 3);
    expect(byHeader.events().map((e) => e.data)).toEqual([3, 4, 5]);
    await byAfter.waitFor(() => byAfter.events().length === 5);
    expect(byAfter.events().map((e) => e.data)).toEqual([1, 2, 3, 4, 5]);
    byAfter.abort();
    byHeader.abort();
  });

  it('starts an expired cursor with event: reset, then goes live', async () => {
    const old = await publish(hub, 'reset', 'old');
    await publish(hub, 'reset', 'pruned too'); // so that one event after `old` is gone
    await hub.app.store.pruneEvents(Date.now() + 1000, 10_000);
    const sse = await SseClient.open(`${hub.url}/v1/channels/reset/sse`, { ...auth, 'last-event-id': old.cursor });
    await sse.waitFor(() => sse.messages.length === 1);
    const reset = sse.messages[0]!;
    expect(reset.event).toBe('reset');
    expect(JSON.parse(reset.data!)).toEqual({ reason: 'cursor_expired', cursor: reset.id });
    await publish(hub, 'reset', 'live');
    await sse.waitFor(() => sse.events().length === 1);
    expect(sse.events()[0]!.data).toBe('live');
    sse.abort();
  });

  it('checks credentials (header or ?token=), grants and cursors before streaming', async () => {
    expect((await fetch(`${hub.url}/v1/channels/a/sse`)).status).toBe(401);
    const token = await mintToken(hub, { channels: ['a'] });
    expect((await fetch(`${hub.url}/v1/channels/b/sse?token=${token}`)).status).toBe(403);
    const bad = await fetch(`${hub.url}/v1/channels/a/sse?token=${token}&after=zzz`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_request', details: [{ field: 'after' }] } });
    expect((await fetch(`${hub.url}/v1/channels/$x/sse?token=${token}`)).status).toBe(400);
    const ok = await SseClient.open(`${hub.url}/v1/channels/a/sse?token=${token}`);
    expect(ok.response.status).toBe(200);
    ok.abort();
    expect(JSON.stringify(hub.logs)).not.toContain(token.split('.')[2]);
  });
});
