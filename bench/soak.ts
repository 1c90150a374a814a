// npm run soak [-- --minutes 10 --subscribers 2000 --rate 100]
// Mixed load against one hub (a child process, compiled, durable defaults) for a long run:
// HTTP single and batch publishes and WebSocket publishes at a steady rate, WebSocket
// subscribers on three channels of which 1 % are cut every second (they reconnect and
// resume), and three webhook receivers, one of them always failing. Every 10 s it prints
// throughput, p99 latencies and the hub's RSS; at the end it drains and checks that nothing
// was lost: every subscriber got every event of its channel from its start exactly once, in
// order; each healthy receiver got every matching event (exactly once after dedupe on
// webhook-id); no delivery is left in flight. Prints one JSON summary line on stdout.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import WebSocket from 'ws';
import { connect, type PushhubClient, type WebSocketFactory, type WebSocketLike } from '../src/client/index.js';
import { cursorCodec } from '../src/domain/cursor.js';
import { API_KEY, log, percentile, round, startHubProcess } from './lib/common.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    subscribers: { type: 'string', default: '2000' },
    rate: { type: 'string', default: '100' },
  },
});
const DURATION_MS = Number(values.minutes) * 60_000;
const SUBSCRIBERS = Number(values.subscribers);
const RATE = Number(values.rate); // events per second, all publishers together
const CHANNELS = ['soak.a', 'soak.b', 'soak.c'];
const SAMPLE_MS = 10_000;

