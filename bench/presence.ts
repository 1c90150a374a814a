/**
 * Presence under churn: 1 000 members (each its own `sub`, each subscribed with
 * `presence: true`, so every member watches every other, as in a room) join one channel
 * within a second; then all of them drop and reconnect at once (a hub restart, a network
 * blip), within the grace. The hubs run compiled in their own processes; the members and 10
 * observers (API key, not members) run here. Two setups:
 *   - `sqlite`: one hub (the figures of the table);
 *   - `pg2`: two hubs on one PostgreSQL, members and observers spread over both, and each
 *     member reconnecting to the *other* hub (a rolling restart behind a load balancer).
 *
 * Figures: presence frames (join / leave / unasked presence) received per member in each
 * phase; the p50/p99 convergence of a join (its member's `subscribe` sent → the last
 * observer holding it); and, after the mass reconnect, whether every observer still holds all
 * members; and the bytes of the one snapshot each member asks for after reconnecting (as the
 * client library does: what a drop may have missed). There is no same-run baseline: without the grace and the coalescing a mass
 * reconnect would cost each watcher a leave and a join per member,
 * `naive_reconnect_frames_per_member` below.
 *
 *   npm run bench -- presence [-- --quick]
 */
import WebSocket from 'ws';
import { startPostgresServer, type PostgresServer } from '../test/helpers/postgres-server.js';
import { handMadeJwt } from '../test/helpers/tokens.js';
import { API_KEY, log, percentile, quick, report, round, startHubProcess, type BenchResult, type ChildServer } from './lib/common.js';

const MEMBERS = quick ? 100 : 1000;
const OBSERVERS = 10;
const JOIN_WINDOW_MS = 1000;
const CHANNEL = 'room.bench';
const SETTLE_MS = quick ? 500 : 1500;

type Frame = { op: string; id?: number; member?: { sub: string } };

interface Peer {
  ws: WebSocket;
  /** Presence frames received (join, leave, unasked presence). */
  frames: number;
  /** The member set it holds from the join and leave frames. */
  set: Set<string>;
  /** Bytes of the `presence` answers it asked for. */
  askedBytes: number;
}

