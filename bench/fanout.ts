/**
 * Fan-out: 1 000 subscribers on one channel. Phase 1 publishes at a fixed 100 events/s and
 * measures publish→receive latency; phase 2 publishes as fast as 8 concurrent HTTP
 * publishers can and measures deliveries/s. The same load goes to, in this run:
 * - the hub;
 * - the baseline, a bare `ws` server that broadcasts the same bytes (same envelope, same
 *   frame) with no storage;
 * - the peer users pick for the same job, Socket.IO 4 with connection-state recovery on,
 *   twice: with socket.io-client subscribers (websocket transport only), as its users run it,
 *   and with subscribers that speak its wire protocol through the same bare `ws` client the
 *   other runs use. On 2 cores the load generator shares the machine with the server, and
 *   socket.io-client's decoding costs it about half as much again per message, enough to
 *   bound the figure; the wire clients leave the server to set it.
 * ratio = our saturated deliveries/s ÷ the baseline's; ratio_vs_socketio and
 * ratio_vs_socketio_wire = ÷ each Socket.IO figure; the ≥ 2× target is judged on the lower.
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
const socketio = await fanoutLoad('peer: Socket.IO 4, recovery on, socket.io-client', await startSocketIo(), 'socketio', load);
const socketioWire = await fanoutLoad('peer: Socket.IO 4, recovery on, wire-protocol ws clients', await startSocketIo(), 'socketio-wire', load);
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
  /** Server CPU per delivery, saturated: the load generator is the bound on 2 cores, so this compares the servers. */
  saturated_server_us_per_delivery: saturation.server_cpu === null ? null : round((saturation.server_cpu / saturation.deliveries_per_s) * 1e6),
  /** Cores' worth of CPU other processes took, the busier phase (after retries): above 0.25 the figures are disturbed. */
  other_processes_cpu: Math.max(fixed!.other_cpu ?? 0, saturation.other_cpu ?? 0),
});
const ratioVs = (peer: LoadResult): number => round(ours.saturation.deliveries_per_s / peer.saturation.deliveries_per_s, 3);
const ratio = ratioVs(baseline);
const oursShape = shape(ours);
const result: BenchResult & { peers: Record<string, Record<string, unknown>>; ratio_vs_socketio: number; ratio_vs_socketio_wire: number } = {
  bench: 'fanout',
  ours: oursShape,
  baseline: shape(baseline),
  peers: { socketio: shape(socketio), socketio_wire: shape(socketioWire) },
  ratio,
  ratio_vs_socketio: ratioVs(socketio),
  ratio_vs_socketio_wire: ratioVs(socketioWire),
  targets: { ratio: '>= 1.0', ratio_vs_socketio: '>= 2.0', p99_ms: '<= 50', subscribers: 1000 },
  pass: ratio >= 1 && Math.min(ratioVs(socketio), ratioVs(socketioWire)) >= 2 && oursShape.p99_ms <= 50 && oursShape.delivered_all,
};
report(result);
