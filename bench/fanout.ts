/**
 * Fan-out: 1 000 WebSocket subscribers on one channel. Phase 1 publishes at a fixed 100
 * events/s and measures publish→receive latency; phase 2 publishes as fast as 8 concurrent
 * HTTP publishers can and measures deliveries/s. The baseline, in the same run, is a bare
 * `ws` server that broadcasts the same bytes (same envelope, same frame) with no storage.
 * ratio = our saturated deliveries/s ÷ the baseline's.
 *
 *   npx tsx bench/fanout.ts [--quick]
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { log, quick, report, round, runChild, startHubInProcess } from './lib/common.js';

const SUBSCRIBERS = quick ? 200 : 1000;
const RATE = 100;
const FIXED_S = quick ? 2 : 10;
const SATURATION_S = quick ? 1 : 5;

interface LoadResult {
  fixed: { published: number; delivered: number; deliveries_per_s: number; p50_ms: number; p99_ms: number };
  saturation: { published: number; deliveries_per_s: number; delivered_after_drain: number };
}

/** A bare ws broadcast server: POST /publish → the same `event` frame the hub sends, to everyone. */
async function startBaseline(): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  let seq = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const input = JSON.parse(body) as { channel: string; type: string; data: unknown };
      seq++;
      const id = `evt_01JD6Z7${String(seq).padStart(19, '0')}`;
      const frame = JSON.stringify({
        op: 'event',
        event: { id, channel: input.channel, type: input.type, occurred_at: new Date().toISOString(), cursor: `abcdefghij-${seq.toString(36)}`, spec_version: '1', data: input.data },
      });
      for (const client of wss.clients) client.send(frame);
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id }));
    });
  });
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const args = (base: string, mode: string, publishPath: string): string[] => [
  mode,
  `${base.replace('http', 'ws')}/v1/ws`,
  `${base}${publishPath}`,
  String(SUBSCRIBERS),
  String(FIXED_S),
  String(RATE),
  String(SATURATION_S),
];

log(`fanout: ${SUBSCRIBERS} subscribers, ${RATE}/s for ${FIXED_S}s, then saturation for ${SATURATION_S}s`);
const baselineServer = await startBaseline();
log('baseline: bare ws broadcast');
const baseline = await runChild<LoadResult>('fanout-load.ts', args(baselineServer.url, 'baseline', '/publish'));
await baselineServer.close();
log('baseline', JSON.stringify(baseline));

const hub = await startHubInProcess({ realtime: { maxConnections: SUBSCRIBERS + 100 } });
log('ours: pushhub (durable publish, synchronous=FULL)');
const ours = await runChild<LoadResult>('fanout-load.ts', args(hub.url, 'hub', '/v1/events'));
await hub.close();
log('ours', JSON.stringify(ours));

const ratio = ours.saturation.deliveries_per_s / baseline.saturation.deliveries_per_s;
const shape = (r: LoadResult) => ({
  subscribers: SUBSCRIBERS,
  fixed_rate_per_s: RATE,
  deliveries_per_s_at_fixed_rate: round(r.fixed.deliveries_per_s, 0),
  delivered_all: r.fixed.delivered === r.fixed.published * SUBSCRIBERS,
  p50_ms: round(r.fixed.p50_ms),
  p99_ms: round(r.fixed.p99_ms),
  saturated_deliveries_per_s: round(r.saturation.deliveries_per_s, 0),
  saturated_events_published: r.saturation.published,
});
const oursShape = shape(ours);
report({
  bench: 'fanout',
  ours: oursShape,
  baseline: shape(baseline),
  ratio: round(ratio, 3),
  targets: { ratio: '>= 1.0', p99_ms: '<= 50', subscribers: 1000 },
  pass: ratio >= 1 && oursShape.p99_ms <= 50 && oursShape.delivered_all,
});
