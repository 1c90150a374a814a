import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Gap, type HubEvent, type PushhubError } from '../../src/client/index.js';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';
import { channelLog, publishContinuously } from '../helpers/log.js';
import { seeded, sleep } from '../helpers/seeded.js';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { handMadeJwt, mintToken, publish } from '../helpers/tokens.js';

let hub: TestHub;
let proxy: TcpProxy;
beforeAll(async () => {
  hub = await startHub({ config: { logLevel: 'info' } });
  proxy = await startProxy(hub.url);
});
afterAll(async () => {
  await proxy.close();
  await hub.close();
});

const fastBackoff = { initialMs: 20, maxMs: 200 };
const until = async (check: () => boolean, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
};

describe('pushhub/client in Node', () => {
  it('subscribes with a token, publishes with an ack, and unsubscribes', async () => {
    const token = await mintToken(hub, { channels: ['room.*'], publish: ['room.*'] });
    const client = connect({ url: hub.url, token, backoff: fastBackoff });
    const got: Array<HubEvent<{ text: string }>> = [];
    const off = client.subscribe<{ text: string }>('room.1', (e) => got.push(e));
    await until(() => client.state === 'open');
    await until(() => client.cursor('room.1') !== undefined); // subscribed: live from here
    const ack = await client.publish('room.1', 'message', { text: 'hi' });
    expect(ack.event_id).toMatch(/^evt_/);
    await until(() => got.length === 1);
    expect(got[0]).toMatchObject({ id: ack.event_id, cursor: ack.cursor, data: { text: 'hi' } });
    await expect(client.publish('elsewhere', 'message', 1)).rejects.toMatchObject({ code: 'forbidden' });
    off();
    await sleep(20);
    await publish(hub, 'room.1', { text: 'after' });
    await sleep(50);
    expect(got).toHaveLength(1);
    client.close();
    expect(client.state).toBe('closed');
  });

  it('reconnects through drops and resumes each channel: every event once, in order', async () => {
    const client = connect({ url: proxy.url, token: API_KEY, backoff: fastBackoff, random: seeded(1) });
    const received = { 'lib.a': [] as string[], 'lib.b': [] as string[] };
    for (const ch of ['lib.a', 'lib.b'] as const) client.subscribe(ch, (e) => received[ch].push(e.id));
    const states: string[] = [];
    client.on('state', (s) => states.push(s));
    await until(() => client.cursor('lib.a') !== undefined && client.cursor('lib.b') !== undefined);
    const start = { 'lib.a': client.cursor('lib.a')!, 'lib.b': client.cursor('lib.b')! };
    const publisher = publishContinuously(hub, ['lib.a', 'lib.b'], seeded(2), 2);
    for (let i = 0; i < 6; i++) {
      await sleep(100 + i * 20);
      proxy.dropAll();
    }
    await publisher.stop();
    for (const ch of ['lib.a', 'lib.b'] as const) {
      const expected = await channelLog(hub, ch, start[ch]);
      await until(() => received[ch].length >= expected.length);
      expect(received[ch]).toEqual(expected);
    }
    expect(states.filter((s) => s === 'reconnecting').length).toBeGreaterThanOrEqual(5);
    client.close();
  });

  it('tells the app when a channel cannot be resumed (resumed:false)', async () => {
    const old = await publish(hub, 'gappy', 1);
    await publish(hub, 'gappy', 2);
    await hub.app.store.pruneEvents(Date.now() + 1000, 100_000);
    const client = connect({ url: hub.url, token: API_KEY });
    const gaps: Gap[] = [];
    client.on('gap', (g) => gaps.push(g));
    let local: Gap | undefined;
    client.subscribe('gappy', () => {}, { cursor: old.cursor, onGap: (g) => (local = g) });
    await until(() => gaps.length === 1);
    expect(gaps[0]).toMatchObject({ channel: 'gappy', reason: 'cursor_expired' });
    expect(local).toEqual(gaps[0]);
    expect(client.cursor('gappy')).toBe(gaps[0]!.cursor);
    client.close();
  });

  it('stops on 4001 with a fixed token; asks a token function again on every connect', async () => {
    const expired = handMadeJwt({ exp: Math.floor(Date.now() / 1000) - 1, channels: ['a'] });
    const fixed = connect({ url: hub.url, token: expired, backoff: fastBackoff });
    const errors: PushhubError[] = [];
    fixed.on('error', (e) => errors.push(e));
    await until(() => fixed.state === 'closed');
    expect(errors[0]?.code).toBe('unauthorized');

    let calls = 0;
    const refreshing = connect({
      url: proxy.url,
      token: () => (++calls === 1 ? expired : mintToken(hub, { channels: ['fresh'] })),
      backoff: fastBackoff,
    });
    const got: string[] = [];
    refreshing.subscribe('fresh', (e) => got.push(e.id));
    await until(() => refreshing.cursor('fresh') !== undefined);
    expect(calls).toBe(2);
    const { id } = await publish(hub, 'fresh', 1);
    await until(() => got.length === 1);
    expect(got).toEqual([id]);
    refreshing.close();
  });

  it('drops a refused subscription and reports it', async () => {
    const client = connect({ url: hub.url, token: await mintToken(hub, { channels: ['mine'] }) });
    const errors: PushhubError[] = [];
    client.on('error', (e) => errors.push(e));
    client.subscribe('theirs', () => {});
    await until(() => errors.length === 1);
    expect(errors[0]).toMatchObject({ code: 'forbidden', channel: 'theirs' });
    expect(client.cursor('theirs')).toBeUndefined();
    client.close();
  });
});
