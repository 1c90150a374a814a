/**
 * Resume: a client 100 000 events behind subscribes with its cursor; how fast does the hub
 * replay them (store read, envelope, frames, socket) to a client in another process? The
 * baseline, in the same run, is a raw better-sqlite3 scan of the same rows with the same
 * query (the fastest of one full iteration and pages of the hub's page size).
 * ratio = our events/s ÷ the raw scan's rows/s (medians of 3).
 *
 *   npx tsx bench/resume.ts [--quick]
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { API_KEY, log, quick, report, round, runChild, startHubInProcess } from './lib/common.js';

const EVENTS = quick ? 20_000 : 100_000;
const RUNS = 3;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const hub = await startHubInProcess();
log(`seeding ${EVENTS} events`);
let lastId = '';
for (let i = 0; i < EVENTS; i += 1000) {
  const res = await fetch(`${hub.url}/v1/events/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      events: Array.from({ length: Math.min(1000, EVENTS - i) }, (_, k) => ({
        channel: 'resume',
        type: 'order.updated',
        data: { n: i + k, status: 'shipped', customer: 'cus_0123456789', total_cents: 4200 },
      })),
    }),
  });
  const body = (await res.json()) as { events: Array<{ id: string }> };
  lastId = body.events.at(-1)!.id;
}
const cursor = hub.app.codec.encode(0); // before the first event: all of them are behind

const ours: number[] = [];
for (let r = -1; r < RUNS; r++) { // run -1 warms the code paths up, as the baseline's first scan does
  const { events, ms } = await runChild<{ events: number; ms: number }>('resume-client.ts', [
    `${hub.url.replace('http', 'ws')}/v1/ws`,
    cursor,
    String(EVENTS),
    lastId,
  ]);
  if (events !== EVENTS) throw new Error(`replayed ${events} of ${EVENTS}`);
  log(`ours run ${r + 1}: ${Math.round(ms)} ms`);
  if (r >= 0) ours.push(EVENTS / (ms / 1000));
}

const db = new Database(join(hub.dir, 'pushhub.db'), { readonly: true });
const query = db.prepare(
  'SELECT seq, id, channel, type, occurred_at, received_at, data FROM events WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?',
);
const scan = (pageSize: number): number => {
  const started = performance.now();
  let after = 0;
  let rows = 0;
  for (;;) {
    const page = query.all('resume', after, pageSize) as Array<{ seq: number }>;
    rows += page.length;
    if (page.length < pageSize) break;
    after = page.at(-1)!.seq;
  }
  if (rows !== EVENTS) throw new Error(`scanned ${rows}`);
  return rows / ((performance.now() - started) / 1000);
};
const pageSize = 1000; // the hub's default replayPageSize
const baseline: number[] = [];
for (let r = 0; r < RUNS; r++) baseline.push(Math.max(scan(EVENTS + 1), scan(pageSize)));
db.close();
await hub.close();

const oursRate = median(ours);
const baseRate = median(baseline);
const ratio = oursRate / baseRate;
report({
  bench: 'resume',
  ours: { events_behind: EVENTS, replayed_events_per_s: Math.round(oursRate), runs: ours.map(Math.round) },
  baseline: { raw_scan_rows_per_s: Math.round(baseRate), runs: baseline.map(Math.round) },
  ratio: round(ratio, 3),
  targets: { ratio: '>= 0.5', events_behind: 100_000 },
  pass: ratio >= 0.5,
});
