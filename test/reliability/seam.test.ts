import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.js';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';
import { channelLog, publishContinuously } from '../helpers/log.js';
import { seeded, sleep } from '../helpers/seeded.js';
import { SseClient } from '../helpers/sse-client.js';

/**
 * The seam between replay and live: while a publisher writes without pause, clients drop at
 * random moments (mid-replay included) and come back with their last cursor. Each must end
 * up with every event of its channels exactly once, in log order.
 */
const CHANNELS = ['seam.a', 'seam.b', 'seam.c'];
const RUN_MS = 2500;

let hub: TestHub;
beforeAll(async () => {
  // Tiny pages and a tiny hold limit, so replays take many steps and the hold overflows.
  hub = await startHub({ config: { logLevel: 'info', realtime: { ...loadConfig({}).realtime, replayPageSize: 4, maxHeldEvents: 3 } } });
});
afterAll(() => hub.close());

/** A client that follows some channels with raw `ws`, reconnecting with its last cursors. */
class FollowingClient {
  readonly received = new Map<string, string[]>();
  readonly start = new Map<string, string>();
  readonly cursor = new Map<string, string>();
  reconnects = 0;
  private ws: WebSocket | undefined;

  constructor(
    readonly channels: string[],
    private readonly random: () => number,
  ) {}

  async connect(): Promise<void> {
    const ws = new WebSocket(`${hub.url.replace('http', 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${API_KEY}` } });
    this.ws = ws;
    ws.on('message', (raw: Buffer) => {
      const f = JSON.parse(raw.toString()) as { op: string; channel: string; cursor: string; event: { id: string; channel: string; cursor: string } };
      if (f.op === 'subscribed') {
        if (!this.start.has(f.channel)) this.start.set(f.channel, f.cursor);
        if (!this.cursor.has(f.channel)) this.cursor.set(f.channel, f.cursor);
      } else if (f.op === 'event') {
        this.received.get(f.event.channel)!.push(f.event.id);
        this.cursor.set(f.event.channel, f.event.cursor);
      } else throw new Error(`unexpected frame ${raw.toString()}`);
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    for (const channel of this.channels) {
      if (!this.received.has(channel)) this.received.set(channel, []);
      const cursor = this.cursor.get(channel);
      ws.send(JSON.stringify({ op: 'subscribe', channel, ...(cursor ? { cursor } : {}) }));
    }
  }

  /** Drops and reconnects at random moments until `until`. */
  async churn(until: number): Promise<void> {
    while (Date.now() < until) {
      await sleep(this.random() < 0.5 ? this.random() * 15 : this.random() * 150);
      const ws = this.ws!;
      const closed = new Promise((r) => ws.once('close', r));
      if (this.random() < 0.7) ws.terminate();
      else ws.close();
      await closed;
      this.reconnects++;
      await this.connect();
    }
  }

  close(): void {
    this.ws?.close();
  }
}

describe('the replay → live seam', () => {
  it('WebSocket: every client gets every event of its channels once, in order, across random drops', async () => {
    const random = seeded(4242);
    const clients = Array.from({ length: 6 }, (_, i) => new FollowingClient([CHANNELS[i % 3]!, CHANNELS[(i + 1) % 3]!], seeded(i + 1)));
    await Promise.all(clients.map((c) => c.connect()));
    await sleep(50); // every subscription answered: its start position is set
    const publisher = publishContinuously(hub, CHANNELS, random);
    await Promise.all(clients.map((c) => c.churn(Date.now() + RUN_MS)));
    const published = await publisher.stop();
    expect(published).toBeGreaterThan(100);

    for (const client of clients) {
      for (const channel of client.channels) {
        const expected = await channelLog(hub, channel, client.start.get(channel)!);
        const deadline = Date.now() + 5000;
        while (client.received.get(channel)!.length < expected.length && Date.now() < deadline) await sleep(10);
        expect(client.received.get(channel)).toEqual(expected);
      }
      expect(client.reconnects).toBeGreaterThan(5);
      client.close();
    }
  });

  it('SSE: the same with Last-Event-ID', async () => {
    const random = seeded(7);
    const url = (channel: string) => `${hub.url}/v1/channels/${channel}/sse`;
    const auth = { authorization: `Bearer ${API_KEY}` };
    const followers = await Promise.all(
      CHANNELS.map(async (channel) => {
        const first = await SseClient.open(url(channel), auth);
        await first.waitFor(() => first.lastEventId !== undefined); // the id-only start position
        return { channel, start: first.lastEventId!, ids: [] as string[], current: first, lastId: first.lastEventId!, seen: 0, drops: 0 };
      }),
    );
    const collect = (f: (typeof followers)[number]): void => {
      const events = f.current.events();
      for (const e of events.slice(f.seen)) f.ids.push(e.id);
      f.seen = events.length;
      f.lastId = f.current.lastEventId ?? f.lastId;
    };
    const publisher = publishContinuously(hub, CHANNELS, random);
    const until = Date.now() + RUN_MS;
    await Promise.all(
      followers.map(async (f) => {
        while (Date.now() < until) {
          await sleep(random() * 100);
          f.current.abort();
          await f.current.done;
          collect(f);
          f.current = await SseClient.open(url(f.channel), { ...auth, 'last-event-id': f.lastId });
          f.seen = 0;
          f.drops++;
        }
      }),
    );
    await publisher.stop();
    for (const f of followers) {
      const expected = await channelLog(hub, f.channel, f.start);
      await f.current.waitFor(() => f.ids.length + f.current.events().length >= expected.length);
      collect(f);
      expect(f.ids).toEqual(expected);
      expect(f.drops).toBeGreaterThan(5);
      f.current.abort();
    }
  });
});
