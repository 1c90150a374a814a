import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startChildHub, type ChildHub } from '../helpers/child-hub.js';
import { API_KEY } from '../helpers/hub.js';
import { freshDatabase, type TestDatabase } from '../helpers/postgres.js';
import { sleep } from '../helpers/seeded.js';
import { handMadeJwt } from '../helpers/tokens.js';
import { connect, type Frame, type TestSocket } from '../helpers/ws-client.js';

/**
 * Presence over three hub processes on one PostgreSQL database: each hub writes its own
 * members, and joins and leaves reach the others through the notifications events take. The
 * heartbeat and expiry are short here (500 ms, 3 s) so a dead hub's members leave within a
 * test; the contract's bound (30 s) holds with the defaults (5 s, 20 s).
 */
const CONFIG = { realtime: { presenceGraceMs: 1000, presenceCoalesceMs: 20, presenceHeartbeatMs: 500, presenceExpiryMs: 3000 }, postgres: { pollMs: 250 } };
const CHANNEL = 'room.1';

let db: TestDatabase;
let dir: string;
let hubs: ChildHub[] = [];
const sockets: TestSocket[] = [];

beforeEach(async () => {
  db = await freshDatabase();
  dir = mkdtempSync(join(tmpdir(), 'pushhub-presence-cluster-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(CONFIG));
  // One after the other: three processes compiling at once on a busy machine may miss the start timeout.
  for (let i = 0; i < 3; i++) hubs.push(await startChildHub(db.url, { PUSHHUB_CONFIG: join(dir, 'config.json') }));
}, 60_000);
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await Promise.all(hubs.map((h) => h.kill()));
  hubs = [];
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

const token = (sub: string, info: Record<string, unknown>): string =>
  handMadeJwt({ exp: Math.floor(Date.now() / 1000) + 3600, sub, info, channels: ['room.*'] });

async function open(hub: ChildHub, credential: { bearer?: string; query?: string }, presence: boolean): Promise<TestSocket> {
  const s = await connect(hub.url, credential);
  sockets.push(s);
  expect(await s.request({ op: 'subscribe', channel: CHANNEL, ...(presence ? { presence: true } : {}) })).toMatchObject({ op: 'subscribed' });
  return s;
}

/** The member set an observer holds from its snapshot and the join/leave frames since. */
function memberSet(observer: TestSocket, snapshot: Frame): Set<string> {
  const set = new Set(((snapshot.members as Array<{ sub: string }>) ?? []).map((m) => m.sub));
  for (const f of observer.frames.slice(observer.frames.indexOf(snapshot) + 1)) {
    if (f.channel !== CHANNEL) continue;
    if (f.op === 'join') set.add((f.member as { sub: string }).sub);
    if (f.op === 'leave') set.delete((f.member as { sub: string }).sub);
  }
  return set;
}

const until = async (check: () => boolean | Promise<boolean>, ms: number): Promise<number> => {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
    await sleep(20);
  }
  return Date.now() - start;
};

const occupancyEvents = async (): Promise<string[]> => {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ type: string; data: string }>("SELECT type, data FROM events WHERE channel = '$hub.channels' ORDER BY seq");
    return rows.map((r) => `${r.type} ${(JSON.parse(r.data) as { channel: string }).channel}`);
  } finally {
    await client.end();
  }
};

it('members on three hubs are seen identically from each, a join everywhere within a second; a SIGKILLed hub’s members leave everywhere; occupied and vacated once each', async () => {
  // An observer on each hub (the API key: no member), following joins and leaves.
  const observers = await Promise.all(hubs.map((h) => open(h, { bearer: API_KEY }, true)));
  const snapshots = await Promise.all(observers.map((o) => o.request({ op: 'presence', channel: CHANNEL })));
  // Two members on each hub, and one sub connected to hubs 0 and 1: one member.
  const expected: string[] = [];
  for (const [i, hub] of hubs.entries()) {
    for (const name of ['a', 'b']) {
      const sub = `u${i}${name}`;
      expected.push(sub);
      await open(hub, { query: token(sub, { hub: i }) }, false);
    }
  }
  await open(hubs[0]!, { query: token('shared', { tabs: 2 }) }, false);
  await open(hubs[1]!, { query: token('shared', { tabs: 2 }) }, false);
  expected.push('shared');
  expected.sort();

  const converged = await until(() => observers.every((o, i) => [...memberSet(o, snapshots[i]!)].sort().join() === expected.join()), 10_000);
  // Each hub answers the same list, by frame and over HTTP.
  const lists = await Promise.all(observers.map((o) => o.request({ op: 'presence', channel: CHANNEL })));
  for (const list of lists) {
    expect(list.count).toBe(expected.length);
    expect(list.members).toEqual(lists[0]!.members);
  }
  expect((lists[0]!.members as Array<{ sub: string }>).map((m) => m.sub).sort()).toEqual(expected);
  expect((lists[0]!.members as Array<{ sub: string; info: unknown }>).find((m) => m.sub === 'u2a')!.info).toEqual({ hub: 2 });
  for (const hub of hubs) {
    const res = await fetch(`${hub.url}/v1/channels/${CHANNEL}/presence`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(((await res.json()) as { count: number }).count).toBe(expected.length);
  }
  // Every observer saw each member join once (no repeats from three hubs writing).
  for (const o of observers) {
    const joins = o.frames.filter((f) => f.op === 'join').map((f) => (f.member as { sub: string }).sub);
    expect(joins.sort()).toEqual(expected);
  }
  // Subscriptions on three hubs at once: the channel was occupied once.
  expect(await occupancyEvents()).toEqual([`channel.occupied ${CHANNEL}`]);

  // Consistent within a second across hubs: one more member on hub 2, seen by every observer.
  const lateAt = Date.now();
  await open(hubs[2]!, { query: token('late', {}) }, false);
  expected.push('late');
  expected.sort();
  await until(() => observers.every((o, i) => memberSet(o, snapshots[i]!).has('late')), 5_000);
  const lateSeenIn = Date.now() - lateAt;
  expect(lateSeenIn).toBeLessThan(1000);

  // SIGKILL hub 2: nothing is flushed; its rows expire and another hub sweeps them.
  const killedAt = Date.now();
  await hubs[2]!.kill();
  const left = expected.filter((s) => !s.startsWith('u2') && s !== 'late');
  await until(() => observers.slice(0, 2).every((o, i) => [...memberSet(o, snapshots[i]!)].sort().join() === left.join()), 30_000);
  const leftWithin = Date.now() - killedAt;
  expect(leftWithin).toBeLessThan(30_000);
  for (const o of observers.slice(0, 2)) {
    expect(o.frames.filter((f) => f.op === 'leave').map((f) => (f.member as { sub: string }).sub).sort()).toEqual(['late', 'u2a', 'u2b']);
  }

  // Everyone else goes: after the grace, the channel is vacated, once.
  for (const s of sockets.splice(0)) s.close();
  await until(async () => (await occupancyEvents()).length === 2, 10_000);
  await sleep(500);
  expect(await occupancyEvents()).toEqual([`channel.occupied ${CHANNEL}`, `channel.vacated ${CHANNEL}`]);
  console.log(JSON.stringify({ presenceCluster: { convergedMs: converged, lateJoinSeenEverywhereMs: lateSeenIn, deadHubLeftMs: leftWithin } }));
}, 60_000);
