import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as connectClient, type Member, type PresenceState } from '../../src/client/index.js';
import { API_KEY, startHub, type TestHub } from '../helpers/hub.js';
import { sleep } from '../helpers/seeded.js';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { handMadeJwt, mintToken } from '../helpers/tokens.js';
import { connect, type Frame, type TestSocket } from '../helpers/ws-client.js';

/** Short enough for tests, long enough that a reconnect fits in it. */
const GRACE_MS = 800;
const COALESCE_MS = 20;

let hub: TestHub;
let proxy: TcpProxy;
beforeAll(async () => {
  hub = await startHub({ config: { logLevel: 'info', realtime: { presenceGraceMs: GRACE_MS, presenceCoalesceMs: COALESCE_MS } } });
  proxy = await startProxy(hub.url);
});
afterAll(async () => {
  await proxy.close();
  await hub.close();
});

const until = async (check: () => boolean, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
};

/** A connection of `sub` (with `info`) subscribed to `channel`. */
async function member(
  channel: string,
  sub: string,
  opts: { info?: Record<string, unknown>; presence?: boolean; url?: string; token?: string } = {},
): Promise<TestSocket> {
  const token = opts.token ?? (await mintToken(hub, { channels: ['room.*'], sub, ...(opts.info ? { info: opts.info } : {}) }));
  const c = await connect(opts.url ?? hub.url, { query: token });
  expect(await c.request({ op: 'subscribe', channel, ...(opts.presence ? { presence: true } : {}) })).toMatchObject({ op: 'subscribed' });
  return c;
}

const presenceFrames = (c: TestSocket, channel: string): Frame[] =>
  c.frames.filter((f) => (f.op === 'join' || f.op === 'leave' || (f.op === 'presence' && f.id === undefined)) && f.channel === channel);
const summary = (frames: Frame[]): string[] => frames.map((f) => `${f.op} ${(f.member as { sub: string } | undefined)?.sub ?? ''}`.trim());

