// bench/batch: events/s through POST /v1/events/batch (1000 events per request, 4 requests
// in flight) against raw better-sqlite3 batched inserts of the same rows with the same
// pragmas (WAL, synchronous FULL) and schema, measured in this run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Agent, request } from 'undici';
import { API_KEY, report, log, quick, round, startHubProcess } from './lib/common.js';

const BATCH = 1000;
const IN_FLIGHT = 4;
const DURATION_MS = quick ? 2_000 : 10_000;

function batchBody(n: number): string {
  const events = Array.from({ length: BATCH }, (_, i) => ({
    channel: `bench.batch.${i % 8}`,
    type: 'item.updated',
    data: { n, i, sku: 'SKU-12345', qty: 3, price: 19.99 },
  }));
  return JSON.stringify({ events });
}

async function hubRate(): Promise<{ events_per_s: number; p99_batch_ms: number }> {
  const hub = await startHubProcess();
  const agent = new Agent({ connections: IN_FLIGHT });
  const bodies = Array.from({ length: 8 }, (_, n) => batchBody(n));
  let events = 0;
  const latencies: number[] = [];
  try {
    const run = async (until: number): Promise<void> => {
      for (let k = 0; Date.now() < until; k++) {
        const t = performance.now();
        const res = await request(`${hub.url}/v1/events/batch`, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
          body: bodies[k % bodies.length],
        });
        await res.body.dump();
        if (res.statusCode !== 202) throw new Error(`batch answered ${res.statusCode}`);
        latencies.push(performance.now() - t);
        events += BATCH;
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => run(Date.now() + 1_000))); // warm-up
    events = 0;
    latencies.length = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => run(Date.now() + DURATION_MS)));
    const elapsed = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return { events_per_s: round(events / elapsed, 0), p99_batch_ms: round(latencies[Math.floor(latencies.length * 0.99)] ?? NaN, 1) };
  } finally {
    await agent.close();
    await hub.stop();
  }
}

/** The same rows, the same schema and pragmas, straight into SQLite: the floor of the work. */
function rawRate(): { events_per_s: number } {
  const dir = mkdtempSync(join(tmpdir(), 'pushhub-bench-raw-'));
  const db = new Database(join(dir, 'raw.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, channel TEXT NOT NULL,
      type TEXT NOT NULL, occurred_at INTEGER NOT NULL, received_at INTEGER NOT NULL, data TEXT NOT NULL) STRICT;
      CREATE INDEX events_channel_seq ON events (channel, seq);`);
    const insert = db.prepare('INSERT INTO events (id, channel, type, occurred_at, received_at, data) VALUES (?, ?, ?, ?, ?, ?)');
    let id = 0;
    const tx = db.transaction((n: number) => {
      const now = Date.now();
      for (let i = 0; i < BATCH; i++) {
        insert.run(`evt_${(++id).toString().padStart(26, '0')}`, `bench.batch.${i % 8}`, 'item.updated', now, now, JSON.stringify({ n, i, sku: 'SKU-12345', qty: 3, price: 19.99 }));
      }
    });
    for (let k = 0; k < 20; k++) tx(k); // warm-up
    let events = 0;
    const started = performance.now();
    const until = Date.now() + DURATION_MS;
    for (let k = 0; Date.now() < until; k++) {
      tx(k);
      events += BATCH;
    }
    return { events_per_s: round(events / ((performance.now() - started) / 1000), 0) };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const baseline = rawRate();
log('raw sqlite', baseline);
const ours = await hubRate();
log('pushhub', ours);
const ratio = round(ours.events_per_s / baseline.events_per_s, 3);
report({ bench: 'batch', ours, baseline, ratio, targets: { ratio: 0.7 }, pass: ratio >= 0.7 });
