/**
 * Fan-out: 1 000 subscribers on one channel. Phase 1 publishes at a fixed 100 events/s and
 * measures publish→receive latency; phase 2 publishes as fast as 8 concurrent HTTP
 * publishers can and measures deliveries/s. Three servers take the same load in this run:
 * the hub; the baseline, a bare `ws` server that broadcasts the same bytes (same envelope,
 * same frame) with no storage; and the peer users pick for the same job, Socket.IO 4 with
 * connection-state recovery on (socket.io-client subscribers, websocket transport only).
 * ratio = our saturated deliveries/s ÷ the baseline's; ratio_vs_socketio = ÷ Socket.IO's.
 *
 *   npx tsx bench/fanout.ts [--quick]
 */
import { log, quick, report, round, type BenchResult } from './lib/common.js';
import type { LoadResult } from './lib/fanout-load.js';
import { SUBSCRIBERS, fanoutLoad, startBareWs, startHubForFanout, startSocketIo } from './lib/fanout-servers.js';

const RATE = 100;

const load = { rates: [RATE], stepSeconds: quick ? 2 : 10, saturationSeconds: quick ? 1 : 5 };
log(`fanout: ${SUBSCRIBERS} subscribers, ${RATE}/s for ${load.stepSeconds}s, then saturation for ${load.saturationSeconds}s`);
const baseline = await fanoutLoad('baseline: bare ws broadcast', await startBareWs(), 'baseline', load);
const socketio = await fanoutLoad('peer: Socket.IO 4, connection-state recovery on', await startSocketIo(), 'socketio', load);
const ours = await fanoutLoad('ours: pushhub (durable publish, synchronous=FULL)', await startHubForFanout(), 'hub', load);

const shape = ({ steps: [fixed], saturation }: LoadResult) => ({
  subscribers: SUBSCRIBERS,
  fixed_rate_per_s: RATE,
  deliveries_per_s_at_fixed_rate: fixed!.deliveries_per_s,
  delivered_all: fixed!.delivered_all,
  p50_ms: fixed!.p50_ms,
  p99_ms: fixed!.p99_ms,
  saturated_deliveries_per_s: saturation.deliveries_per_s,
  saturated_events_published: saturation.published,
  saturated_server_cpu: saturation.server_cpu,
});
const ratio = round(ours.saturation.deliveries_per_s / baseline.saturation.deliveries_per_s, 3);
const ratioVsSocketIo = round(ours.saturation.deliveries_per_s / socketio.saturation.deliveries_per_s, 3);
const oursShape = shape(ours);
const result: BenchResult & { peers: Record<string, Record<string, unknown>>; ratio_vs_socketio: number } = {
  bench: 'fanout',
  ours: oursShape,
  baseline: shape(baseline),
  peers: { socketio: shape(socketio) },
  ratio,
  ratio_vs_socketio: ratioVsSocketIo,
  targets: { ratio: '>= 1.0', ratio_vs_socketio: '>= 2.0', p99_ms: '<= 50', subscribers: 1000 },
  pass: ratio >= 1 && ratioVsSocketIo >= 2 && oursShape.p99_ms <= 50 && oursShape.delivered_all,
};
report(result);
