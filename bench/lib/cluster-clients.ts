/**
 * Load generator for bench/connections-cluster.ts, in its own process (one process may hold
 * at most 20 000 file descriptors here): opens `count` WebSockets from the loopback source
 * address `local` (127.0.0.2, 127.0.0.3…: each address has its own ephemeral ports), spread
 * over the hubs' URLs (connection i on hub i mod n), each subscribed with the API key to one
 * channel; prints {"connected":n} and then waits. Each socket records when the first event
 * after that arrives (publish time carried in `data.t`, epoch ms); once every socket has one,
 * or `timeoutMs` after the parent wrote a line on stdin (it published), it prints
 * {"latencies":[ms…],"byHub":[[ms…]…],"missing":n} and exits.
 *
 * argv: one JSON { urls, count, local, channel, apiKey, timeoutMs }
 */
import WebSocket from 'ws';

interface Config {
  urls: string[];
  count: number;
  local: string;
  channel: string;
  apiKey: string;
  timeoutMs: number;
}

const cfg = JSON.parse(process.argv[2]!) as Config;
if (!cfg.local.startsWith('127.')) throw new Error(`only loopback source addresses: ${cfg.local}`);
const now = (): number => performance.timeOrigin + performance.now();
const latencies: number[] = [];
/** The same latencies by hub (its index in `urls`): which hub's subscribers waited. */
const byHub: number[][] = cfg.urls.map(() => []);
const sockets: WebSocket[] = [];

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${cfg.apiKey}` }, localAddress: cfg.local, perMessageDeflate: false });
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ op: 'subscribe', channel: cfg.channel, id: 1 })));
    ws.once('message', () => {
      // `subscribed`; the next frame is the event.
      ws.once('message', (data: Buffer) => {
        const text = data.toString('latin1');
        const at = text.indexOf('"t":');
        const ms = now() - parseFloat(text.slice(at + 4));
        latencies.push(ms);
        byHub[cfg.urls.indexOf(url)]!.push(ms);
        if (latencies.length === cfg.count) done();
      });
      resolve(ws);
    });
  });
}

let finished = false;
function done(): void {
  if (finished) return; // every socket got it, or the deadline passed: whichever is first
  finished = true;
  for (const ws of sockets) ws.terminate();
  // Stdout is a pipe (asynchronous): exit once the line, a few hundred kilobytes, is out.
  process.stdout.write(`${JSON.stringify({ latencies, byHub, missing: cfg.count - latencies.length })}\n`, () => process.exit(0));
}

/** A hub busy with thousands of handshakes may answer one late (408): up to 3 tries, then fail. */
async function openWithRetry(url: string): Promise<WebSocket> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await open(url);
    } catch (err) {
      if (attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  }
}

// 200 handshakes in flight per process: more, and the hubs answered some after Node's headers timeout.
for (let i = 0; i < cfg.count; i += 200) {
  const batch = Array.from({ length: Math.min(200, cfg.count - i) }, (_, k) => openWithRetry(cfg.urls[(i + k) % cfg.urls.length]!));
  sockets.push(...(await Promise.all(batch)));
}
process.stdout.write(`${JSON.stringify({ connected: sockets.length })}\n`);
// The parent writes a line once it published (every process connected): from then on at most timeoutMs.
process.stdin.once('data', () => setTimeout(done, cfg.timeoutMs));
process.stdin.once('end', () => process.exit(1)); // the parent is gone
