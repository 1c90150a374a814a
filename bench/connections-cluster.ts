/**
 * 50 000 connections: idle WebSockets held by three hubs on one PostgreSQL (the embedded
 * PostgreSQL of the tests, started here: fsync on, loopback only, removed at the end), then
 * one event fanned out to all of them. A process here may hold at most 20 000 file
 * descriptors, so the clients come from several child processes (bench/lib/cluster-clients.ts),
 * each from its own loopback source address (127.0.0.2, 127.0.0.3…, so each has its own
 * ephemeral ports), and each hub holds a third of the connections. Measures:
 * - RSS per connection: the three hubs' RSS (/proc/<pid>/status, after a full GC in each)
 *   with every connection open, minus before, ÷ connections (target ≤ 8 KiB);
 * - publish→receive of the one event at every subscriber: p50, p99 and the last (target
 *   p99 ≤ 1 s).
 * Bounded: a fixed count (50 000; 3 000 in --quick), every wait has a deadline, and only
 * 127.x addresses are used. No baseline: the targets are absolute.
 *
 *   npm run bench -- connections-cluster [--quick: 600 connections, 2 processes]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { startPostgresServer } from '../test/helpers/postgres-server.js';
import { API_KEY, ROOT, log, percentile, quick, report, round, startHubProcess, type ChildServer } from './lib/common.js';

const CONNECTIONS = quick ? 600 : 50_000;
const HUBS = 3;
// Quick: still two processes on two source addresses, so CI runs every path.
const PER_PROCESS = quick ? 300 : 10_000;
const CHANNEL = 'all';
const TARGET_RSS_BYTES = 8 * 1024;
const TARGET_P99_MS = 1000;
const CONNECT_TIMEOUT_MS = 900_000; // ≈ 170 handshakes/s on the busy 2-core machine: 50 000 took about 5 min
const DELIVERY_TIMEOUT_MS = 30_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rssBytes(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kib) * 1024;
}

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * Waits (at most 60 s) until every hub is idle: at most 2 ticks (≈ 20 ms) of CPU in 250 ms.
 * Three full GCs of a hub holding 17 000 connections take seconds on a busy machine; an
 * event published meanwhile would measure the collections, not the fan-out.
 */
async function idle(hubs: ChildServer[]): Promise<void> {
  const deadline = performance.now() + 60_000;
  let before = hubs.map((h) => cpuTicks(h.process.pid!));
  while (performance.now() < deadline) {
    await sleep(250);
    const now = hubs.map((h) => cpuTicks(h.process.pid!));
    if (now.every((t, i) => t - before[i]! <= 2)) return;
    before = now;
  }
}

/** The hubs' RSS after each collected its garbage (SIGUSR2, bench/servers/hub.mjs). */
async function hubsRss(hubs: ChildServer[]): Promise<number> {
  for (const hub of hubs) hub.process.kill('SIGUSR2');
  await sleep(250);
  await idle(hubs);
  return hubs.reduce((sum, hub) => sum + rssBytes(hub.process.pid!), 0);
}

interface Clients {
  child: ChildProcess;
  connected: Promise<number>;
  /** Asked for once the event is published (a rejection before then would go unheard). */
  result(): Promise<{ latencies: number[]; byHub: number[][]; missing: number }>;
}

function startClients(urls: string[], count: number, local: string): Clients {
  const config = { urls, count, local, channel: CHANNEL, apiKey: API_KEY, timeoutMs: DELIVERY_TIMEOUT_MS };
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/cluster-clients.ts', JSON.stringify(config)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const reap = (): void => void child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  const lines = createInterface({ input: child.stdout! });
  const messages: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  lines.on('line', (line) => {
    messages.push(JSON.parse(line) as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  const message = <T>(key: string, timeoutMs: number): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`clients on ${local}: no ${key} within ${timeoutMs} ms`)), timeoutMs);
      const check = (): void => {
        const found = messages.find((m) => key in m);
        if (found) {
          clearTimeout(timer);
          return resolve(found as T);
        }
        waiters.push(check);
      };
      child.once('exit', (code) => {
        if (!messages.some((m) => key in m)) reject(new Error(`clients on ${local} exited with ${code} before ${key}`));
      });
      check();
    });
  return {
    child,
    connected: message<{ connected: number }>('connected', CONNECT_TIMEOUT_MS).then((m) => m.connected),
    result: () => message<{ latencies: number[]; byHub: number[][]; missing: number }>('latencies', DELIVERY_TIMEOUT_MS + 60_000),
  };
}