describe('presence over WebSocket', () => {
  it('joins and leaves in order, with info; a subscription without presence: true gets no join/leave frames', async () => {
    const a = await member('room.order', 'alice', { info: { name: 'Alice' }, presence: true });
    const quiet = await member('room.order', 'quiet');
    await a.next((f) => f.op === 'join' && (f.member as Member).sub === 'quiet');
    const b = await member('room.order', 'bob', { info: { name: 'Bob', color: 'red' } });
    const joinedBob = await a.next((f) => f.op === 'join' && (f.member as Member).sub === 'bob');
    expect(joinedBob).toEqual({ op: 'join', channel: 'room.order', member: { sub: 'bob', info: { name: 'Bob', color: 'red' } } });
    const snapshot = await a.request({ op: 'presence', channel: 'room.order' });
    expect(snapshot).toMatchObject({ op: 'presence', channel: 'room.order', count: 3 });
    expect((snapshot.members as Member[]).sort((x, y) => x.sub.localeCompare(y.sub))).toEqual([
      { sub: 'alice', info: { name: 'Alice' } },
      { sub: 'bob', info: { name: 'Bob', color: 'red' } },
      { sub: 'quiet', info: {} },
    ]);
    b.close();
    const left = await a.next((f) => f.op === 'leave', GRACE_MS + 2000);
    expect(left).toEqual({ op: 'leave', channel: 'room.order', member: { sub: 'bob' } });
    expect(summary(presenceFrames(a, 'room.order'))).toEqual(['join alice', 'join quiet', 'join bob', 'leave bob']);
    expect(presenceFrames(quiet, 'room.order')).toEqual([]);
    quiet.close();
    a.close();
  });

  it('two connections of one sub are one member; it leaves after the last one goes', async () => {
    const a = await member('room.two', 'alice', { presence: true });
    const b1 = await member('room.two', 'bob');
    const b2 = await member('room.two', 'bob');
    expect(await a.request({ op: 'presence', channel: 'room.two' })).toMatchObject({ count: 2 });
    b1.close();
    await sleep(GRACE_MS + 200);
    expect(summary(presenceFrames(a, 'room.two'))).toEqual(['join alice', 'join bob']);
    expect(await a.request({ op: 'presence', channel: 'room.two' })).toMatchObject({ count: 2 });
    // Unsubscribing is leaving too (the connection stays open).
    await b2.request({ op: 'unsubscribe', channel: 'room.two' });
    await a.next((f) => f.op === 'leave', GRACE_MS + 2000);
    expect(summary(presenceFrames(a, 'room.two'))).toEqual(['join alice', 'join bob', 'leave bob']);
    b2.close();
    a.close();
  });

  it('a drop and reconnect within the grace sends nothing; a drop past it sends the leave', async () => {
    const a = await member('room.grace', 'alice', { presence: true });
    const b = await member('room.grace', 'bob');
    await a.next((f) => f.op === 'join' && (f.member as Member).sub === 'bob');
    const token = await mintToken(hub, { channels: ['room.*'], sub: 'bob' }); // ready, so the reconnect is quick
    b.close();
    await b.closed;
    await sleep(GRACE_MS / 4);
    const back = await member('room.grace', 'bob', { token });
    await sleep(GRACE_MS + 200);
    expect(summary(presenceFrames(a, 'room.grace'))).toEqual(['join alice', 'join bob']);
    back.close();
    const dropped = Date.now();
    await a.next((f) => f.op === 'leave', GRACE_MS + 2000);
    expect(Date.now() - dropped).toBeGreaterThanOrEqual(GRACE_MS - 50);
    a.close();
  });

  it('the API key and a token without sub are no members, and may still read presence', async () => {
    const a = await member('room.anon', 'alice', { presence: true });
    await a.next((f) => f.op === 'join'); // its own join: sent before the others subscribe
    const key = await connect(hub.url, { bearer: API_KEY });
    await key.request({ op: 'subscribe', channel: 'room.anon' });
    const anon = await connect(hub.url, { query: await mintToken(hub, { channels: ['room.*'] }) });
    await anon.request({ op: 'subscribe', channel: 'room.anon', presence: true });
    await sleep(COALESCE_MS * 5);
    expect(await key.request({ op: 'presence', channel: 'room.anon' })).toEqual({
      op: 'presence',
      id: expect.any(Number),
      channel: 'room.anon',
      members: [{ sub: 'alice', info: {} }],
      count: 1,
    });
    expect(summary(presenceFrames(anon, 'room.anon'))).toEqual([]); // alice joined before it subscribed
    for (const c of [a, key, anon]) c.close();
  });

  it('refuses a channel the token does not grant: an error frame, and 403 over HTTP', async () => {
    const token = await mintToken(hub, { channels: ['room.*'], sub: 'alice' });
    const c = await connect(hub.url, { query: token });
    expect(await c.request({ op: 'presence', channel: 'billing' })).toMatchObject({ op: 'error', code: 'forbidden' });
    expect(await c.request({ op: 'presence', channel: '$bad' })).toMatchObject({ op: 'error', code: 'invalid_channel' });
    c.close();
    const res = await fetch(`${hub.url}/v1/channels/billing/presence?token=${token}`);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    expect((await fetch(`${hub.url}/v1/channels/room.x/presence`)).status).toBe(401);
  });

  it('refuses info over 1 KiB, or not an object, at mint (400 naming info) and at connect (4001)', async () => {
    const big = { text: 'x'.repeat(1024) };
    for (const info of [big, [1, 2], 'text', null]) {
      const res = await hub.api('/v1/tokens', { body: { channels: ['room.*'], sub: 'u', info } });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; details: Array<{ field: string }> } };
      expect(body.error.code).toBe('invalid_request');
      expect(body.error.details.map((d) => d.field).join(' ')).toContain('info');
    }
    // Exactly 1 KiB serialised is allowed.
    const fits = { t: 'x'.repeat(1024 - '{"t":""}'.length) };
    expect((await hub.api('/v1/tokens', { body: { channels: ['room.*'], sub: 'u', info: fits } })).status).toBe(201);
    const exp = Math.floor(Date.now() / 1000) + 60;
    for (const info of [big, [1], 'text']) {
      const c = await connect(hub.url, { query: handMadeJwt({ exp, channels: ['room.*'], sub: 'u', info }) });
      expect((await c.closed).code).toBe(4001);
    }
  });

  it('GET /v1/channels/<channel>/presence: a key, or a token granting the channel', async () => {
    const a = await member('room.http', 'alice', { info: { n: 1 } });
    const byKey = await hub.api('/v1/channels/room.http/presence');
    expect(byKey.status).toBe(200);
    expect(await byKey.json()).toEqual({ members: [{ sub: 'alice', info: { n: 1 } }], count: 1 });
    const token = await mintToken(hub, { channels: ['room.http'] });
    const byToken = await fetch(`${hub.url}/v1/channels/room.http/presence`, { headers: { authorization: `Bearer ${token}` } });
    expect(await byToken.json()).toEqual({ members: [{ sub: 'alice', info: { n: 1 } }], count: 1 });
    expect(await (await hub.api('/v1/channels/room.empty/presence')).json()).toEqual({ members: [], count: 0 });
    a.close();
  });
});

