import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startHub } from '../helpers/hub.js';
import { readChannel } from '../helpers/load.js';
import { startPostgresServer, type PostgresServer } from '../helpers/postgres-server.js';
import { eventIds, startReceiver, type Receiver } from '../helpers/receiver.js';
import { sleep } from '../helpers/seeded.js';
import { createSubscription, settled, waitFor } from '../helpers/webhooks.js';

/**
 * PostgreSQL itself going away under a running hub, under publish and webhook load, and
 * coming back on the same data folder: the hub answers 503 with Retry-After meanwhile and
 * recovers without a restart. A server of this file's own (the run's shared one must stay up).
 */
let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgresServer();
}, 60_000);
afterAll(() => server?.destroy());

const CHANNELS = ['pgc.a', 'pgc.b', 'pgc.c'];
const WORKERS = 4;
/** Fast retries, no attempt limit: every delivery must end up succeeded. */
const RETRY = { initial_delay_ms: 50, max_delay_ms: 200, max_attempts: 0, timeout_ms: 2000 };

interface Acked {
  id: string;
  cursor: string;
  /** The worker that published it. */
  w: number;
}

interface Refusal {
  status: number;
  code: string | undefined;
  retryAfter: string | null;
}

/**
 * Publishers, single events and batches of 3, each request retried with its Idempotency-Key
 * until acknowledged (whatever a refused or cut-off try left behind, the event exists once).
 * Paced: some tens of requests a second each, and only to 127.0.0.1.
 */
