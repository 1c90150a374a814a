import { afterEach, expect, it } from 'vitest';
import { API_KEY, hubsOnOneDatabase, type TestHub } from '../helpers/hub.js';
import { sleep } from '../helpers/seeded.js';
import { handMadeJwt } from '../helpers/tokens.js';
import { connect, type Frame, type TestSocket } from '../helpers/ws-client.js';

/**
 * Presence over two hubs in this process on one database: the grace holds across hubs (the
 * cluster suite kills processes). Short grace and heartbeat, so the leaves come within a test.
 */
const GRACE_MS = 1000;
const CONFIG = { realtime: { presenceGraceMs: GRACE_MS, presenceCoalesceMs: 20, presenceHeartbeatMs: 300, presenceExpiryMs: 1500 } };

let cluster: Awaited<ReturnType<typeof hubsOnOneDatabase>> | undefined;
const sockets: TestSocket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await cluster?.close();
  cluster = undefined;
});

async function twoHubs(): Promise<[TestHub, TestHub]> {
  cluster = await hubsOnOneDatabase(2, { config: CONFIG });
  return [cluster.hubs[0]!, cluster.hubs[1]!];
}

async function open(hub: TestHub, sub: string | undefined, presence = false): Promise<TestSocket> {
  const credential = sub === undefined ? { bearer: API_KEY } : { query: handMadeJwt({ exp: Math.floor(Date.now() / 1000) + 600, sub, channels: ['room.*'] }) };
  const s = await connect(hub.url, credential);
  sockets.push(s);
  expect(await s.request({ op: 'subscribe', channel: 'room.1', ...(presence ? { presence: true } : {}) })).toMatchObject({ op: 'subscribed' });
  return s;
}

const changes = (s: TestSocket): string[] =>
  s.frames.filter((f: Frame) => f.op === 'join' || f.op === 'leave').map((f) => `${f.op} ${(f.member as { sub: string }).sub}`);

it('a member that moves to the other hub within the grace neither leaves nor joins; one that does not come back leaves on both', async () => {
  const [a, b] = await twoHubs();
  const onA = await open(a, undefined, true);
  const onB = await open(b, undefined, true);
  const alice = await open(a, 'alice');
  await expect.poll(() => changes(onB), { timeout: 5000 }).toEqual(['join alice']);
  await expect.poll(() => changes(onA), { timeout: 5000 }).toEqual(['join alice']);
  alice.close();
  await sleep(100);
  await open(b, 'alice'); // back, through the other hub, within the grace
  await sleep(GRACE_MS * 2);
  expect(changes(onA)).toEqual(['join alice']);
  expect(changes(onB)).toEqual(['join alice']);
  expect(await onA.request({ op: 'presence', channel: 'room.1' })).toMatchObject({ count: 1, members: [{ sub: 'alice', info: {} }] });

  const bob = await open(b, 'bob');
  await expect.poll(() => changes(onA), { timeout: 5000 }).toEqual(['join alice', 'join bob']);
  bob.close();
  await expect.poll(() => changes(onA), { timeout: 5000 }).toEqual(['join alice', 'join bob', 'leave bob']);
  await expect.poll(() => changes(onB), { timeout: 5000 }).toEqual(['join alice', 'join bob', 'leave bob']);
});

it('a hub that shuts down keeps its members for the grace: reconnected elsewhere within it, nothing; not reconnected, they leave', async () => {
  const [a, b] = await twoHubs();
  const observer = await open(a, undefined, true);
  await open(b, 'carol');
  await open(b, 'dave');
  await expect.poll(() => changes(observer).sort(), { timeout: 5000 }).toEqual(['join carol', 'join dave']);
  await b.close();
  cluster!.hubs.splice(1); // closed
  await open(a, 'carol'); // carol's client reconnects to the hub still up; dave's does not
  await expect.poll(() => changes(observer), { timeout: GRACE_MS + 5000 }).toContain('leave dave');
  await sleep(500);
  expect(changes(observer).filter((c) => c.endsWith('carol'))).toEqual(['join carol']);
  expect(await observer.request({ op: 'presence', channel: 'room.1' })).toMatchObject({ count: 1, members: [{ sub: 'carol' }] });
});
