import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startChildHub, type ChildHub } from '../helpers/child-hub.js';
import { API_KEY } from '../helpers/hub.js';
import { startPostgresServer, type PostgresServer } from '../helpers/postgres-server.js';
import { sleep } from '../helpers/seeded.js';

/**
 * Three hub processes on one database, and the database stopped and started again under
 * publish load (a server of this file's own: the run's shared one must stay up). No hub is
 * restarted: each answers 503 with Retry-After while it cannot write and recovers by itself.
 */
let server: PostgresServer;
let dir: string;
const hubs: ChildHub[] = [];

beforeAll(async () => {
  server = await startPostgresServer();
  dir = mkdtempSync(join(tmpdir(), 'pushhub-cluster-outage-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ postgres: { pollMs: 250, connectTimeoutMs: 1000, statementTimeoutMs: 2000 } }));
}, 60_000);
afterAll(async () => {
  await Promise.all(hubs.map((h) => h.kill()));
  await server?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

it('PostgreSQL stopped and started under load: 503s while it is down, no acknowledged event lost, every hub recovers without a restart', async () => {
  const url = await server.createDatabase('cluster_outage');
  for (let i = 0; i < 3; i++) hubs.push(await startChildHub(url, { PUSHHUB_CONFIG: join(dir, 'config.json') }));
  const acked = new Map<string, number>(); // event id → hub index
  const refusals: Array<{ status: number; retryAfter: string | null }> = [];
  let running = true;
  const worker = async (w: number) => {
    for (let n = 0; running; n++) {
      const hub = hubs[(w + n) % 3]!;
      const res = await fetch(`${hub.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'outage', type: 't', data: { w, n } }),
      }).catch(() => undefined);
      if (res?.status === 202) acked.set(((await res.json()) as { id: string }).id, (w + n) % 3);
      else if (res) {
        refusals.push({ status: res.status, retryAfter: res.headers.get('retry-after') });
        await res.body?.cancel();
        await sleep(50);
      }
      await sleep(10);
    }
  };
  const workers = [0, 1, 2, 3].map(worker);
  await sleep(700);
  const beforeStop = acked.size;
  await server.stop();
  await sleep(1500);
  await server.start();
  // Every hub takes writes again, by itself.
  for (const hub of hubs) {
    await expect
      .poll(async () => (await fetch(`${hub.url}/readyz`).catch(() => undefined))?.status, { timeout: 20_000, interval: 200 })
      .toBe(200);
  }
  await sleep(500);
  running = false;
  await Promise.all(workers);

  expect(beforeStop).toBeGreaterThan(0);
  expect(refusals.length).toBeGreaterThan(0);
  for (const r of refusals) {
    expect(r.status).toBe(503);
    expect(Number(r.retryAfter)).toBeGreaterThan(0);
  }
  // Every acknowledged event is in the log, read through each hub, once, positions gapless.
  for (const hub of hubs) {
    const ids: string[] = [];
    const seqs: number[] = [];
    for (let after = ''; ; ) {
      const page = (await (await fetch(`${hub.url}/v1/channels/outage/events?limit=1000${after}`, { headers: { authorization: `Bearer ${API_KEY}` } })).json()) as {
        events: Array<{ id: string; cursor: string }>;
        next_cursor: string;
        has_more: boolean;
      };
      for (const e of page.events) {
        ids.push(e.id);
        seqs.push(parseInt(e.cursor.split('-')[1]!, 36));
      }
      if (!page.has_more) break;
      after = `&after=${page.next_cursor}`;
    }
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of acked.keys()) expect(ids).toContain(id);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
  }
  // Publishing goes on through every hub.
  for (const hub of hubs) {
    const res = await fetch(`${hub.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'outage', type: 't', data: 'after' }),
    });
    expect(res.status).toBe(202);
  }
}, 90_000);
