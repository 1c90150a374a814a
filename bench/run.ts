// npm run bench [-- name …] [-- --quick]
// Runs each benchmark in its own process (a clean heap and event loop each), prints a table,
// and for full runs writes bench/results.json and bench/results.md and refreshes the table
// in README.md; a run of some benchmarks replaces their rows and keeps the others (each row
// says when, on what machine and Node it was measured). --quick is a smoke run for CI: it
// only fails when a benchmark breaks.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, machine as machineInfo, quick, type BenchResult } from './lib/common.js';

const ALL = ['publish', 'batch', 'fanout', 'webhooks', 'resume', 'connections', 'cluster', 'connections-cluster', 'presence'];
const FIGURE: Record<string, string> = {
  publish: 'durable `POST /v1/events`, 50 connections',
  batch: '`POST /v1/events/batch`, 1000 per request',
  fanout: 'WebSocket fan-out, 1 000 subscribers',
  webhooks: 'signed, recorded webhook POSTs',
  resume: 'replay to a client 100 000 events behind',
  connections: 'memory per idle WebSocket, 10 000 connections',
  presence: '1 000 members (each watching the others) joining one channel within a second, then all reconnecting at once',
  'connections-cluster': '50 000 idle WebSockets over 3 hubs on one PostgreSQL, then one event to all',
  cluster: 'pushhub = 1 hub on PostgreSQL, baseline = 1 hub on SQLite, pg2/pg3 = 2/3 hubs on one PostgreSQL: publish (50 connections) and fan-out (1 000 subscribers) spread over the hubs',
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
  publish: ['rps', 'p50_ms', 'p99_ms', 'server_us_per_request'],
  batch: ['events_per_s', 'p99_batch_ms'],
  fanout: ['saturated_server_us_per_delivery', 'saturated_deliveries_per_s', 'p50_ms', 'p99_ms'],
  webhooks: ['deliveries_per_s', 'posts_per_s', 'p50_ms', 'p99_ms'],
  resume: ['replayed_events_per_s', 'raw_scan_rows_per_s', 'events_behind'],
  connections: ['rss_kib_per_connection', 'heap_bytes_per_connection', 'connections'],
  presence: ['join_frames_per_member', 'convergence_p50_ms', 'convergence_p99_ms', 'reconnect_frames_per_member', 'reconnect_snapshot_kib_per_member', 'consistent_after_reconnect'],
  'connections-cluster': ['connections', 'rss_kib_per_connection', 'p50_ms', 'p99_ms', 'last_ms'],
  cluster: ['publish_rps', 'publish_p50_ms', 'publish_p99_ms', 'fanout_saturated_deliveries_per_s', 'fanout_p50_ms', 'fanout_p99_ms'],
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

/**
 * A benchmark may also measure peers (fanout: Socket.IO), each with its `ratio_vs_<name>`,
 * and give more ratios by name (cluster: pg2/pg1 …).
 */
type WithPeers = BenchResult & { peers?: Record<string, Record<string, unknown>>; ratios?: Record<string, number> } & Record<`ratio_vs_${string}`, number | undefined>;

function table(results: BenchResult[]): string {
  const rows = results.map((result) => {
    const r = result as WithPeers;
    const peers = Object.entries(r.peers ?? {});
    const baseline = [fmt(r.bench, r.baseline), ...peers.map(([name, figures]) => `**${name}**: ${fmt(r.bench, figures)}`)].join('<br>');
    const ratio = [
      r.ratio ?? '—',
      ...peers.flatMap(([name]) => (r[`ratio_vs_${name}`] === undefined ? [] : [`vs ${name} ${r[`ratio_vs_${name}`]}`])),
      ...Object.entries(r.ratios ?? {}).map(([name, v]) => `${name} ${v}`),
    ].join('<br>');
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

console.log(`\n${table(results)}\n`);

/** A row of bench/results.json: the figures, and when and where they were measured. */
type Row = BenchResult & { date: string; node: string; machine: ReturnType<typeof machineInfo> };

/**
 * This run's rows and, for the benchmarks it did not run, the rows bench/results.json
 * already has, in ALL's order: each keeps the date, machine and Node it was measured on
 * (files written before rows carried them give theirs at the top).
 */
function merge(fresh: Row[]): Row[] {
  const rows = new Map<string, Row>();
  try {
    const previous = JSON.parse(readFileSync(join(ROOT, 'bench/results.json'), 'utf8')) as Omit<Row, keyof BenchResult> & { results: Partial<Row>[] };
    for (const r of previous.results) rows.set(r.bench!, { date: previous.date, node: previous.node, machine: previous.machine, ...r } as Row);
  } catch {
    /* no earlier results */
  }
  for (const r of fresh) rows.set(r.bench, r);
  return ALL.flatMap((name) => rows.get(name) ?? []);
}

/** `Measured <day> on <machine>, Node <version>.`, one clause per day and machine when the rows differ. */
function measured(rows: Row[]): string {
  const where = (r: Row): string => `${r.date.slice(0, 10)} on ${r.machine.cpus} × ${r.machine.cpu}, ${r.machine.memory_gib} GiB, Node ${r.node}`;
  const groups = [...new Set(rows.map(where))];
  if (groups.length === 1) return `Measured ${groups[0]}.`;
  return `Measured ${groups.map((g) => `${g} (${rows.filter((r) => where(r) === g).map((r) => r.bench).join(', ')})`).join('; ')}; ratios compare figures of one run only.`;
}

if (!quick && results.length > 0) {
  const machine = machineInfo();
  const date = new Date().toISOString();
  const rows = merge(results.map((r) => ({ date, node: process.version, machine, ...r })));
  writeFileSync(join(ROOT, 'bench/results.json'), `${JSON.stringify({ date, node: process.version, machine, results: rows }, null, 2)}\n`);
  const header = measured(rows);
  const md = table(rows);
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
