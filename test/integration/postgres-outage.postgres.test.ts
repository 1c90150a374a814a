import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type TestHub } from '../helpers/hub.js';
import { startPostgresServer, type PostgresServer } from '../helpers/postgres-server.js';

/**
 * What SQLite cannot show: the database's connections cut under a running hub. A PostgreSQL
 * server of this file's own (the run's shared one must stay up). The server itself stopped
 * or killed under load: test/reliability/postgres-crash.postgres.test.ts.
 */
let server: PostgresServer;
let url: string;

beforeAll(async () => {
  server = await startPostgresServer();
  url = server.url;
}, 60_000);
afterAll(() => server?.destroy());

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
