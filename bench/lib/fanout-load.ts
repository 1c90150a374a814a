/**
 * Load generator for bench/fanout.ts, bench/curve.ts and bench/cluster.ts, in its own
 * process: opens N subscribers (hub: WebSocket + `subscribe`; baseline: a bare WebSocket;
 * socketio: socket.io-client, websocket transport only, joining the channel's room;
 * socketio-wire: the same over a bare WebSocket speaking Socket.IO's wire protocol; nchan: a
 * bare WebSocket on Nchan's subscriber location, and each publish's body is the very frame
 * the hub would send, since Nchan relays what it is given), spread
 * over the server's URLs (several hubs on one log), publishes over HTTP (to each URL in
 * turn) at fixed rates (one step each), and as fast as a few concurrent publishers can
 * (saturation), and measures what the subscribers receive: deliveries/s and
 * publish→receive latency. For each phase it also reports the CPU used by the server (this
 * process's parent, which runs it, and the parent's other descendants: hubs in child
 * processes, their database), by this process and by every other process on the machine,
 * and measures again a phase that other work disturbed (bench/lib/cpu.ts).
 *
 * argv: one JSON LoadConfig. Prints one JSON LoadResult line on stdout.
 */
import { io, type Socket } from 'socket.io-client';
import { Agent, request } from 'undici';
import WebSocket from 'ws';
import { envelope } from './envelope.js';
import { cpuMeter, undisturbed, type CpuShares } from './cpu.js';

export interface LoadConfig {
  mode: 'hub' | 'baseline' | 'socketio' | 'socketio-wire' | 'nchan';
  /** The server's http:// base URLs (several hubs on one log): subscribers and publishes go to each in turn. */
  bases: string[];
  publishPath: string;
  subscribers: number;
  /** Fixed-rate steps in events/s, or, with saturationFirst, fractions of the saturated rate. */
  rates: number[];
  stepSeconds: number;
  saturationSeconds: number;
  /** Measure saturation first, then step at `rates` × its events/s (the latency curve). */
  saturationFirst?: boolean;
  /** Concurrent back-to-back publishers in the saturated phase. */
  publishers?: number;
}

export interface Phase extends CpuShares {
  /** Events/s asked for; null for the saturated phase. */
  offered_per_s: number | null;
  published: number;
  events_per_s: number;
  delivered: number;
  deliveries_per_s: number;
  /** Every published event reached every subscriber (after a drain of at most 20 s). */
  delivered_all: boolean;
  p50_ms: number;
  p99_ms: number;
}

export interface LoadResult {
  steps: Phase[];
  saturation: Phase;
}

const cfg = JSON.parse(process.argv[2]!) as LoadConfig;
const API_KEY = process.env.PUSHHUB_API_KEY!;
const CHANNEL = 'fanout';
const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let received = 0;
let latencies: number[] = [];
let recording = false;

function onFrame(data: Buffer): void {
  received++;
  if (!recording) return;
  // Read the publish time without parsing the whole frame: the client's cost stays small.
  const text = data.toString('latin1');
  const at = text.indexOf('"t":');
  if (at >= 0) latencies.push(now() - parseFloat(text.slice(at + 4)));
}

