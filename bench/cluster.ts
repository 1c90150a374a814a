/**
 * Cluster: what running several hubs on one PostgreSQL costs, next to one SQLite hub, in one
 * run. Four configurations, each on a fresh database, the compiled hub in child processes:
 * sqlite (one hub, a temporary file), pg1, pg2, pg3 (1, 2, 3 hubs on one new database of an
 * embedded PostgreSQL 17 that this benchmark starts: fsync on, loopback only, a temporary
 * folder, stopped at the end whatever happens).
 * - publish: autocannon, 50 connections in all, spread evenly over the hubs, durable
 *   `POST /v1/events`, a warm-up then the measured run; rps, and p50/p99 over every answer.
 *   Any answer but a 2xx fails the benchmark.
 * - fan-out: 1 000 WebSocket subscribers on one channel spread over the hubs, events
 *   published through the hubs in turn (bench/lib/fanout-load.ts): publish→receive p50/p99
 *   at 100 events/s, then deliveries/s with 8 back-to-back publishers.
 * On 2 cores scale-out cannot add throughput (the load generator takes its share, the hubs
 * and PostgreSQL share the rest): the figures show its cost, also as server CPU per request
 * and per delivery. ratio = pg1 / sqlite publish rps
 * (target ≥ 0.5); `ratios` also gives pg2/pg1 and pg3/pg1 for both figures.
 *
 *   npm run bench -- cluster [--quick]
 */
import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import { startPostgresServer, type PostgresServer } from '../test/helpers/postgres-server.js';
import { API_KEY, log, percentile, quick, report, round, startHubProcess, type BenchResult, type ChildServer } from './lib/common.js';
import { cpuMeter, undisturbed } from './lib/cpu.js';
import type { LoadResult } from './lib/fanout-load.js';
import { FANOUT_HUB_CONFIG, SUBSCRIBERS, fanoutLoad } from './lib/fanout-servers.js';

const CONNECTIONS = 50;
const DURATION_S = quick ? 2 : 10;
const WARMUP_S = quick ? 1 : 3;
const RATE = 100;
const FANOUT = { rates: [RATE], stepSeconds: quick ? 2 : 10, saturationSeconds: quick ? 1 : 5 };
const body = JSON.stringify({ channel: 'bench.orders', type: 'order.created', data: { order_id: 1234, amount: 99.5, currency: 'EUR' } });

const SETUPS = [
  { name: 'sqlite', hubs: 1, postgres: false },
  { name: 'pg1', hubs: 1, postgres: true },
  { name: 'pg2', hubs: 2, postgres: true },
  { name: 'pg3', hubs: 3, postgres: true },
] as const;
type Setup = (typeof SETUPS)[number];
type Name = Setup['name'];

interface Hubs {
  urls: string[];
  /** The server's processes for CPU shares: the hubs, and PostgreSQL (its backends are its children). */
  pids: number[];
  /** Stops the hubs, then drops their database. */
  stop(): Promise<void>;
}

/** The setup's hubs on a fresh database; none is left running if one fails to start. */
async function startHubs(setup: Setup, pg: PostgresServer, config: Record<string, unknown> = {}): Promise<Hubs> {
  const name = `pushhub_${randomBytes(6).toString('hex')}`;
  const db = setup.postgres ? { url: await pg.createDatabase(name), drop: () => pg.dropDatabase(name) } : undefined;
  const started = await Promise.allSettled(Array.from({ length: setup.hubs }, () => startHubProcess({ ...config, ...(db ? { db: db.url } : {}) })));
  const hubs = started.flatMap((s): ChildServer[] => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(hubs.map((h) => h.stop()));
    await db?.drop();
  };
  const failed = started.find((s) => s.status === 'rejected');
  const urls = hubs.map((h) => h.url);
  const remote = urls.find((url) => new URL(url).hostname !== '127.0.0.1');
  if (failed || remote) {
    await stop();
    throw failed?.reason ?? new Error(`a hub listens on ${remote}, not on loopback`);
  }
  return { urls, pids: [...hubs.map((h) => h.process.pid!), ...(db ? [pg.pid()] : [])], stop };
}

interface PublishFigures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  non2xx: number;
  server_cpu: number | null;
  client_cpu: number;
  other_cpu: number | null;
}

/** One autocannon run over every hub; `onAnswer` sees each answer's status and time (ms, not rounded). */
function load(urls: string[], seconds: number, onAnswer?: (status: number, ms: number) => void): Promise<autocannon.Result> {
  return autocannon({
    // autocannon 8 takes several URLs and gives connection i the (i mod n)th; its types say one string.
    url: urls.map((u) => `${u}/v1/events`) as unknown as string,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
    body,
    setupClient: onAnswer && ((client) => client.on('response', (status, _bytes, ms) => onAnswer(status, ms))),
  });
}

const failures = (r: autocannon.Result): number => r.non2xx + r.errors + r.timeouts;

async function measurePublish(setup: Setup, pg: PostgresServer): Promise<PublishFigures> {
  const hubs = await startHubs(setup, pg);
  try {
    const warmup = await load(hubs.urls, WARMUP_S);
    if (failures(warmup) > 0) throw new Error(`publish ${setup.name}: ${failures(warmup)} failed requests in the warm-up`);
    const figures = await undisturbed(
      async () => {
        const latencies: number[] = [];
        const cpu = cpuMeter(hubs.pids);
        const r = await load(hubs.urls, DURATION_S, (status, ms) => status < 300 && latencies.push(ms));
        const p = (q: number): number => round(percentile(latencies, q));
        return { rps: round(r.requests.average, 0), p50_ms: p(50), p99_ms: p(99), non2xx: failures(r), ...cpu() };
      },
      hubs.pids,
      `publish ${setup.name}`,
      log,
    );
    log(`publish ${setup.name}`, figures);
    if (figures.non2xx > 0) throw new Error(`publish ${setup.name}: ${figures.non2xx} requests were not answered 2xx`);
    return figures;
  } finally {
    await hubs.stop();
  }
}

