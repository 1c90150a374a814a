// bench/webhooks: signed, recorded webhook deliveries per second from a real hub (durable
// defaults, fresh database) to a local receiver in another process, next to a bare undici
// POST loop with the same concurrency to the same receiver, in the same run; then
// publish→delivered latency at a steady 1 000 events/s.
//
//   npx tsx bench/webhooks.ts [--quick]
//
// One JSON line on stdout; progress on stderr.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import type * as AppModule from '../src/app.js';
import type { App } from '../src/app.js';
import type * as ConfigModule from '../src/config.js';
import type { Config } from '../src/config.js';
import type * as SubscriptionModule from '../src/domain/subscription.js';
import type * as LoggerModule from '../src/logger.js';
import { API_KEY, TOKEN_SECRET, ROOT, report, log, percentile, quick, round } from './lib/common.js';
import type { PeerReply, PeerRequest } from './webhook-peer.js';

// The compiled hub, as `npm start` runs it (`npm run bench` builds first): no TypeScript
// loader in the hot path, like the hub process of the other benchmarks. Types from src.
const dist = <T>(path: string): Promise<T> => import(join(ROOT, 'dist', path)) as Promise<T>;
const { buildApp } = await dist<typeof AppModule>('app.js');
const { loadConfig } = await dist<typeof ConfigModule>('config.js');
const { defaultSettings } = await dist<typeof SubscriptionModule>('domain/subscription.js');
const { createLogger } = await dist<typeof LoggerModule>('logger.js');

const CONCURRENCY = 50;
const DELIVERIES = quick ? 2_000 : 20_000;
const WARMUP = quick ? 500 : 2_000;
const STEADY_RATE = 1_000;
const STEADY_S = quick ? 1 : 10;
const TARGETS = { ratio: 0.5, p99_ms: 50 };

// The baseline sends what the hub sends, byte for byte in size: a typical envelope and the
// same header set (values fixed once), so the ratio measures the hub's own work (claim,
// sign, record), not the cost of HTTP headers.
const sampleBody = JSON.stringify({
  id: 'evt_01JD6Z7XXXXXXXXXXXXXXXXXXX',
  channel: 'bench.orders',
  type: 'order.created',
  occurred_at: new Date().toISOString(),
  cursor: 'abcdefghij-1',
  spec_version: '1',
  data: { order_id: 1234, amount: 99.5, currency: 'EUR' },
});
const sampleHeaders = {
  'content-type': 'application/json',
  'user-agent': 'pushhub-webhooks',
  'webhook-id': 'evt_01JD6Z7XXXXXXXXXXXXXXXXXXX',
  'webhook-timestamp': '1768910400',
  'webhook-signature': 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=',
  'x-event-id': 'evt_01JD6Z7XXXXXXXXXXXXXXXXXXX',
  'x-event-type': 'order.created',
  'x-pushhub-delivery': 'dlv_01JD6Z7XXXXXXXXXXXXXXXXXXX',
  'x-pushhub-attempt': '1',
};

