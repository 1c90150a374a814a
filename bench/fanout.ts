/**
 * Fan-out: 1 000 subscribers on one channel. Phase 1 publishes at a fixed 200 events/s and
 * measures publish→receive latency; phase 2 publishes one event per `POST` as fast as 10
 * concurrent HTTP publishers can and measures deliveries/s and the server's CPU per
 * delivery. The same load goes to, in this run:
 * - the hub (compiled, in its own process, as `npm start` runs it), and the same hub with
 *   `realtime.writeDelayMs` 0 (every committed batch written at once: what write coalescing
 *   moves);
 * - the baseline, a bare `ws` server that broadcasts the same bytes (same envelope, same
 *   frame) with no storage;
 * - the peers users pick for the same job: Nchan (nginx's pub/sub module, in memory), with
 *   one worker and with `worker_processes auto`, skipped when nginx or the module is not
 *   installed (bench/lib/nchan.ts); and Socket.IO 4 with connection-state recovery on,
 *   twice: with socket.io-client subscribers (websocket transport only), as its users run it,
 *   and with subscribers that speak its wire protocol through the same bare `ws` client the
 *   other runs use. On 2 cores the load generator shares the machine with the server, and
 *   socket.io-client's decoding costs it about half as much again per message, enough to
 *   bound the figure; the wire clients leave the server to set it.
 * The headline is server CPU per delivery (saturated): deliveries/s is bounded by the one
 * load-generator process on two cores, CPU per delivery compares the servers themselves.
 * ratio = our saturated deliveries/s ÷ the baseline's; ratio_vs_<peer> the same ÷ each peer;
 * ratios.cpu_per_delivery_vs_<peer> = our server CPU per delivery ÷ the peer's (lower is better).
 *
 *   npx tsx bench/fanout.ts [--quick] [--only=nchan,…]   (--only: the hub and these peers, for development)
 */
import { log, quick, report, round, type BenchResult } from './lib/common.js';
import type { LoadResult } from './lib/fanout-load.js';
import { SUBSCRIBERS, fanoutLoad, startBareWs, startHubForFanout, startSocketIo, type PeerServer } from './lib/fanout-servers.js';
import { startNchan } from './lib/nchan.js';

const RATE = 200;
const P99_TARGET_MS = 20;
const CPU_VS_NCHAN_TARGET = 0.67;

// Two receiver processes: one saturates near 200 000 frames/s, and its queue would set the p99 at 200/s.
const load = { rates: [RATE], stepSeconds: quick ? 2 : 10, saturationSeconds: quick ? 1 : 5, publishers: 10, receivers: 2 };
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const wanted = (name: string): boolean => !only || name === 'hub' || only.includes(name);
log(`fanout: ${SUBSCRIBERS} subscribers, ${RATE}/s for ${load.stepSeconds}s, then saturation for ${load.saturationSeconds}s`);

async function run(name: string, label: string, start: () => Promise<PeerServer | null>, mode: Parameters<typeof fanoutLoad>[2]): Promise<LoadResult | undefined> {
  if (!wanted(name)) return undefined;
  const server = await start();
  return server === null ? undefined : fanoutLoad(label, server, mode, load);
}

// The quick run is CI's smoke test: no peers there (nor needed).
const baseline = await run('baseline', 'baseline: bare ws broadcast', startBareWs, 'baseline');
const nchan = quick ? undefined : await run('nchan', 'peer: Nchan, 1 worker', () => startNchan(1), 'nchan');
const nchanAuto = quick ? undefined : await run('nchan_auto', 'peer: Nchan, worker_processes auto', () => startNchan('auto'), 'nchan');
const socketio = quick ? undefined : await run('socketio', 'peer: Socket.IO 4, recovery on, socket.io-client', startSocketIo, 'socketio');
const socketioWire = quick ? undefined : await run('socketio_wire', 'peer: Socket.IO 4, recovery on, wire-protocol ws clients', startSocketIo, 'socketio-wire');
// What write coalescing moves, in every run: the hub writing each committed batch at once.
const uncoalesced = quick ? undefined : await run('hub_write_delay_0', 'pushhub, writeDelayMs 0 (each commit written at once)', () => startHubForFanout({ realtime: { writeDelayMs: 0 } }), 'hub');
const ours = (await run('hub', 'ours: pushhub (durable publish, synchronous=FULL, writeDelayMs 2)', () => startHubForFanout(), 'hub'))!;

