/**
 * Memory per idle WebSocket: 10 000 connections, each authenticated with a subscriber token
 * (so each carries its expiry timer) and subscribed to its own channel, opened by a separate
 * process. Measures the hub process's RSS and V8 heap (+ external buffers) before and after,
 * both after a full GC. No baseline: the target is absolute.
 *
 *   npx tsx bench/connections.ts [--quick]
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { API_KEY, log, quick, report, round, startHubInProcess } from './lib/common.js';

const CONNECTIONS = quick ? 3000 : 10_000;
const TARGET_BYTES = 16 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function settle(): Promise<{ rss: number; heap: number }> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 200));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external };
}

const hub = await startHubInProcess({ realtime: { maxConnections: CONNECTIONS + 100 } });
const minted = await hub.app.server.inject({
  method: 'POST',
  url: '/v1/tokens',
  headers: { authorization: `Bearer ${API_KEY}` },
  payload: { channels: ['user.*'], sub: 'bench', ttl_s: 3600 },
});
const { token } = minted.json<{ token: string }>();

// Warm the paths once (a few connections), so lazily built code is not counted per connection.
async function openClients(count: number): Promise<() => Promise<void>> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./lib/idle-clients.ts', import.meta.url)), `${hub.url.replace('http', 'ws')}/v1/ws`, String(count), token],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`clients exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', () => resolve());
  });
  return async () => {
    child.removeAllListeners('exit');
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  };
}

const stopWarm = await openClients(100);
await stopWarm();
await new Promise((r) => setTimeout(r, 500));
const before = await settle();
log(`opening ${CONNECTIONS} idle connections`);
const stop = await openClients(CONNECTIONS);
const open = hub.app.realtime.connections().ws;
const after = await settle();
await stop();
await hub.close();

const rssPer = (after.rss - before.rss) / CONNECTIONS;
const heapPer = (after.heap - before.heap) / CONNECTIONS;
log({ before, after, open });
report({
  bench: 'connections',
  ours: {
    connections: open,
    rss_bytes_per_connection: Math.round(rssPer),
    heap_bytes_per_connection: Math.round(heapPer),
    rss_kib_per_connection: round(rssPer / 1024),
  },
  baseline: null,
  ratio: null,
  targets: { rss_bytes_per_connection: `<= ${TARGET_BYTES}`, connections: 10_000 },
  pass: open === CONNECTIONS && rssPer <= TARGET_BYTES,
});
