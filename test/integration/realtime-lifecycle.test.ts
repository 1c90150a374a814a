import { expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.js';
import { API_KEY, startHub } from '../helpers/hub.js';
import { sleep } from '../helpers/seeded.js';
import { SseClient } from '../helpers/sse-client.js';
import { connect } from '../helpers/ws-client.js';

it('enforces maxConnections across WebSocket and SSE with 503', async () => {
  const hub = await startHub({ config: { logLevel: 'info', realtime: { ...loadConfig({}).realtime, maxConnections: 2 } } });
  const ws = await connect(hub.url, { bearer: API_KEY });
  const sse = await SseClient.open(`${hub.url}/v1/channels/a/sse`, { authorization: `Bearer ${API_KEY}` });
  const refused = new WebSocket(`${hub.url.replace('http', 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${API_KEY}` } });
  const status = await new Promise<number>((resolve) => refused.on('unexpected-response', (_req, res) => resolve(res.statusCode!)));
  expect(status).toBe(503);
  const sseRefused = await fetch(`${hub.url}/v1/channels/a/sse`, { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(sseRefused.status).toBe(503);
  expect(sseRefused.headers.get('retry-after')).toBe('1');
  sse.abort();
  ws.close();
  await hub.close();
});

it('on shutdown: in-flight publishes get their ack, WebSockets close with 1001, SSE streams end, readiness drops', async () => {
  const hub = await startHub({ config: { logLevel: 'info' } });
  expect((await hub.api('/readyz')).status).toBe(200);
  const c = await connect(hub.url, { bearer: API_KEY });
  await c.request({ op: 'subscribe', channel: 'bye' });
  const sse = await SseClient.open(`${hub.url}/v1/channels/bye/sse`, { authorization: `Bearer ${API_KEY}` });
  // Shut down right after the hub took a publish in, before its commit ran.
  const publisher = hub.app.publisher;
  const publishFrame = publisher.publishFrame.bind(publisher);
  let closing: Promise<void> | undefined;
  publisher.publishFrame = (input) => {
    queueMicrotask(() => (closing = hub.close()));
    return publishFrame(input);
  };
  expect(await c.request({ op: 'publish', channel: 'bye', type: 't', data: 1 })).toMatchObject({ op: 'ack' });
  expect(hub.app.realtime.readiness()).toBe('shutting down');
  expect(await c.closed).toMatchObject({ code: 1001 });
  await sse.done;
  await closing;
  expect(c.events()).toHaveLength(1); // the committed event reached the subscriber before the close
});

// Found reviewing shutdown for the crash matrix: it waited only for the publishes under way when
// it began, yet kept taking new ones meanwhile. One whose commit finished after the close never
// got its ack: an event written but reported lost (connection_lost), which an app publishing
// again would duplicate. Now a publish after shutdown began is refused, like HTTP's 503.
it('on shutdown: a WebSocket publish arriving while earlier ones finish is refused with shutting_down', async () => {
  const hub = await startHub({ config: { logLevel: 'info' } });
  const c = await connect(hub.url, { bearer: API_KEY });
  const publisher = hub.app.publisher;
  const publishFrame = publisher.publishFrame.bind(publisher);
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let closing: Promise<void> | undefined;
  let calls = 0;
  publisher.publishFrame = (input) => {
    calls++;
    // The first publish is still under way when the shutdown begins; a second would wait on it too.
    if (calls === 1) queueMicrotask(() => (closing = hub.close()));
    return held.then(() => publishFrame(input));
  };
  const first = c.request({ op: 'publish', channel: 'late', type: 't', data: 1 });
  while (!closing) await sleep(1);
  const second = c.request({ op: 'publish', channel: 'late', type: 't', data: 2 });
  const answer = await Promise.race([second.catch(() => ({ op: 'none' })), sleep(1000).then(() => ({ op: 'none yet' }))]);
  release();
  expect(answer).toMatchObject({ op: 'error', code: 'shutting_down' });
  expect(await first).toMatchObject({ op: 'ack' });
  expect(await c.closed).toMatchObject({ code: 1001 });
  await closing;
  expect(calls).toBe(1); // the refused one never reached the ingest path
});
