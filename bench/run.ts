// npm run bench [-- name …] [-- --quick]
// Runs each benchmark in its own process (a clean heap and event loop each), prints a table,
// and for full runs writes bench/results.json and bench/results.md and refreshes the table
// in README.md. --quick is a smoke run for CI: it only fails when a benchmark breaks.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, machine as machineInfo, quick, type BenchResult } from './lib/common.js';

const ALL = ['publish', 'batch', 'fanout', 'webhooks', 'resume', 'connections'];
const FIGURE: Record<string, string> = {
  publish: 'durable `POST /v1/events`, 50 connections',
  batch: '`POST /v1/events/batch`, 1000 per request',
  fanout: 'WebSocket fan-out, 1 000 subscribers',
  webhooks: 'signed, recorded webhook POSTs',
  resume: 'replay to a client 100 000 events behind',
  connections: 'memory per idle WebSocket, 10 000 connections',
};

const names = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const unknown = names.filter((n) => !ALL.includes(n));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${ALL.join(', ')}`);
  process.exit(2);
}

function runOne(name: string): Promise<BenchResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join('bench', `${name}.ts`), ...(quick ? ['--quick'] : [])], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
      if (code !== 0 || !line) return reject(new Error(`bench ${name} failed (exit ${code})`));
      resolve(JSON.parse(line) as BenchResult);
    });
  });
}

/**
 * The headline figures of each benchmark, for the table (results.json keeps every figure).
 * A benchmark not listed shows all of its figures.
 */
const HEADLINE: Record<string, string[]> = {
  publish: ['rps', 'p50_ms', 'p99_ms'],
  batch: ['events_per_s', 'p99_batch_ms'],
  fanout: ['saturated_deliveries_per_s', 'p50_ms', 'p99_ms', 'saturated_server_us_per_delivery'],
  webhooks: ['deliveries_per_s', 'posts_per_s', 'p50_ms', 'p99_ms'],
  resume: ['replayed_events_per_s', 'raw_scan_rows_per_s', 'events_behind'],
  connections: ['rss_kib_per_connection', 'heap_bytes_per_connection', 'connections'],
};

const fmt = (bench: string, figures: Record<string, unknown> | null): string => {
  if (figures === null) return '—';
  const keys = HEADLINE[bench]?.filter((k) => k in figures) ?? Object.keys(figures);
  return keys
    .map((k) => {
      const v = figures[k];
      return `${k} ${typeof v === 'number' ? v.toLocaleString('en-US') : JSON.stringify(v)}`;
    })
    .join(', ');
};

/** A benchmark may also measure peers (fanout: Socket.IO), each with its `ratio_vs_<name>`. */
type WithPeers = BenchResult & { peers?: Record<string, Record<string, unknown>> } & Record<`ratio_vs_${string}`, number | undefined>;

function table(results: BenchResult[]): string {
  const rows = results.map((result) => {
    const r = result as WithPeers;
    const peers = Object.entries(r.peers ?? {});
    const baseline = [fmt(r.bench, r.baseline), ...peers.map(([name, figures]) => `**${name}**: ${fmt(r.bench, figures)}`)].join('<br>');
    const ratio = [r.ratio ?? '—', ...peers.map(([name]) => `vs ${name} ${r[`ratio_vs_${name}`] ?? '—'}`)].join('<br>');
    const targets = Object.entries(r.targets)
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ');
    return `| ${r.bench} — ${FIGURE[r.bench] ?? ''} | ${fmt(r.bench, r.ours)} | ${baseline} | ${ratio} | ${targets} | ${r.pass ? 'yes' : 'no'} |`;
  });
  return ['| benchmark | pushhub | baseline (same run) | ratio | target | met |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

const results: BenchResult[] = [];
let failed = false;
for (const name of names.length > 0 ? names : ALL) {
  console.error(`\n▶ ${name}${quick ? ' (quick)' : ''}`);
  try {
    results.push(await runOne(name));
  } catch (err) {
    console.error((err as Error).message);
    failed = true;
  }
}

const md = table(results);
console.log(`\n${md}\n`);
if (!quick && results.length > 0) {
  const machine = machineInfo();
  const stamp = new Date().toISOString();
  writeFileSync(join(ROOT, 'bench/results.json'), `${JSON.stringify({ date: stamp, node: process.version, machine, results }, null, 2)}\n`);
  const header = `Measured ${stamp.slice(0, 10)} on ${machine.cpus} × ${machine.cpu}, ${machine.memory_gib} GiB, Node ${process.version}.`;
  writeFileSync(join(ROOT, 'bench/results.md'), `${header}\n\n${md}\n`);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  if (readme.includes(start) && readme.includes(end)) {
    const before = readme.slice(0, readme.indexOf(start) + start.length);
    const after = readme.slice(readme.indexOf(end));
    writeFileSync(join(ROOT, 'README.md'), `${before}\n${header}\n\n${md}\n${after}`);
  }
}
process.exit(failed ? 1 : 0);
