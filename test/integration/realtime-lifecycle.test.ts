import { expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.js';
import { API_KEY, startHub } from '../helpers/hub.js';
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