function publishLoad(url: string) {
  const acked: Acked[] = [];
  const refused: Refusal[] = [];
  /** The data of every event asked for: the log must hold exactly these. */
  const requested: string[] = [];
  let stopping = false;
  let abandoned = false;
  const worker = async (w: number): Promise<void> => {
    for (let n = 0; !stopping; n++) {
      const events = Array.from({ length: n % 4 === 3 ? 3 : 1 }, (_, k) => ({ channel: CHANNELS[(n + k + w) % 3]!, type: 'load', data: { w, n, k } }));
      requested.push(...events.map((e) => JSON.stringify(e.data)));
      const batch = events.length > 1;
      while (!abandoned) {
        const res = await fetch(`${url}/v1/events${batch ? '/batch' : ''}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', 'idempotency-key': `w${w}-${n}` },
          body: JSON.stringify(batch ? { events } : events[0]),
        }).catch((err: unknown) => {
          if (abandoned) return undefined; // the test is over: its hub is gone
          throw err; // the hub runs in this process: it does not go away
        });
        if (!res) return;
        if (res.status === 202) {
          type Published = { id: string; cursor: string };
          const body = (await res.json()) as { events?: Published[] } & Published;
          acked.push(...(body.events ?? [body]).map(({ id, cursor }) => ({ id, cursor, w })));
          break;
        }
        const error = ((await res.json().catch(() => ({}))) as { error?: { code?: string } }).error;
        refused.push({ status: res.status, code: error?.code, retryAfter: res.headers.get('retry-after') });
        await sleep(25); // not Retry-After's seconds: the test wants to see the recovery soon
      }
      await sleep(20);
    }
  };
  const running = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  return {
    acked,
    refused,
    requested,
    /** Starts no new request; resolves once each worker has its last one acknowledged. */
    async stop() {
      stopping = true;
      await running;
    },
    /** The test is over (failed): give up at once. */
    abandon() {
      stopping = abandoned = true;
    },
  };
}

const seqOf = (cursor: string): number => parseInt(cursor.split('-')[1]!, 36);

async function outageUnderLoad(database: string, goAway: () => Promise<void>): Promise<void> {
  // Answering after a little while: some deliveries are always in flight.
  const rx: Record<'all' | 'ordered', Receiver> = {
    all: await startReceiver(() => ({ status: 200, delayMs: 20 })),
    ordered: await startReceiver(() => ({ status: 200, delayMs: 20 })),
  };
  const hub = await startHub({
    database,
    config: { allowPrivateUrls: true, postgres: { connectTimeoutMs: 1000, statementTimeoutMs: 2000 } },
  });
  let abandonLoad = (): void => {};
  try {
    const subs = {
      all: await createSubscription(hub, { url: rx.all.url, channels: ['pgc.>'], max_in_flight: 8, retry: RETRY }),
      ordered: await createSubscription(hub, { url: rx.ordered.url, channels: ['pgc.b'], ordered: true, retry: RETRY }),
    };
    const load = publishLoad(hub.url);
    abandonLoad = load.abandon;
    await waitFor(async () => load.acked.length >= 60 && rx.all.received.length >= 20, 15_000, 'load and deliveries under way');

    await goAway();
    const ackedWhileUp = load.acked.length;
    const refusedBefore = load.refused.length;
    // Down long enough for a dispatcher pass to fail too (it retries each second).
    const passesFailed = (): number => hub.logs.filter((l) => l.msg === 'dispatcher pass failed; retrying in 1 s').length;
    const failedBefore = passesFailed();
    await waitFor(async () => load.refused.length >= refusedBefore + 5, 15_000, 'publishes refused while the database is down');
    await waitFor(async () => passesFailed() > failedBefore, 15_000, 'a dispatcher pass failed while the database is down');
    const ready = await fetch(`${hub.url}/readyz`);
    expect(ready.status, '/readyz while the database is down').toBe(503);
    expect(ready.headers.get('retry-after')).toMatch(/^\d+$/);

    await server.start();
    await waitFor(async () => load.acked.length >= ackedWhileUp + 60, 20_000, 'publishes acknowledged again, the same hub');
    await load.stop();
    await waitFor(async () => (await fetch(`${hub.url}/readyz`)).status === 200, 10_000, '/readyz answering 200 again');

    // While it was down: 503 storage_unavailable with a Retry-After, nothing else.
    const odd = load.refused.filter((r) => r.status !== 503 || r.code !== 'storage_unavailable' || !/^\d+$/.test(r.retryAfter ?? ''));
    expect(odd, 'every refusal a 503 storage_unavailable with Retry-After').toEqual([]);

    // The log: every acknowledged event once, with the cursor it was acknowledged with, and
    // nothing else (every request ended acknowledged); positions without a gap.
    const log = new Map<string, Awaited<ReturnType<typeof readChannel>>>();
    for (const channel of CHANNELS) log.set(channel, await readChannel(hub.url, channel));
    const logged = [...log.values()].flat();
    const at = new Map(logged.map((e) => [e.id, e.cursor]));
    expect(at.size, 'every event once').toBe(logged.length);
    expect(load.acked.filter((a) => at.get(a.id) !== a.cursor), 'acknowledged, and in the log with that cursor').toEqual([]);
    expect(logged.length, 'nothing in the log that was not acknowledged').toBe(load.acked.length);
    expect(logged.map((e) => JSON.stringify(e.data)).sort(), 'each request written once').toEqual([...load.requested].sort());
    // The hub's own events (the subscription created, channels occupied) hold positions too.
    const own = (await Promise.all(['$hub.subscriptions', '$hub.deliveries', '$hub.channels'].map((c) => readChannel(hub.url, c)))).flat();
    const seqs = [...logged, ...own].map((e) => seqOf(e.cursor)).sort((x, y) => x - y);
    expect(seqs, 'positions 1..n without a gap').toEqual(seqs.map((_, i) => i + 1));
    for (let w = 0; w < WORKERS; w++) {
      const mine = load.acked.filter((a) => a.w === w).map((a) => seqOf(a.cursor));
      expect(mine, `worker ${w}: in the log in the order it was acknowledged`).toEqual([...mine].sort((x, y) => x - y));
    }

    // Webhooks: the deliveries stopped by the outage resumed, each event delivered at least
    // once (exactly once after dedupe), the ordered one in log order.
    for (const name of ['all', 'ordered'] as const) {
      const channels = name === 'all' ? CHANNELS : ['pgc.b'];
      const want = channels.flatMap((c) => log.get(c)!.map((e) => e.id)).sort();
      const deliveries = await settled(hub.url, subs[name].id, name);
      expect(deliveries.filter((d) => d.state !== 'succeeded'), `${name}: every delivery succeeded`).toEqual([]);
      expect(deliveries.map((d) => d.event_id).sort(), `${name}: one delivery per matching event`).toEqual(want);
      expect([...new Set(eventIds(rx[name].received))].sort(), `${name}: every matching event received`).toEqual(want);
    }
    // Ordered: first arrivals in log order (a resend only repeats one already sent).
    expect([...new Set(eventIds(rx.ordered.received))], 'ordered: in log order').toEqual(log.get('pgc.b')!.map((e) => e.id));
  } finally {
    abandonLoad();
    await hub.close();
    await Promise.all(Object.values(rx).map((r) => r.close()));
  }
}

describe('PostgreSQL going away under publish and webhook load', () => {
  it('SIGKILL of the postmaster: 503 with Retry-After while it is down; started again on its folder (crash recovery), the same hub recovers, losing nothing acknowledged', async () => {
    const logFrom = server.log().length;
    await outageUnderLoad(await server.createDatabase('killed'), () => server.kill());
    expect(server.log().slice(logFrom), 'a crash, not a shutdown').toMatch(/automatic recovery in progress/);
  }, 60_000);

  it('a fast shutdown (stop) and a start: the same', async () => {
    await outageUnderLoad(await server.createDatabase('stopped'), () => server.stop());
  }, 60_000);
});