function openWs(base: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const path = cfg.mode === 'nchan' ? `/sub/${CHANNEL}` : '/v1/ws';
    const ws = new WebSocket(`${base.replace('http', 'ws')}${path}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    ws.once('error', reject);
    ws.once('open', () => {
      const ready = (): void => {
        ws.on('message', onFrame);
        resolve(() => ws.terminate());
      };
      if (cfg.mode !== 'hub') return ready();
      ws.send(JSON.stringify({ op: 'subscribe', channel: CHANNEL }));
      ws.once('message', ready);
    });
  });
}

/**
 * A Socket.IO subscriber speaking the wire protocol (Engine.IO 4, Socket.IO 5) over a bare
 * `ws` client: the same receive cost as the other modes, so the server alone sets the figure.
 */
function openSocketIoWire(base: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
    ws.once('error', reject);
    const handshake = (data: Buffer): void => {
      const text = data.toString();
      if (text.startsWith('0{')) ws.send('40');
      else if (text.startsWith('40{')) ws.send(`420${JSON.stringify(['subscribe', CHANNEL])}`);
      else if (text.startsWith('430')) {
        ws.off('message', handshake);
        ws.on('message', (frame: Buffer) => (frame.length === 1 && frame[0] === 0x32 ? ws.send('3') : onFrame(frame)));
        resolve(() => ws.terminate());
      }
    };
    ws.on('message', handshake);
  });
}

function openSocketIo(base: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const socket: Socket = io(base, { transports: ['websocket'], forceNew: true, reconnection: false });
    socket.once('connect_error', reject);
    socket.once('connect', () => {
      socket.on('event', (event: { data: { t: number } }) => {
        received++;
        if (recording) latencies.push(now() - event.data.t);
      });
      socket.emit('subscribe', CHANNEL, () => resolve(() => socket.disconnect()));
    });
  });
}

/**
 * At most 32 publish connections per server: a server that falls behind at a fixed rate gets
 * its requests queued here (their latency counts from when they fell due, the `t` they carry),
 * not a burst of new connections (hundreds at once overflowed nginx's accept queue: resets).
 */
const publishAgent = new Agent({ connections: 32 });
let publishes = 0;
async function publishOne(): Promise<void> {
  const seq = ++publishes;
  const input = { channel: CHANNEL, type: 'tick', data: { t: now(), pad: 'x'.repeat(100) } };
  const res = await request(`${cfg.bases[seq % cfg.bases.length]}${cfg.publishPath}`, {
    method: 'POST',
    dispatcher: publishAgent,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(cfg.mode === 'nchan' ? { op: 'event', event: envelope(input, seq) } : input),
  });
  await res.body.dump();
  // Nchan answers 201 when the message had subscribers, 202 when it had none.
  if (res.statusCode !== 202 && !(cfg.mode === 'nchan' && res.statusCode === 201)) throw new Error(`publish → ${res.statusCode}`);
}

async function waitQuiet(expected: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (received < expected && Date.now() < deadline) await sleep(5);
}

/**
 * Measures one phase: `publish` runs the publishers; the phase ends once they are done and
 * delivery drained. CPU shares cover the publishing window; the server is this process's
 * parent and its other descendants. A phase other processes disturbed is measured again
 * (bench/lib/cpu.ts).
 */
function phase(offered: number | null, publish: () => Promise<number>): Promise<Phase> {
  return undisturbed(
    async () => {
      received = 0;
      latencies = [];
      recording = true;
      const cpu = cpuMeter(process.ppid);
      const start = now();
      const published = await publish();
      const publishedAt = now();
      const inWindow = received;
      const shares = cpu();
      await waitQuiet(published * cfg.subscribers, 20_000);
      recording = false;
      const publishS = (publishedAt - start) / 1000;
      // At a fixed rate the stream ends when the last delivery lands; saturated, the window is what counts.
      const deliveryS = offered === null ? publishS : (now() - start) / 1000;
      const sorted = Float64Array.from(latencies).sort();
      const pct = (p: number): number => Number((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN).toFixed(2));
      return {
        offered_per_s: offered,
        published,
        events_per_s: Math.round(published / publishS),
        delivered: received,
        deliveries_per_s: Math.round((offered === null ? inWindow : received) / deliveryS),
        delivered_all: received === published * cfg.subscribers,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        ...shares,
      };
    },
    process.ppid,
    `${cfg.mode} ${offered === null ? 'saturated' : `${offered}/s`}`,
    (...args) => console.error('[bench]', ...args),
  );
}

/** Publishes at `rate` events/s for `seconds`; each leaves on schedule, not after the previous answer. */
async function fixedRate(rate: number, seconds: number): Promise<number> {
  const count = Math.max(1, Math.round(seconds * rate));
  const interval = 1000 / rate;
  const start = now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = start + i * interval - now();
    if (wait > 0) await sleep(wait);
    inFlight.push(publishOne());
  }
  await Promise.all(inFlight);
  return count;
}

/** Back-to-back publishers for `seconds`. */
async function saturate(seconds: number): Promise<number> {
  let published = 0;
  const until = now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: cfg.publishers ?? 8 }, async () => {
      while (now() < until) {
        await publishOne();
        published++;
      }
    }),
  );
  return published;
}

const open = { hub: openWs, baseline: openWs, nchan: openWs, socketio: openSocketIo, 'socketio-wire': openSocketIoWire }[cfg.mode];
const closers: (() => void)[] = [];
for (let i = 0; i < cfg.subscribers; i += 100) {
  const batch = Array.from({ length: Math.min(100, cfg.subscribers - i) }, (_, j) => open(cfg.bases[(i + j) % cfg.bases.length]!));
  closers.push(...(await Promise.all(batch)));
}
// Warm-up (JIT, socket buffers, connection pools): one second at 100 events/s, not recorded.
await fixedRate(100, 1);
await waitQuiet(100 * cfg.subscribers, 20_000);

const steps: Phase[] = [];
let saturation: Phase | undefined;
if (cfg.saturationFirst) saturation = await phase(null, () => saturate(cfg.saturationSeconds));
for (const r of cfg.rates) {
  const rate = saturation ? Math.max(1, Math.round(r * saturation.events_per_s)) : r;
  steps.push(await phase(rate, () => fixedRate(rate, cfg.stepSeconds)));
}
saturation ??= await phase(null, () => saturate(cfg.saturationSeconds));

for (const close of closers) close();
process.stdout.write(`${JSON.stringify({ steps, saturation } satisfies LoadResult)}\n`);
process.exit(0);