log(`connections-cluster: ${CONNECTIONS} WebSockets over ${HUBS} hubs on one PostgreSQL, ${Math.ceil(CONNECTIONS / PER_PROCESS)} client processes`);
const pg = await startPostgresServer(['-c', 'max_connections=100']);
const hubs: ChildServer[] = [];
const clients: Clients[] = [];
let figures;
try {
  const name = `pushhub_${randomBytes(6).toString('hex')}`;
  const db = await pg.createDatabase(name);
  const config = { db, realtime: { maxConnections: 20_000 }, postgres: { poolSize: 4 } };
  hubs.push(...(await Promise.all(Array.from({ length: HUBS }, () => startHubProcess(config, ['--expose-gc'])))));
  const urls = hubs.map((h) => h.url);
  if (urls.some((u) => new URL(u).hostname !== '127.0.0.1')) throw new Error(`a hub does not listen on loopback: ${urls.join(', ')}`);
  // One event first, so lazily built paths (statements, the channel's registry) are not counted per connection.
  await fetch(`${urls[0]}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'warm', type: 'warm', data: {} }),
  });
  const before = await hubsRss(hubs);

  const started = performance.now();
  for (let i = 0, n = 0; i < CONNECTIONS; i += PER_PROCESS, n++) {
    clients.push(startClients(urls, Math.min(PER_PROCESS, CONNECTIONS - i), `127.0.0.${2 + n}`));
  }
  const progress = setInterval(() => log(`connecting: ${(performance.now() - started) / 1000 | 0} s`), 30_000);
  const connected = (await Promise.all(clients.map((c) => c.connected)).finally(() => clearInterval(progress))).reduce((a, b) => a + b, 0);
  const connectS = (performance.now() - started) / 1000;
  log(`${connected} connected in ${round(connectS, 1)} s`);
  await sleep(2000);
  const after = await hubsRss(hubs);

  const res = await fetch(`${urls[0]}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel: CHANNEL, type: 'tick', data: { t: performance.timeOrigin + performance.now() } }),
  });
  if (res.status !== 202) throw new Error(`publish → ${res.status}`);
  for (const c of clients) c.child.stdin!.write('published\n');
  const results = await Promise.all(clients.map((c) => c.result()));
  const latencies = results.flatMap((r) => r.latencies);
  const missing = results.reduce((a, r) => a + r.missing, 0);
  const rssPer = (after - before) / connected;
  figures = {
    connections: connected,
    hubs: HUBS,
    client_processes: clients.length,
    connect_s: round(connectS, 1),
    rss_bytes_per_connection: Math.round(rssPer),
    rss_kib_per_connection: round(rssPer / 1024),
    hubs_rss_mib: round(after / 2 ** 20, 1),
    delivered: latencies.length,
    missing,
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    last_ms: round(Math.max(...latencies)),
    /** p50 and p99 of each hub's subscribers: hub 0 took the publish, the others heard of it through PostgreSQL. */
    by_hub: hubs.map((_, h) => {
      const mine = results.flatMap((r) => r.byHub[h] ?? []);
      return { p50_ms: round(percentile(mine, 50)), p99_ms: round(percentile(mine, 99)) };
    }),
  };
  log(figures);
} finally {
  for (const c of clients) if (c.child.exitCode === null) c.child.kill('SIGTERM');
  await Promise.all(clients.map((c) => (c.child.exitCode === null ? once(c.child, 'exit') : undefined)));
  await Promise.all(hubs.map((h) => h.stop()));
  await pg.destroy();
}

report({
  bench: 'connections-cluster',
  ours: figures,
  baseline: null,
  ratio: null,
  targets: { rss_bytes_per_connection: `<= ${TARGET_RSS_BYTES}`, p99_ms: `<= ${TARGET_P99_MS}`, connections: CONNECTIONS },
  pass: figures.connections === CONNECTIONS && figures.missing === 0 && figures.rss_bytes_per_connection <= TARGET_RSS_BYTES && figures.p99_ms <= TARGET_P99_MS,
});