async function measureFanout(setup: Setup, pg: PostgresServer): Promise<LoadResult> {
  const hubs = await startHubs(setup, pg, FANOUT_HUB_CONFIG);
  return fanoutLoad(`fan-out ${setup.name}`, { url: hubs.urls[0]!, urls: hubs.urls, close: hubs.stop }, 'hub', FANOUT);
}

/** One configuration's figures, as results.json keeps them. */
function figures(setup: Setup, pub: PublishFigures, { steps: [fixed], saturation }: LoadResult) {
  return {
    hubs: setup.hubs,
    store: setup.postgres ? 'postgres' : 'sqlite',
    publish_rps: pub.rps,
    publish_p50_ms: pub.p50_ms,
    publish_p99_ms: pub.p99_ms,
    publish_non2xx: pub.non2xx,
    /** Hubs' and PostgreSQL's CPU (cores), and per request: what scale-out costs when it cannot add cores. */
    publish_server_cpu: pub.server_cpu,
    publish_server_us_per_request: pub.server_cpu === null ? null : round((pub.server_cpu / pub.rps) * 1e6),
    publish_other_cpu: pub.other_cpu,
    fanout_subscribers: SUBSCRIBERS,
    fanout_p50_ms: fixed!.p50_ms,
    fanout_p99_ms: fixed!.p99_ms,
    fanout_delivered_all: fixed!.delivered_all && saturation.delivered_all,
    fanout_saturated_deliveries_per_s: saturation.deliveries_per_s,
    fanout_saturated_server_cpu: saturation.server_cpu,
    fanout_saturated_server_us_per_delivery:
      saturation.server_cpu === null ? null : round((saturation.server_cpu / saturation.deliveries_per_s) * 1e6),
    fanout_other_cpu: Math.max(fixed!.other_cpu ?? 0, saturation.other_cpu ?? 0),
  };
}
type Figures = ReturnType<typeof figures>;

log(`cluster: ${SETUPS.map((s) => s.name).join(', ')}; publish ${CONNECTIONS} connections ${WARMUP_S}+${DURATION_S}s; fan-out ${SUBSCRIBERS} subscribers`);
const pg = await startPostgresServer(['-c', 'max_connections=100']);
const results = {} as Record<Name, Figures>;
try {
  const published = {} as Record<Name, PublishFigures>;
  for (const setup of SETUPS) published[setup.name] = await measurePublish(setup, pg);
  for (const setup of SETUPS) results[setup.name] = figures(setup, published[setup.name], await measureFanout(setup, pg));
} finally {
  await pg.destroy();
}

const { sqlite, pg1, pg2, pg3 } = results;
const ratio = (a: number, b: number): number => round(a / b, 3);
const ratios = {
  publish_pg1_vs_sqlite: ratio(pg1.publish_rps, sqlite.publish_rps),
  publish_pg2_vs_pg1: ratio(pg2.publish_rps, pg1.publish_rps),
  publish_pg3_vs_pg1: ratio(pg3.publish_rps, pg1.publish_rps),
  fanout_pg1_vs_sqlite: ratio(pg1.fanout_saturated_deliveries_per_s, sqlite.fanout_saturated_deliveries_per_s),
  fanout_pg2_vs_pg1: ratio(pg2.fanout_saturated_deliveries_per_s, pg1.fanout_saturated_deliveries_per_s),
  fanout_pg3_vs_pg1: ratio(pg3.fanout_saturated_deliveries_per_s, pg1.fanout_saturated_deliveries_per_s),
};

const columns: [string, (f: Figures) => unknown][] = [
  ['publish rps', (f) => f.publish_rps],
  ['p50 ms', (f) => f.publish_p50_ms],
  ['p99 ms', (f) => f.publish_p99_ms],
  ['µs CPU/req', (f) => f.publish_server_us_per_request],
  ['fan-out deliveries/s', (f) => f.fanout_saturated_deliveries_per_s],
  ['p50 ms', (f) => f.fanout_p50_ms],
  ['p99 ms', (f) => f.fanout_p99_ms],
  ['µs CPU/delivery', (f) => f.fanout_saturated_server_us_per_delivery],
];
const rows = [['', ...columns.map(([title]) => title)], ...Object.entries(results).map(([name, f]) => [name, ...columns.map(([, get]) => String(get(f)))])];
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
log(`cluster\n${rows.map((row) => row.map((cell, i) => cell.padStart(widths[i]!)).join('  ')).join('\n')}\n${JSON.stringify(ratios)}`);

const result: BenchResult & { peers: Record<string, Figures>; ratios: typeof ratios } = {
  bench: 'cluster',
  ours: pg1,
  baseline: sqlite,
  peers: { pg2, pg3 },
  ratio: ratios.publish_pg1_vs_sqlite,
  ratios,
  targets: { publish_pg1_vs_sqlite: '>= 0.5', publish_non2xx: 0, fanout_delivered_all: true },
  pass: ratios.publish_pg1_vs_sqlite >= 0.5 && Object.values(results).every((f) => f.fanout_delivered_all),
};
report(result);
