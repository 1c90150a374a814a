/**
 * Latency under load, for publish and for fan-out: for each server, first the saturated
 * throughput (closed loop), then fixed offered loads at fractions of it (open loop), each
 * step recording the throughput reached and p50/p99 latency. Writes bench/curve.json and
 * renders bench/latency-curve.svg.
 *
 * publish: durable `POST /v1/events` on 50 keep-alive connections (bench/lib/publish-load.ts)
 *   to the compiled hub in a child process, next to a bare Fastify route answering 202.
 * fan-out: events published over HTTP to 1 000 subscribers (bench/lib/fanout-load.ts, its own
 *   process); the hub, a bare `ws` broadcast and Socket.IO 4 (wire-protocol subscribers) as in
 *   bench/fanout.ts.
 *
 *   npm run bench:curve [-- --quick]     # measure, write curve.json, render the SVG
 *   npx tsx bench/curve.ts --render      # re-render the SVG from curve.json only
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, log, machine, quick, startChild, startHubProcess, type ChildServer } from './lib/common.js';
import { renderCurveSvg, type CurveData, type CurvePanel, type CurvePoint } from './lib/curve-svg.js';
import type { LoadResult, Phase } from './lib/fanout-load.js';
import { SUBSCRIBERS, fanoutLoad, startBareWs, startHubForFanout, startSocketIo } from './lib/fanout-servers.js';
import { CONNECTIONS, PublishLoad } from './lib/publish-load.js';

const JSON_PATH = join(ROOT, 'bench/curve.json');
const SVG_PATH = join(ROOT, 'bench/latency-curve.svg');
/** Offered loads, as fractions of the saturated throughput measured first. */
const FRACTIONS = quick ? [0.25, 0.9] : [0.05, 0.1, 0.25, 0.5, 0.7, 0.85, 0.95];
const STEP_S = quick ? 1 : 5;
const SATURATION_S = quick ? 1 : 5;
const WARMUP_S = quick ? 1 : 3;

async function publishCurve(name: string, start: () => Promise<ChildServer>): Promise<CurvePoint[]> {
  log(`publish curve: ${name}`);
  const server = await start();
  const load = await PublishLoad.open(`${server.url}/v1/events`, server.process.pid);
  try {
    await load.closedLoop(WARMUP_S);
    const saturated = await load.closedLoop(SATURATION_S);
    log(name, JSON.stringify(saturated));
    const points = [saturated];
    for (const f of FRACTIONS) {
      const point = await load.openLoop(Math.round(f * saturated.achieved_per_s), STEP_S);
      log(name, JSON.stringify(point));
      points.push(point);
    }
    return points;
  } finally {
    load.close();
    await server.stop();
  }
}

const fanoutPoint = (p: Phase): CurvePoint & Phase => ({ ...p, achieved_per_s: p.deliveries_per_s });
const fanoutCurve = ({ steps, saturation }: LoadResult): CurvePoint[] => [fanoutPoint(saturation), ...steps.map(fanoutPoint)];

/** curve.json: the chart's data and what it was measured on. */
type CurveFile = CurveData & { date: string; node: string; machine: ReturnType<typeof machine>; quick: boolean };

async function measure(): Promise<CurveFile> {
  const fanoutSteps = { rates: FRACTIONS, saturationFirst: true, stepSeconds: STEP_S, saturationSeconds: SATURATION_S };
  const publish: CurvePanel = {
    title: `publish: POST /v1/events, ${CONNECTIONS} connections`,
    x_label: 'requests/s reached',
    offered_unit: 'requests/s',
    target_p99_ms: 10,
    series: [
      { name: 'pushhub (durable, fsync per commit)', points: await publishCurve('pushhub', () => startHubProcess()) },
      { name: 'bare Fastify route (no work)', points: await publishCurve('bare fastify', () => startChild('bench/servers/bare-fastify.mjs')) },
    ],
  };
  const fanout: CurvePanel = {
    title: `fan-out: ${SUBSCRIBERS.toLocaleString('en-US')} WebSocket subscribers`,
    x_label: 'deliveries/s reached',
    offered_unit: 'events/s',
    target_p99_ms: 50,
    series: [
      { name: 'pushhub', points: fanoutCurve(await fanoutLoad('fan-out curve: pushhub', await startHubForFanout(), 'hub', fanoutSteps)) },
      { name: 'bare ws broadcast', points: fanoutCurve(await fanoutLoad('fan-out curve: bare ws', await startBareWs(), 'baseline', fanoutSteps)) },
      // Wire-protocol subscribers: socket.io-client's own decoding would bound the load generator (see bench/fanout.ts).
      { name: 'Socket.IO 4 (recovery on; wire-protocol clients)', points: fanoutCurve(await fanoutLoad('fan-out curve: Socket.IO', await startSocketIo(), 'socketio-wire', fanoutSteps)) },
    ],
  };
  const m = machine();
  const date = new Date().toISOString();
  return {
    title: `Latency under load${quick ? ' (quick run)' : ''}`,
    subtitle: `${m.cpus} × ${m.cpu}, Node ${process.version}, ${date.slice(0, 10)}; load generator on the same machine`,
    panels: [publish, fanout],
    date,
    node: process.version,
    machine: m,
    quick,
  };
}

const data = process.argv.includes('--render') ? (JSON.parse(readFileSync(JSON_PATH, 'utf8')) as CurveFile) : await measure();
if (!process.argv.includes('--render')) writeFileSync(JSON_PATH, `${JSON.stringify(data, null, 2)}\n`);
writeFileSync(SVG_PATH, renderCurveSvg(data));
for (const p of data.panels) {
  console.log(`\n${p.title}`);
  for (const s of p.series) {
    console.log(`  ${s.name}`);
    for (const q of [...s.points].sort((a, b) => a.achieved_per_s - b.achieved_per_s)) {
      const offered = q.offered_per_s === null ? 'saturated' : `offered ${q.offered_per_s} ${p.offered_unit}`;
      console.log(`    ${offered.padEnd(28)} reached ${String(q.achieved_per_s).padStart(8)}/s  p50 ${q.p50_ms} ms  p99 ${q.p99_ms} ms`);
    }
  }
}
console.log(`\nwrote ${JSON_PATH} and ${SVG_PATH}`);
process.exit(0);