describe('channel occupancy', () => {
  const occupancy = async (channel: string): Promise<string[]> => {
    const { events } = await hub.app.store.readChannel('$hub.channels', 0, 1000);
    return events.filter((e) => (JSON.parse(e.data) as { channel: string }).channel === channel).map((e) => e.type);
  };
  const occupancyBecomes = async (channel: string, n: number): Promise<void> => {
    const deadline = Date.now() + GRACE_MS * 5;
    while ((await occupancy(channel)).length < n && Date.now() < deadline) await sleep(20);
  };

  it('channel.occupied on $hub.channels for the first subscriber (member or not, any transport), channel.vacated after the grace once the last is gone', async () => {
    const key = await connect(hub.url, { bearer: API_KEY });
    await key.request({ op: 'subscribe', channel: 'room.occ' });
    const a = await member('room.occ', 'alice');
    const sse = new AbortController();
    const stream = await fetch(`${hub.url}/v1/channels/room.occ/sse`, { headers: { authorization: `Bearer ${API_KEY}` }, signal: sse.signal });
    expect(stream.status).toBe(200);
    await occupancyBecomes('room.occ', 1);
    expect(await occupancy('room.occ')).toEqual(['channel.occupied']);
    const [event] = (await hub.app.store.readChannel('$hub.channels', 0, 1000)).events.filter((e) => e.data.includes('room.occ'));
    expect(JSON.parse(event!.data)).toEqual({ channel: 'room.occ' });
    key.close();
    a.close();
    sse.abort();
    // A new subscriber within the grace: the channel was never vacated.
    await sleep(GRACE_MS / 4);
    const b = await member('room.occ', 'bob');
    await sleep(GRACE_MS + COALESCE_MS * 5);
    expect(await occupancy('room.occ')).toEqual(['channel.occupied']);
    b.close();
    await occupancyBecomes('room.occ', 2);
    expect(await occupancy('room.occ')).toEqual(['channel.occupied', 'channel.vacated']);
  });
});

describe('the member limit', () => {
  let small: TestHub;
  beforeAll(async () => {
    small = await startHub({ config: { logLevel: 'info', realtime: { presenceGraceMs: 0, presenceCoalesceMs: COALESCE_MS, presenceMaxMembers: 2 } } });
  });
  afterAll(() => small.close());

  it('beyond it: count only, truncated: true; join/leave stop, and resume with a full snapshot once back under', async () => {
    const open = async (sub: string, presence = false): Promise<TestSocket> => {
      const c = await connect(small.url, { query: await mintToken(small, { channels: ['big'], sub }) });
      await c.request({ op: 'subscribe', channel: 'big', ...(presence ? { presence: true } : {}) });
      return c;
    };
    const a = await open('a', true);
    const b = await open('b');
    await a.next((f) => f.op === 'join' && (f.member as Member).sub === 'b');
    const c = await open('c');
    const notice = await a.next((f) => f.op === 'presence' && f.id === undefined);
    expect(notice).toEqual({ op: 'presence', channel: 'big', count: 3, truncated: true });
    expect(await a.request({ op: 'presence', channel: 'big' })).toEqual({ op: 'presence', id: expect.any(Number), channel: 'big', count: 3, truncated: true });
    expect(await (await small.api('/v1/channels/big/presence')).json()).toEqual({ count: 3, truncated: true });
    const d = await open('d');
    await sleep(COALESCE_MS * 5);
    expect(a.frames.filter((f) => f.op === 'join' && (f.member as Member).sub > 'b')).toEqual([]);
    c.close();
    d.close();
    const back = await a.next((f) => f.op === 'presence' && f.id === undefined && f.truncated === undefined);
    expect(back).toMatchObject({ op: 'presence', channel: 'big', count: 2 });
    expect((back.members as Member[]).map((m) => m.sub).sort()).toEqual(['a', 'b']);
    b.close();
    expect(await a.next((f) => f.op === 'leave')).toEqual({ op: 'leave', channel: 'big', member: { sub: 'b' } });
    a.close();
  });
});

