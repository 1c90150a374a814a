import { createServer, connect, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { startHub, type TestHub } from '../helpers/hub.js';
import { readChannel } from '../helpers/load.js';
import { freshDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { SseClient } from '../helpers/sse-client.js';
import { createSubscription, eventStatus, FAST_RETRY, waitFor } from '../helpers/webhooks.js';

/**
 * A commit in doubt: the statement reached PostgreSQL and committed there, but its answer
 * never came back (the connection cut right after, as a network drop or the server dying
 * between commit and reply would). The hub cannot tell this from a failure; what it does
 * afterwards must still keep its promises. A TCP proxy between hub and server cuts one
 * connection at that moment.
 */
interface PgProxy {
  /** The database URL through the proxy. */
  url: string;
  /**
   * Once: when a message the hub sends matches `request` (on a connection whose server side
   * has said `after`, when given), it is passed on, and the connection is cut as the
   * server's answer arrives (the answer dropped).
   */
  cutAnswer(request: string, after?: string): Promise<void>;
  close(): Promise<void>;
}

async function startPgProxy(target: string): Promise<PgProxy> {
  const to = new URL(target);
  const sockets = new Set<Socket>();
  let rule: { request: string; after?: string; cut: () => void } | undefined;
  const server = createServer((client) => {
    const upstream = connect(Number(to.port), to.hostname);
    let said = '';
    let cutting = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.on('data', (chunk: Buffer) => {
      const r = rule;
      if (r && chunk.toString('latin1').includes(r.request) && (r.after === undefined || said.includes(r.after))) {
        rule = undefined;
        cutting = true;
        r.cut();
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (cutting) {
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      if (rule?.after) said += chunk.toString('latin1');
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: Object.assign(new URL(target), { port: String(port) }).toString(),
    cutAnswer: (request, after) => new Promise<void>((cut) => (rule = { request, after, cut })),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function hubThroughProxy(config: Record<string, unknown> = {}): Promise<{ hub: TestHub; proxy: PgProxy; db: TestDatabase }> {
  const db = await freshDatabase();
  cleanup.push(() => db.drop());
  const proxy = await startPgProxy(db.url);
  cleanup.push(() => proxy.close());
  const hub = await startHub({ database: proxy.url, config });
  cleanup.push(() => hub.close());
  return { hub, proxy, db };
}

const publish = (hub: TestHub, data: unknown, key?: string): Promise<Response> =>
  hub.api('/v1/events', { body: { channel: 'doubt', type: 't', data }, headers: key ? { 'idempotency-key': key } : {} });

it('an append in doubt that did commit: a live SSE subscriber still gets the event (the next commit shows the gap, which is read)', async () => {
  const { hub, proxy } = await hubThroughProxy();
  const sse = await SseClient.open(`${hub.url}/v1/channels/doubt/sse`, { authorization: `Bearer ${hub.config.apiKey}` });
  cleanup.push(async () => sse.abort());
  expect(sse.response.status).toBe(200);
  expect((await publish(hub, 1)).status).toBe(202);
  await sse.waitFor(() => sse.events().length === 1);
  // The subscriber made the channel occupied: that operational event is written with the same
  // append statement, a little later, so it must be in before the cut is armed (else, under
  // load, the cut can take its answer instead of event 2's).
  await expect
    .poll(async () => (await hub.app.store.readChannel('$hub.channels', 0, 100)).events.some((e) => e.type === 'channel.occupied'), { timeout: 10_000 })
    .toBe(true);

  // The append of event 2 commits; its answer is lost: 503 to the publisher.
  const cut = proxy.cutAnswer('pushhub_append');
  const first = await publish(hub, 2, 'in-doubt');
  await cut;
  expect(first.status).toBe(503);
  // The publisher retries with its key and gets the event that was written.
  const again = await publish(hub, 2, 'in-doubt');
  expect(again.status).toBe(202);
  expect((await publish(hub, 3)).status).toBe(202);

  const log = await readChannel(hub.url, 'doubt');
  expect(log.map((e) => e.data)).toEqual([1, 2, 3]);
  await sse.waitFor(() => sse.events().some((e) => e.data === 3), 10_000);
  expect(sse.events().map((e) => e.id)).toEqual(log.map((e) => e.id));
}, 30_000);

it('a dispatcher pass in doubt that did commit its claims: the claimed delivery is still sent, without a restart (its stray claim re-queued)', async () => {
  const rx: Receiver = await startReceiver();
  cleanup.push(() => rx.close());
  const { hub, proxy } = await hubThroughProxy({ allowPrivateUrls: true });
  await createSubscription(hub, { url: rx.url, channels: ['doubt'], retry: FAST_RETRY });

  // The pass that claims this event's delivery (its data comes back in the claim) commits;
  // the answer to its COMMIT is lost.
  const cut = proxy.cutAnswer('COMMIT', 'claimed-in-doubt');
  const res = await publish(hub, 'claimed-in-doubt');
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  await cut;
  await waitFor(async () => hub.logs.some((l) => l.msg === 'dispatcher pass failed; retrying in 1 s'), 10_000, 'the pass failed');

  // The next pass first puts back what the one in doubt may have claimed: sent once.
  await waitFor(async () => (await eventStatus(hub, id)).deliveries[0]?.state === 'succeeded', 5_000, 'the delivery succeeded').catch(async (err: Error) => {
    throw new Error(`${err.message}; it is ${JSON.stringify((await eventStatus(hub, id)).deliveries.map((d) => d.state))}, received ${rx.received.length}`);
  });
  expect(rx.received).toHaveLength(1);
}, 30_000);
