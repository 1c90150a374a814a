// bench/publish: durable POST /v1/events with autocannon (50 connections, small JSON events)
// against a bare Fastify route answering 202 with no work, both measured in this run.
import autocannon from 'autocannon';
import { API_KEY, report, log, quick, round, startChild, startHubProcess, type ChildServer } from './lib/common.js';

const CONNECTIONS = 50;
const DURATION_S = quick ? 2 : 10;
const WARMUP_S = quick ? 1 : 3;
const body = JSON.stringify({ channel: 'bench.orders', type: 'order.created', data: { order_id: 1234, amount: 99.5, currency: 'EUR' } });

async function load(server: ChildServer, seconds: number): Promise<autocannon.Result> {
  return autocannon({
    url: `${server.url}/v1/events`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
    body,
  });
}

async function measure(name: string, start: () => Promise<ChildServer>): Promise<{ rps: number; p50_ms: number; p99_ms: number; non2xx: number }> {
  const server = await start();
  try {
    await load(server, WARMUP_S);
    const r = await load(server, DURATION_S);
    const m = { rps: round(r.requests.average, 0), p50_ms: r.latency.p50, p99_ms: r.latency.p99, non2xx: r.non2xx + r.errors };
    log(name, m);
    return m;
  } finally {
    await server.stop();
  }
}

const baseline = await measure('bare fastify', () => startChild('bench/servers/bare-fastify.mjs'));
const ours = await measure('pushhub', () => startHubProcess());
const ratio = round(ours.rps / baseline.rps, 3);
report({
  bench: 'publish',
  ours,
  baseline,
  ratio,
  targets: { ratio: 0.8, p99_ms: 10 },
  pass: ratio >= 0.8 && ours.p99_ms <= 10 && ours.non2xx === 0,
});