describe('presence in the client library', () => {
  it('keeps the member set: snapshot on subscribe, joins and leaves, a fresh snapshot after a reconnect', async () => {
    const fast = { initialMs: 20, maxMs: 100 };
    const tokenOf = (sub: string) => mintToken(hub, { channels: ['room.*'], sub, info: { name: sub.toUpperCase() } });
    const first = await tokenOf('u1');
    const one = connectClient({ url: hub.url, token: first, backoff: fast });
    await until(() => one.state === 'open');
    const early = connectClient({ url: hub.url, token: await tokenOf('u0'), backoff: fast });
    early.subscribe('room.lib', () => {});
    await until(() => early.cursor('room.lib') !== undefined);
    await sleep(COALESCE_MS * 3);

    const joins: string[] = [];
    const leaves: string[] = [];
    const snapshots: PresenceState[] = [];
    one.subscribe('room.lib', () => {}, {
      presence: true,
      onJoin: (m) => joins.push(m.sub),
      onLeave: (m) => leaves.push(m.sub),
      onPresence: (p) => snapshots.push(p),
    });
    await until(() => snapshots.length === 1);
    const subs = (): string[] => one.members('room.lib').map((m) => m.sub).sort();
    expect(subs()).toEqual(['u0', 'u1']);
    expect(one.members('room.lib').find((m) => m.sub === 'u0')).toEqual({ sub: 'u0', info: { name: 'U0' } });

    // A second client, behind a proxy that the test can cut, with a token function it can hold.
    const gate: { hold?: Promise<void>; release(): void } = { release: () => {} };
    const twoToken = await tokenOf('u2');
    const two = connectClient({
      url: proxy.url,
      token: async () => {
        await gate.hold;
        return twoToken;
      },
      backoff: fast,
    });
    const twoJoins: string[] = [];
    two.subscribe('room.lib', () => {}, { presence: true, onJoin: (m) => twoJoins.push(m.sub) });
    await until(() => subs().includes('u2'));
    await until(() => two.members('room.lib').length === 3);
    expect(await one.presence('room.lib')).toMatchObject({ count: 3, truncated: false });
    await expect(one.presence('billing')).rejects.toMatchObject({ code: 'forbidden' });

    // Cut u2 and keep it away while u3 joins; back within the grace: u1 sees no leave or join of u2.
    const threeToken = await tokenOf('u3');
    gate.hold = new Promise((r) => {
      gate.release = r;
    });
    proxy.dropAll();
    await until(() => two.state === 'reconnecting');
    const three = connectClient({ url: hub.url, token: threeToken, backoff: fast });
    three.subscribe('room.lib', () => {});
    await until(() => subs().includes('u3'));
    gate.release();
    await until(() => two.members('room.lib').some((m) => m.sub === 'u3')); // from the fresh snapshot
    expect(twoJoins.filter((s) => s === 'u3')).toEqual(['u3']);
    await sleep(GRACE_MS + 200);
    expect(joins.filter((s) => s === 'u2')).toEqual(['u2']);
    expect(leaves).toEqual([]);

    three.close();
    await until(() => leaves.includes('u3'), GRACE_MS + 3000);
    expect(subs()).toEqual(['u0', 'u1', 'u2']);
    for (const c of [one, two, early]) c.close();
  });
});