const shape = ({ steps: [fixed], saturation }: LoadResult) => ({
  subscribers: SUBSCRIBERS,
  fixed_rate_per_s: RATE,
  deliveries_per_s_at_fixed_rate: fixed!.deliveries_per_s,
  delivered_all: fixed!.delivered_all && saturation.delivered_all,
  p50_ms: fixed!.p50_ms,
  p99_ms: fixed!.p99_ms,
  saturated_deliveries_per_s: saturation.deliveries_per_s,
  saturated_events_published: saturation.published,
  saturated_server_cpu: saturation.server_cpu,
  /** Server CPU per delivery, saturated: the load generator is the bound on 2 cores, so this compares the servers. */
  saturated_server_us_per_delivery: saturation.server_cpu === null ? null : round((saturation.server_cpu / saturation.deliveries_per_s) * 1e6),
  /** Cores' worth of CPU the load generator took in the saturated phase (≈ 1: it bounded deliveries/s). */
  saturated_client_cpu: saturation.client_cpu,
  /** Cores' worth of CPU other processes took, the busier phase (after retries): above 0.25 the figures are disturbed. */
  other_processes_cpu: Math.max(fixed!.other_cpu ?? 0, saturation.other_cpu ?? 0),
});
const oursShape = shape(ours);
const measured = { baseline, nchan, nchan_auto: nchanAuto, socketio, socketio_wire: socketioWire, hub_write_delay_0: uncoalesced };
const peers = Object.fromEntries(Object.entries(measured).flatMap(([name, r]) => (r && name !== 'baseline' ? [[name, shape(r)]] : [])));
const ratioVs = (peer: LoadResult | undefined): number | undefined => peer && round(ours.saturation.deliveries_per_s / peer.saturation.deliveries_per_s, 3);
const cpuVs = (peer: ReturnType<typeof shape> | undefined): number | undefined =>
  peer?.saturated_server_us_per_delivery && oursShape.saturated_server_us_per_delivery !== null
    ? round(oursShape.saturated_server_us_per_delivery / peer.saturated_server_us_per_delivery, 3)
    : undefined;
const ratio = ratioVs(baseline) ?? null;
const ratios = Object.fromEntries(Object.entries(peers).flatMap(([name, figures]) => (cpuVs(figures) === undefined ? [] : [[`cpu_per_delivery_vs_${name}`, cpuVs(figures)!]])));
const cpuVsNchan = cpuVs(peers.nchan);
const socketioRatios = [ratioVs(socketio), ratioVs(socketioWire)].filter((r) => r !== undefined);
if (!nchan && !quick) log('Nchan not measured: the CPU-per-delivery target is not judged');
const result: BenchResult & { peers: Record<string, Record<string, unknown>>; ratios: Record<string, number> } & Record<string, unknown> = {
  bench: 'fanout',
  ours: oursShape,
  baseline: baseline ? shape(baseline) : null,
  peers,
  ratio,
  ...Object.fromEntries(Object.keys(peers).map((name) => [`ratio_vs_${name}`, ratioVs(measured[name as keyof typeof measured])])),
  ratios,
  targets: {
    ratio: '>= 1.0',
    cpu_per_delivery_vs_nchan: `<= ${CPU_VS_NCHAN_TARGET}`,
    ratio_vs_socketio: '>= 2.0',
    p99_ms: `<= ${P99_TARGET_MS} at ${RATE}/s`,
    subscribers: 1000,
  },
  pass:
    (ratio === null || ratio >= 1) &&
    (cpuVsNchan === undefined || cpuVsNchan <= CPU_VS_NCHAN_TARGET) &&
    (socketioRatios.length === 0 || Math.min(...socketioRatios) >= 2) &&
    oursShape.p99_ms <= P99_TARGET_MS &&
    oursShape.delivered_all,
};
report(result);