const hub = await startHubProcess({ allowPrivateUrls: true });
const api = new Pool(hub.url, { connections: 16 });
const auth = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await api.request({ method, path, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.body.text();
  return { status: res.statusCode, body: (text ? JSON.parse(text) : undefined) as T };
}

// Cursors are opaque to clients; this test tool knows their form (src/domain/cursor.ts) so it
// can check order exactly. The epoch comes from a first cursor.
const first = await call<{ cursor: string }>('POST', '/v1/events', { channel: 'soak.warmup', type: 't', data: null });
const codec = cursorCodec(first.body.cursor.split('-')[0]!);
const seqOf = (cursor: string): number => {
  const d = codec.decode(cursor);
  if (!d.ok) throw new Error(`bad cursor ${cursor}`);
  return d.seq;
};

// ── webhook receivers ────────────────────────────────────────────────────────────────────

interface Receiver {
  name: string;
  server: Server;
  url: string;
  ids: Set<string>;
  posts: number;
}

async function receiver(name: string, status: number): Promise<Receiver> {
  const r: Receiver = { name, server: createServer(), url: '', ids: new Set(), posts: 0 };
  r.server.on('request', (req, res) => {
    req.resume();
    req.on('end', () => {
      r.posts++;
      if (status < 300) r.ids.add(String(req.headers['webhook-id']));
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(r.server.address() as { port: number }).port}/hook`;
  return r;
}

const healthyAll = await receiver('healthy-all', 200);
const healthyAB = await receiver('healthy-ab', 204);
const failing = await receiver('failing', 500);
const subscriptions: Record<string, string> = {};
for (const [r, channels, retry] of [
  [healthyAll, ['soak.>'], undefined],
  [healthyAB, ['soak.a', 'soak.b'], undefined],
  [failing, ['soak.>'], { initial_delay_ms: 200, max_delay_ms: 1000, max_attempts: 3 }],
] as const) {
  const res = await call<{ id: string }>('POST', '/v1/subscriptions', { url: r.url, channels, retry });
  if (res.status !== 201) throw new Error(`subscription for ${r.name}: ${res.status} ${JSON.stringify(res.body)}`);
  subscriptions[r.name] = res.body.id;
}

// ── WebSocket subscribers ────────────────────────────────────────────────────────────────

/**
 * What one subscriber received, checked as it arrives: positions strictly increasing (no
 * duplicate, nothing out of order), and a count and sum to compare with the log at the end
 * (the same count and sum over strictly increasing positions of the channel: nothing missing).
 */
interface Subscriber {
  client: PushhubClient;
  channel: string;
  startSeq: number | undefined;
  last: number;
  count: number;
  sum: number;
  disorder: number;
  socket: WebSocket | undefined;
}

const fanoutLatencies: number[] = [];
const subscribers: Subscriber[] = [];
for (let i = 0; i < SUBSCRIBERS; i++) {
  const s: Subscriber = {
    client: undefined as unknown as PushhubClient,
    channel: CHANNELS[i % 3]!,
    startSeq: undefined,
    last: 0,
    count: 0,
    sum: 0,
    disorder: 0,
    socket: undefined,
  };
  const sampled = i % 100 === 0; // latency from 1 % of subscribers: the load generator must keep up
  // Our own factory keeps each client's socket so the soak can cut it at random.
  const factory: WebSocketFactory = (url, token) => {
    const ws = new WebSocket(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    s.socket = ws;
    return ws as unknown as WebSocketLike;
  };
  s.client = connect({ url: hub.url, token: API_KEY, webSocket: factory, backoff: { initialMs: 200, maxMs: 2000 } });
  s.client.subscribe<{ t: number }>(
    s.channel,
    (event) => {
      const seq = seqOf(event.cursor);
      if (seq <= s.last) s.disorder++;
      s.last = seq;
      s.count++;
      s.sum += seq;
      if (sampled) fanoutLatencies.push(Date.now() - event.data.t);
    },
    {
      onSubscribed: ({ cursor }) => {
        if (s.startSeq === undefined && cursor) s.startSeq = seqOf(cursor);
      },
    },
  );
  subscribers.push(s);
  if (i % 200 === 199) await new Promise((r) => setTimeout(r, 50)); // don't stampede the handshake
}
while (subscribers.some((s) => s.startSeq === undefined)) await new Promise((r) => setTimeout(r, 100));
log(`${SUBSCRIBERS} subscribers live`);

// ── publishers ───────────────────────────────────────────────────────────────────────────

const acked: Array<{ channel: string; seq: number }> = [];
const publishLatencies: number[] = [];
let refused = 0;
const wsPublisher = connect({ url: hub.url, token: API_KEY, webSocket: (url, token) => new WebSocket(url, { headers: { authorization: `Bearer ${token}` } }) as unknown as WebSocketLike });
let n = 0;
const nextEvent = () => ({ channel: CHANNELS[n % 3]!, type: 'soak.tick', data: { n: n++, t: Date.now() } });

async function publishOne(): Promise<void> {
  const roll = Math.random();
  const t = performance.now();
  try {
    if (roll < 0.1) {
      const e = nextEvent();
      const ack = await wsPublisher.publish(e.channel, e.type, e.data);
      acked.push({ channel: e.channel, seq: seqOf(ack.cursor) });
    } else if (roll < 0.3) {
      const events = Array.from({ length: 5 }, nextEvent);
      const res = await call<{ events: Array<{ channel: string; cursor: string }> }>('POST', '/v1/events/batch', { events });
      if (res.status !== 202) return void refused++;
      for (const e of res.body.events) acked.push({ channel: e.channel, seq: seqOf(e.cursor) });
    } else {
      const res = await call<{ channel: string; cursor: string }>('POST', '/v1/events', nextEvent());
      if (res.status !== 202) return void refused++;
      acked.push({ channel: res.body.channel, seq: seqOf(res.body.cursor) });
    }
    publishLatencies.push(performance.now() - t);
  } catch {
    refused++;
  }
}

// ── the run ──────────────────────────────────────────────────────────────────────────────

const rssSeries: number[] = [];
const samples: Array<Record<string, number>> = [];
const rssMiB = (): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${hub.process.pid}/status`, 'utf8'));
  return m ? round(Number(m[1]) / 1024, 1) : NaN;
};
const started = Date.now();
let cut = 0;
const inFlight = new Set<Promise<void>>();
// A publish carries 1.8 events on average (10 % WS, 20 % batches of 5, 70 % single), so
// RATE events/s is RATE / 1.8 publishes/s, spread over 10 ms ticks with the fraction carried.
let budget = 0;
const publishTimer = setInterval(() => {
  for (budget += RATE / 1.8 / 100; budget >= 1; budget--) {
    const p = publishOne().finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
}, 10);
const cutTimer = setInterval(() => {
  for (let k = 0; k < Math.max(1, SUBSCRIBERS / 100); k++) {
    const s = subscribers[Math.floor(Math.random() * subscribers.length)]!;
    s.socket?.terminate();
    cut++;
  }
}, 1000);
let window = { acked: 0, publish: 0, fanout: 0 };
const sampleTimer = setInterval(() => {
  const p = publishLatencies.slice(window.publish);
  const f = fanoutLatencies.slice(window.fanout);
  const sample = {
    t_s: round((Date.now() - started) / 1000, 0),
    events_per_s: round((acked.length - window.acked) / (SAMPLE_MS / 1000), 0),
    publish_p99_ms: round(percentile(p, 99), 1),
    fanout_p99_ms: round(percentile(f, 99), 1),
    rss_mib: rssMiB(),
  };
  window = { acked: acked.length, publish: publishLatencies.length, fanout: fanoutLatencies.length };
  rssSeries.push(sample.rss_mib);
  samples.push(sample);
  log(JSON.stringify(sample));
}, SAMPLE_MS);

await new Promise((r) => setTimeout(r, DURATION_MS));
clearInterval(publishTimer);
clearInterval(cutTimer);
await Promise.all(inFlight);
log('publishing stopped; draining');

// ── drain and check ──────────────────────────────────────────────────────────────────────

const byChannel = new Map(CHANNELS.map((c) => [c, acked.filter((a) => a.channel === c).map((a) => a.seq).sort((x, y) => x - y)]));
const expectedFor = (s: Subscriber) => {
  const want = byChannel.get(s.channel)!.filter((seq) => seq > s.startSeq!);
  return { count: want.length, sum: want.reduce((a, b) => a + b, 0) };
};
const wsComplete = () => subscribers.every((s) => s.count >= expectedFor(s).count);
const webhooksComplete = () =>
  healthyAll.ids.size >= acked.length && healthyAB.ids.size >= acked.filter((a) => a.channel !== 'soak.c').length;
const drainUntil = Date.now() + 120_000;
while ((!wsComplete() || !webhooksComplete()) && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 500));
clearInterval(sampleTimer);

const wsBroken = subscribers.filter((s) => {
  const want = expectedFor(s);
  return s.disorder > 0 || s.count !== want.count || s.sum !== want.sum;
});
const eventIds = await (async () => {
  // Every acknowledged event id, to compare against what the receivers saw.
  const ids = new Set<string>();
  for (const channel of CHANNELS) {
    let after = '';
    for (;;) {
      const page = await call<{ events: Array<{ id: string }>; next_cursor: string; has_more: boolean }>(
        'GET',
        `/v1/channels/${channel}/events?limit=1000${after ? `&after=${after}` : ''}`,
      );
      for (const e of page.body.events) ids.add(e.id);
      after = page.body.next_cursor;
      if (!page.body.has_more) break;
    }
  }
  return ids;
})();
const missingAll = [...eventIds].filter((id) => !healthyAll.ids.has(id)).length;
const inFlightLeft = (await call<{ deliveries: unknown[] }>('GET', '/v1/deliveries?state=in_flight&limit=100')).body.deliveries.length;
const failingStates: Record<string, number> = {};
for (const state of ['pending', 'retrying', 'dead', 'succeeded']) {
  failingStates[state] = 0;
  for (let after = ''; ; ) {
    const page = await call<{ deliveries: unknown[]; next_cursor: string | null }>(
      'GET',
      `/v1/deliveries?subscription_id=${subscriptions.failing}&state=${state}&limit=1000${after ? `&after=${after}` : ''}`,
    );
    failingStates[state] += page.body.deliveries.length;
    if (!page.body.next_cursor) break;
    after = page.body.next_cursor;
  }
}

const warm = rssSeries.slice(Math.floor(rssSeries.length / 3));
const rssGrowth = warm.length >= 2 ? round(warm.at(-1)! / Math.min(...warm), 3) : 1;
const summary = {
  soak: true,
  minutes: Number(values.minutes),
  subscribers: SUBSCRIBERS,
  events_published: acked.length,
  events_per_s: round(acked.length / ((DURATION_MS) / 1000), 1),
  publish_refused: refused,
  publish_p99_ms: round(percentile(publishLatencies, 99), 1),
  fanout_deliveries: subscribers.reduce((a, s) => a + s.count, 0),
  fanout_p50_ms: round(percentile(fanoutLatencies, 50), 1),
  fanout_p99_ms: round(percentile(fanoutLatencies, 99), 1),
  connections_cut: cut,
  webhook_posts: { healthy_all: healthyAll.posts, healthy_ab: healthyAB.posts, failing: failing.posts },
  webhook_duplicates_healthy_all: healthyAll.posts - healthyAll.ids.size,
  failing_subscription_deliveries: failingStates,
  rss_mib: rssSeries,
  rss_growth_after_warmup: rssGrowth,
  checks: {
    ws_exactly_once_in_order: wsBroken.length === 0,
    webhooks_all_delivered: missingAll === 0 && webhooksComplete(),
    nothing_in_flight: inFlightLeft === 0,
    rss_flat: rssGrowth <= 1.25,
  },
};
const pass = Object.values(summary.checks).every(Boolean);
process.stdout.write(`${JSON.stringify({ ...summary, pass })}\n`);

for (const s of subscribers) s.client.close();
wsPublisher.close();
await api.close();
for (const r of [healthyAll, healthyAB, failing]) r.server.close();
await hub.stop();
process.exit(pass ? 0 : 1);
