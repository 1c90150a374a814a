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
 * With `receivers` > 1 the subscribers live in that many processes forked from this one
 * (this one then only publishes and counts): one process receiving 200 000 frames/s takes a
 * whole core, and its own queue, not the server, would set the latency. Their CPU counts as
 * the load generator's.
 *
 * argv: one JSON LoadConfig. Prints one JSON LoadResult line on stdout.
 */
import { fork, type ChildProcess } from 'node:child_process';
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
  /** Processes holding the subscribers (default 1: this one). */
  receivers?: number;
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

/** The subscribers, in this process or in forked receivers: counts and latencies of the phase begun last. */
interface Subscribers {
  /** Processes whose CPU is the load generator's besides this one. */
  pids: number[];
  begin(): void;
  received(): number;
  /** Stops recording; the phase's latencies. */
  end(): Promise<Float64Array>;
  close(): void;
}

/** Opens subscribers `from`…`from + count - 1` (subscriber i on base i mod n), 100 at a time. */
async function openSubscribers(from: number, count: number): Promise<(() => void)[]> {
  const open = { hub: openWs, baseline: openWs, nchan: openWs, socketio: openSocketIo, 'socketio-wire': openSocketIoWire }[cfg.mode];
  const closers: (() => void)[] = [];
  for (let i = from; i < from + count; i += 100) {
    const batch = Array.from({ length: Math.min(100, from + count - i) }, (_, j) => open(cfg.bases[(i + j) % cfg.bases.length]!));
    closers.push(...(await Promise.all(batch)));
  }
  return closers;
}

function beginRecording(): void {
  received = 0;
  latencies = [];
  recording = true;
}

async function localSubscribers(): Promise<Subscribers> {
  const closers = await openSubscribers(0, cfg.subscribers);
  return {
    pids: [],
    begin: beginRecording,
    received: () => received,
    end: () => {
      recording = false;
      return Promise.resolve(Float64Array.from(latencies));
    },
    close: () => closers.forEach((close) => close()),
  };
}

type ReceiverMessage = { type: 'ready' } | { type: 'count'; phase: number; received: number } | { type: 'latencies'; latencies: Float64Array };

/** `n` forked receivers with an equal share of the subscribers each; they report their counts every 20 ms. */
async function remoteSubscribers(n: number): Promise<Subscribers> {
  let phase = 0;
  const share = Math.ceil(cfg.subscribers / n);
  const receivers = Array.from({ length: n }, (_, i) => {
    const range = { from: i * share, count: Math.min(share, cfg.subscribers - i * share) };
    const child: ChildProcess = fork(process.argv[1]!, [process.argv[2]!, JSON.stringify(range)], {
      serialization: 'advanced', // latencies as a Float64Array
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const state = { child, received: 0 };
    child.on('message', (m: ReceiverMessage) => {
      if (m.type === 'count' && m.phase === phase) state.received = m.received;
    });
    return state;
  });
  const reply = <T extends ReceiverMessage['type']>(child: ChildProcess, type: T): Promise<Extract<ReceiverMessage, { type: T }>> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`a receiver exited with ${code}`));
      const onMessage = (m: ReceiverMessage): void => {
        if (m.type !== type) return;
        child.off('message', onMessage).off('exit', onExit);
        resolve(m as Extract<ReceiverMessage, { type: T }>);
      };
      child.on('message', onMessage).once('exit', onExit);
    });
  await Promise.all(receivers.map(({ child }) => reply(child, 'ready')));
  return {
    pids: receivers.map(({ child }) => child.pid!),
    begin() {
      phase++;
      for (const r of receivers) {
        r.received = 0;
        r.child.send({ begin: phase });
      }
    },
    received: () => receivers.reduce((sum, r) => sum + r.received, 0),
    async end() {
      const parts = await Promise.all(
        receivers.map(({ child }) => {
          const answer = reply(child, 'latencies');
          child.send({ end: true });
          return answer.then((m) => m.latencies);
        }),
      );
      const all = new Float64Array(parts.reduce((sum, p) => sum + p.length, 0));
      parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
      return all;
    },
    close: () => receivers.forEach(({ child }) => child.kill()),
  };
}

/** A forked receiver's life: open its share, then count (every 20 ms to the parent) and record as told. */
async function runReceiver(from: number, count: number): Promise<void> {
  await openSubscribers(from, count);
  let phase = 0;
  setInterval(() => process.send!({ type: 'count', phase, received }), 20);
  process.on('message', (m: { begin?: number; end?: true }) => {
    if (m.begin !== undefined) {
      phase = m.begin;
      beginRecording();
    } else if (m.end) {
      recording = false;
      process.send!({ type: 'latencies', latencies: Float64Array.from(latencies) });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'ready' });
}

async function waitQuiet(subscribers: Subscribers, expected: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (subscribers.received() < expected && Date.now() < deadline) await sleep(5);
}

/**
 * Measures one phase: `publish` runs the publishers; the phase ends once they are done and
 * delivery drained. CPU shares cover the publishing window; the server is this process's
 * parent and its other descendants. A phase other processes disturbed is measured again
 * (bench/lib/cpu.ts).
 */
function phase(subscribers: Subscribers, offered: number | null, publish: () => Promise<number>): Promise<Phase> {
  return undisturbed(
    async () => {
      subscribers.begin();
      const cpu = cpuMeter(process.ppid, subscribers.pids);
      const start = now();
      const published = await publish();
      const publishedAt = now();
      const inWindow = subscribers.received();
      const shares = cpu();
      await waitQuiet(subscribers, published * cfg.subscribers, 20_000);
      const received = subscribers.received();
      const sorted = (await subscribers.end()).sort();
      const publishS = (publishedAt - start) / 1000;
      // At a fixed rate the stream ends when the last delivery lands; saturated, the window is what counts.
      const deliveryS = offered === null ? publishS : (now() - start) / 1000;
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

const range = process.argv[3] && (JSON.parse(process.argv[3]) as { from: number; count: number });
if (range) {
  await runReceiver(range.from, range.count);
} else {
  const subscribers = (cfg.receivers ?? 1) > 1 ? await remoteSubscribers(cfg.receivers!) : await localSubscribers();
  // Warm-up (JIT, socket buffers, connection pools): one second at 100 events/s, not recorded.
  subscribers.begin();
  await fixedRate(100, 1);
  await waitQuiet(subscribers, 100 * cfg.subscribers, 20_000);
  await subscribers.end();

  const steps: Phase[] = [];
  let saturation: Phase | undefined;
  if (cfg.saturationFirst) saturation = await phase(subscribers, null, () => saturate(cfg.saturationSeconds));
  for (const r of cfg.rates) {
    const rate = saturation ? Math.max(1, Math.round(r * saturation.events_per_s)) : r;
    steps.push(await phase(subscribers, rate, () => fixedRate(rate, cfg.stepSeconds)));
  }
  saturation ??= await phase(subscribers, null, () => saturate(cfg.saturationSeconds));

  subscribers.close();
  process.stdout.write(`${JSON.stringify({ steps, saturation } satisfies LoadResult)}\n`);
  process.exit(0);
}