async function measure(urls: string[]): Promise<Record<string, unknown>> {
  const wsUrls = urls.map((u) => `${u.replace('http', 'ws')}/v1/ws`);
  const exp = Math.floor(Date.now() / 1000) + 3600;
  /** When each observer first held each sub, ms. */
  const seenAt = new Map<string, number[]>();
  /** When each member sent its first subscribe: convergence counts from there (its `subscribed` may be read after others' joins of it). */
  const subscribeSentAt = new Map<string, number>();

  const open = (hub: number, sub: string | undefined, onJoin?: (sub: string) => void): Promise<Peer> => {
    const token = sub === undefined ? undefined : handMadeJwt({ exp, sub, info: { name: sub }, channels: ['room.*'] });
    const url = wsUrls[hub % wsUrls.length]!;
    const ws = new WebSocket(token ? `${url}?token=${token}` : url, token ? {} : { headers: { authorization: `Bearer ${API_KEY}` } });
    const peer: Peer = { ws, frames: 0, set: new Set(), askedBytes: 0 };
    return new Promise((resolve, reject) => {
      ws.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString()) as Frame;
        if (frame.op === 'subscribed') return resolve(peer);
        if (frame.op === 'presence' && frame.id !== undefined) peer.askedBytes += data.length;
        if (frame.op === 'join' || frame.op === 'leave' || (frame.op === 'presence' && frame.id === undefined)) peer.frames++;
        if (frame.op === 'join') {
          peer.set.add(frame.member!.sub);
          onJoin?.(frame.member!.sub);
        } else if (frame.op === 'leave') peer.set.delete(frame.member!.sub);
      });
      ws.once('open', () => {
        if (sub !== undefined && !subscribeSentAt.has(sub)) subscribeSentAt.set(sub, performance.now());
        ws.send(JSON.stringify({ op: 'subscribe', channel: CHANNEL, presence: true, id: 1 }));
      });
      ws.once('error', reject);
    });
  };

  const observers = await Promise.all(
    Array.from({ length: OBSERVERS }, (_, i) =>
      open(i, undefined, (sub) => {
        let times = seenAt.get(sub);
        if (!times) seenAt.set(sub, (times = []));
        times.push(performance.now());
      }),
    ),
  );
  const subs = Array.from({ length: MEMBERS }, (_, i) => `m${i}`);

  // Phase 1: the members join within a second, evenly spread (and over the hubs).
  log(`${MEMBERS} members joining within ${JOIN_WINDOW_MS} ms, over ${urls.length} hub(s)`);
  const start = performance.now();
  let members = await Promise.all(
    subs.map(async (sub, i) => {
      await new Promise((r) => setTimeout(r, (i * JOIN_WINDOW_MS) / MEMBERS));
      return open(i, sub);
    }),
  );
  const joinedIn = performance.now() - start;
  const deadline = performance.now() + 30_000;
  while (!observers.every((o) => o.set.size === MEMBERS) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const converged = observers.every((o) => o.set.size === MEMBERS);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const convergence = subs.map((sub) => {
    const times = seenAt.get(sub) ?? [];
    return times.length < OBSERVERS ? Infinity : Math.max(...times) - subscribeSentAt.get(sub)!;
  });
  const joinFrames = members.reduce((n, m) => n + m.frames, 0);

  // Phase 2: every member drops and reconnects at once, within the grace (to the other hub, with two).
  log('mass reconnect of every member');
  for (const o of observers) o.frames = 0;
  for (const m of members) m.ws.terminate();
  const reconnectStart = performance.now();
  members = await Promise.all(subs.map((sub, i) => open(i + 1, sub)));
  const reconnectedIn = performance.now() - reconnectStart;
  // As the client library does after every reconnect: one snapshot each (what a drop may have missed).
  for (const m of members) m.ws.send(JSON.stringify({ op: 'presence', channel: CHANNEL, id: 2 }));
  const answered = performance.now() + 30_000;
  while (members.some((m) => m.askedBytes === 0) && performance.now() < answered) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, SETTLE_MS * 2));
  const reconnectFrames = members.reduce((n, m) => n + m.frames, 0) + observers.reduce((n, o) => n + o.frames, 0);
  const consistent = observers.every((o) => o.set.size === MEMBERS);
  for (const p of [...members, ...observers]) p.ws.terminate();

  return {
    members: MEMBERS,
    observers: OBSERVERS,
    hubs: urls.length,
    joined_in_ms: Math.round(joinedIn),
    join_frames_per_member: round(joinFrames / MEMBERS),
    convergence_p50_ms: round(percentile(convergence, 50)),
    convergence_p99_ms: round(percentile(convergence, 99)),
    converged,
    reconnected_in_ms: Math.round(reconnectedIn),
    reconnect_frames_per_member: round(reconnectFrames / MEMBERS),
    reconnect_snapshot_kib_per_member: round(members.reduce((n, m) => n + m.askedBytes, 0) / MEMBERS / 1024),
    naive_reconnect_frames_per_member: 2 * (MEMBERS - 1),
    consistent_after_reconnect: consistent,
  };
}

const maxConnections = MEMBERS * 2 + OBSERVERS + 100;
const one = await startHubProcess({ realtime: { maxConnections } });
const sqlite = await measure([one.url]).finally(() => one.stop());
log({ sqlite });

const pg: PostgresServer = await startPostgresServer(['-c', 'max_connections=100']);
let pg2: Record<string, unknown>;
try {
  const url = await pg.createDatabase('presence_bench');
  const hubs: ChildServer[] = [];
  try {
    for (let i = 0; i < 2; i++) hubs.push(await startHubProcess({ db: url, realtime: { maxConnections } }));
    pg2 = await measure(hubs.map((h) => h.url));
  } finally {
    await Promise.all(hubs.map((h) => h.stop()));
  }
} finally {
  await pg.destroy();
}
log({ pg2 });

const passes = (f: Record<string, unknown>): boolean =>
  f.converged === true && f.consistent_after_reconnect === true && (f.convergence_p99_ms as number) <= 1000 && (f.reconnect_frames_per_member as number) < 1;
const result: BenchResult & { peers: Record<string, Record<string, unknown>> } = {
  bench: 'presence',
  ours: sqlite,
  baseline: null,
  ratio: null,
  peers: { pg2 },
  targets: { convergence_p99_ms: '<= 1000', reconnect_frames_per_member: '< 1', consistent_after_reconnect: true },
  pass: passes(sqlite) && passes(pg2),
  notes:
    'Every member watches every other: a join costs each member present one frame (the contract has one member per join frame); a reconnect within the grace costs none, to the same hub or (pg2) to the other.',
};
report(result);
