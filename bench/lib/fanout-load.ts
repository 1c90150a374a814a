/**
 * Load generator for bench/fanout.ts, in its own process: opens N WebSockets, subscribes
 * (hub) or just listens (baseline), publishes over HTTP at a fixed rate, then as fast as a
 * few concurrent publishers can, and measures what the subscribers receive.
 *
 * argv: <mode hub|baseline> <ws url> <publish url> <subscribers> <fixed seconds> <rate/s> <saturation seconds>
 */
import WebSocket from 'ws';

const [mode, wsUrl, publishUrl, n, fixedS, rate, satS] = process.argv.slice(2) as [string, string, string, string, string, string, string];
const subscribers = Number(n);
const API_KEY = process.env.PUSHHUB_API_KEY!;
const now = (): number => performance.timeOrigin + performance.now();

let received = 0;
let recording = false;
const latencies: number[] = [];

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${API_KEY}` } });
    ws.on('message', (data: Buffer) => {
      received++;
      if (!recording) return;
      // Read the publish time without parsing the whole frame: the client's cost stays small.
      const text = data.toString('latin1');
      const at = text.indexOf('"t":');
      if (at >= 0) latencies.push(now() - parseFloat(text.slice(at + 4)));
    });
    ws.once('error', reject);
    ws.once('open', () => {
      if (mode !== 'hub') return resolve(ws);
      ws.send(JSON.stringify({ op: 'subscribe', channel: 'fanout' }));
      ws.once('message', () => resolve(ws));
    });
  });
}

async function publishOne(): Promise<void> {
  const res = await fetch(publishUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'fanout', type: 'tick', data: { t: now(), pad: 'x'.repeat(100) } }),
  });
  if (res.status !== 202) throw new Error(`publish → ${res.status}`);
  await res.arrayBuffer();
}

async function waitQuiet(expected: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (received < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

const sockets: WebSocket[] = [];
for (let i = 0; i < subscribers; i += 100) {
  sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, subscribers - i) }, open))));
}
// Warm-up (JIT, socket buffers, connection pools): one second at the fixed rate, not recorded.
const warmUp: Promise<void>[] = [];
for (let i = 0; i < Number(rate); i++) {
  warmUp.push(publishOne());
  await new Promise((r) => setTimeout(r, 1000 / Number(rate)));
}
await Promise.all(warmUp);
await waitQuiet(Number(rate) * subscribers, 10_000);
received = 0;

// Phase 1: fixed rate. Publishes leave on schedule, not after the previous answer.
const count = Math.round(Number(fixedS) * Number(rate));
const interval = 1000 / Number(rate);
recording = true;
const start = now();
const inFlight: Promise<void>[] = [];
for (let i = 0; i < count; i++) {
  const wait = start + i * interval - now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  inFlight.push(publishOne());
}
await Promise.all(inFlight);
await waitQuiet(count * subscribers, 10_000);
const fixed = {
  published: count,
  delivered: received,
  deliveries_per_s: received / ((now() - start) / 1000),
  p50_ms: 0,
  p99_ms: 0,
};
const sorted = Float64Array.from(latencies).sort();
fixed.p50_ms = sorted[Math.floor(sorted.length * 0.5)] ?? NaN;
fixed.p99_ms = sorted[Math.floor(sorted.length * 0.99)] ?? NaN;
recording = false;

// Phase 2: saturation. Eight publishers back to back; deliveries counted in the window.
received = 0;
let published = 0;
const until = now() + Number(satS) * 1000;
const satStart = now();
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (now() < until) {
      await publishOne();
      published++;
    }
  }),
);
const window = (now() - satStart) / 1000;
const inWindow = received;
await waitQuiet(published * subscribers, 20_000);
const saturation = {
  published,
  deliveries_per_s: inWindow / window,
  delivered_after_drain: received,
  drain_ms: 0,
};
for (const ws of sockets) ws.terminate();
process.stdout.write(`${JSON.stringify({ fixed, saturation })}\n`);
process.exit(0);