function startPeer(): Promise<{ peer: ChildProcess; url: string; ask: (m: PeerRequest) => Promise<PeerReply> }> {
  const peer = fork(join(ROOT, 'bench/webhook-peer.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ask = (m: PeerRequest): Promise<PeerReply> =>
    new Promise((resolve) => {
      peer.once('message', (reply: PeerReply) => resolve(reply));
      peer.send(m);
    });
  return new Promise((resolve) => {
    peer.once('message', (reply: PeerReply) => {
      if (reply.type === 'ready') resolve({ peer, url: reply.url, ask });
    });
  });
}

/** The bare loop: CONCURRENCY workers POSTing through one keep-alive undici agent. */
async function bareLoop(url: string, requests: number): Promise<number> {
  const agent = new Agent({ connections: 128, keepAliveTimeout: 30_000 });
  const target = new URL(url);
  let left = requests;
  const worker = async (): Promise<void> => {
    while (left-- > 0) {
      const res = await agent.request({
        origin: target.origin,
        path: target.pathname,
        method: 'POST',
        headers: sampleHeaders,
        body: sampleBody,
      });
      await res.body.text();
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  await agent.close();
  return requests / seconds;
}

async function successes(app: App): Promise<number> {
  const metric = await app.metrics.registry.getSingleMetric('pushhub_webhook_attempts_total')!.get();
  return metric.values.find((v) => v.labels.outcome === 'success')?.value ?? 0;
}

/**
 * Queues `n` deliveries behind a disabled subscription, then enables it and times how long
 * the hub takes to send, sign and record them all.
 */
async function hubRun(app: App, url: string, n: number): Promise<number> {
  const { service } = app.webhooks;
  const channel = `bench.tp${Date.now()}`;
  const sub = await service.create({ ...defaultSettings(url, [channel]), maxInFlight: CONCURRENCY }, false);
  for (let i = 0; i < n; i += 1000) {
    const inputs = Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ channel, type: 'order.created', data: { order_id: i + k, amount: 99.5, currency: 'EUR' } }));
    await app.publisher.publishBatch(inputs, { via: 'cli' });
  }
  const before = await successes(app);
  const started = performance.now();
  await service.update(sub.id, {}, true);
  while ((await successes(app)) - before < n) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - started) / 1000;
  await service.update(sub.id, {}, false);
  return n / seconds;
}

const dir = mkdtempSync(join(tmpdir(), 'pushhub-bench-webhooks-'));
const config = Object.freeze({
  ...loadConfig({}),
  port: 0,
  db: join(dir, 'pushhub.db'),
  apiKey: API_KEY,
  tokenSecret: TOKEN_SECRET,
  allowPrivateUrls: true,
  logLevel: 'warn',
}) as Config;
const app = await buildApp({ config, logger: createLogger(config.logLevel, process.stderr) });
const hubUrl = await app.listen();
const { peer, url, ask } = await startPeer();
try {
  log(`webhooks bench: ${DELIVERIES} deliveries at concurrency ${CONCURRENCY}, then ${STEADY_RATE}/s for ${STEADY_S} s`);
  await bareLoop(url, WARMUP);
  await hubRun(app, url, WARMUP);
  const baselineRate = await bareLoop(url, DELIVERIES);
  log('bare undici loop', round(baselineRate, 0), 'POST/s');
  const oursRate = await hubRun(app, url, DELIVERIES);
  log('pushhub', round(oursRate, 0), 'deliveries/s');

  const steadySub = await app.webhooks.service.create(defaultSettings(url, ['bench.steady']));
  const reply = await ask({ type: 'steady', hubUrl, apiKey: API_KEY, channel: 'bench.steady', ratePerS: STEADY_RATE, seconds: STEADY_S });
  if (reply.type !== 'latencies') throw new Error('peer answered out of turn');
  const samples = reply.latenciesMs;
  const latency = { p50_ms: round(percentile(samples, 50), 2), p99_ms: round(percentile(samples, 99), 2), max_ms: round(Math.max(...samples), 2) };
  log('steady', { published: reply.published, delivered: samples.length, ...latency, subscription: steadySub.id });

  const ratio = round(oursRate / baselineRate, 3);
  report({
    bench: 'webhooks',
    ours: {
      deliveries_per_s: round(oursRate, 0),
      deliveries: DELIVERIES,
      concurrency: CONCURRENCY,
      steady_rate_per_s: STEADY_RATE,
      steady_published: reply.published,
      steady_delivered: samples.length,
      ...latency,
    },
    baseline: { posts_per_s: round(baselineRate, 0), requests: DELIVERIES, concurrency: CONCURRENCY },
    ratio,
    targets: TARGETS,
    pass: ratio >= TARGETS.ratio && latency.p99_ms < TARGETS.p99_ms && samples.length === reply.published,
    ...(quick ? { notes: 'quick: smoke run, numbers not meaningful' } : {}),
  });
} finally {
  peer.kill();
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}
