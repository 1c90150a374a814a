// bench/publish: durable POST /v1/events with autocannon (50 connections, small JSON events)
// against, in this run: a bare Fastify route answering 202 with no work (the baseline), the
// same with node:http and no framework (what any Node server pays per request here: the
// bound of a server on one event loop), and
// Nchan's publisher location (nginx, messages in memory: the peer; skipped when nginx or the
// module is missing, bench/lib/nchan.ts). Each figure comes with the server's CPU per
// request (/proc of its processes, bench/lib/cpu.ts), which the load generator on the same
// 2 cores does not bound.
import autocannon from 'autocannon';
import { cpuMeter } from './lib/cpu.js';
import { API_KEY, report, log, quick, round, startChild, startHubProcess, type BenchResult } from './lib/common.js';
import { startNchan } from './lib/nchan.js';

const CONNECTIONS = 50;
const DURATION_S = quick ? 2 : 10;
const WARMUP_S = quick ? 1 : 3;
const body = JSON.stringify({ channel: 'bench.orders', type: 'order.created', data: { order_id: 1234, amount: 99.5, currency: 'EUR' } });

interface Server {
  /** The publish URL. */
  url: string;
  /** The server's process (its descendants count too). */
  pid: number | undefined;
  stop(): Promise<void>;
}

async function load(server: Server, seconds: number): Promise<autocannon.Result> {
  return autocannon({
    url: server.url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
    body,
  });
}

async function measure(name: string, start: () => Promise<Server | null>) {
  const server = await start();
  if (!server) return undefined;
  try {
    await load(server, WARMUP_S);
    const cpu = cpuMeter(server.pid);
    const r = await load(server, DURATION_S);
    const { server_cpu, other_cpu } = cpu();
    const rps = round(r.requests.average, 0);
    const m = {
      rps,
      p50_ms: r.latency.p50,
      p99_ms: r.latency.p99,
      non2xx: r.non2xx + r.errors,
      server_cpu,
      /** Server CPU per request: what the server itself spends, whatever bounds the rate. */
      server_us_per_request: server_cpu === null ? null : round((server_cpu / (r.requests.total / DURATION_S)) * 1e6, 1),
      other_processes_cpu: other_cpu,
    };
    log(name, m);
    return m;
  } finally {
    await server.stop();
  }
}

const child = async (started: Promise<{ url: string; process: { pid?: number | undefined }; stop(): Promise<void> }>): Promise<Server> => {
  const s = await started;
  return { url: `${s.url}/v1/events`, pid: s.process.pid, stop: () => s.stop() };
};
const baseline = (await measure('bare fastify', () => child(startChild('bench/servers/bare-fastify.mjs'))))!;
const nodeHttp = quick ? undefined : await measure('bare node:http', () => child(startChild('bench/servers/bare-node-http.mjs')));
const nchan = quick
  ? undefined
  : await measure('peer: Nchan publisher, 1 worker, in memory', async () => {
      const s = await startNchan(1);
      return s && { url: `${s.url}/pub?id=bench.orders`, pid: s.pid, stop: () => s.close() };
    });
const ours = (await measure('pushhub (synchronous=FULL)', () => child(startHubProcess())))!;
const ratio = round(ours.rps / baseline.rps, 3);
const ratioVsNchan = nchan && round(ours.rps / nchan.rps, 3);
const cpuVs = (peer: typeof ours | undefined): number | undefined =>
  peer?.server_us_per_request && ours.server_us_per_request !== null ? round(ours.server_us_per_request / peer.server_us_per_request, 2) : undefined;
const ratios = Object.fromEntries(
  Object.entries({
    cpu_per_request_vs_baseline: cpuVs(baseline),
    cpu_per_request_vs_node_http: cpuVs(nodeHttp),
    cpu_per_request_vs_nchan: cpuVs(nchan),
    // What a Node server with no work at all reaches against Nchan: above 0.5 or not, on this machine.
    node_http_vs_nchan: nodeHttp && nchan ? round(nodeHttp.rps / nchan.rps, 3) : undefined,
  }).filter(([, v]) => v !== undefined),
) as Record<string, number>;
const result: BenchResult & Record<string, unknown> = {
  bench: 'publish',
  ours,
  baseline,
  peers: { ...(nodeHttp ? { node_http: nodeHttp } : {}), ...(nchan ? { nchan } : {}) },
  ...(nchan ? { ratio_vs_nchan: ratioVsNchan } : {}),
  ratios,
  ratio,
  targets: { ratio: 0.8, ratio_vs_nchan: '>= 0.5', p99_ms: 10 },
  pass: ratio >= 0.8 && (ratioVsNchan === undefined || ratioVsNchan >= 0.5) && ours.p99_ms <= 10 && ours.non2xx === 0,
};
report(result);
