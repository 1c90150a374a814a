/**
 * Presence under churn: 1 000 members (each its own `sub`, each subscribed with
 * `presence: true`, so every member watches every other, as in a room) join one channel
 * within a second; then all of them drop and reconnect at once (a hub restart, a network
 * blip), within the grace. The hub runs compiled in its own process; the members and 10
 * observers (API key, not members) run here.
 *
 * Figures: presence frames (join / leave / unasked presence) received per member in each
 * phase; the p50/p99 convergence of a join (its member's `subscribe` sent → the last
 * observer holding it); and, after the mass reconnect, whether every observer still holds all members.
 * There is no same-run baseline: without the grace and the coalescing a mass reconnect would
 * cost each watcher a leave and a join per member, `naive_reconnect_frames_per_member` below.
 *
 *   npm run bench -- presence [-- --quick]
 */
import WebSocket from 'ws';
import { API_KEY, log, percentile, quick, report, round, startHubProcess } from './lib/common.js';
import { handMadeJwt } from '../test/helpers/tokens.js';

const MEMBERS = quick ? 200 : 1000;
const OBSERVERS = 10;
const JOIN_WINDOW_MS = 1000;
const CHANNEL = 'room.bench';
const SETTLE_MS = quick ? 500 : 1500;

type Frame = { op: string; id?: number; channel?: string; member?: { sub: string } };

interface Peer {
  sub: string | undefined;
  ws: WebSocket;
  /** Presence frames received (join, leave, unasked presence), by phase. */
  frames: number;
  /** The member set it holds from the join and leave frames (observers only). */
  set: Set<string>;
}

const hub = await startHubProcess({ realtime: { maxConnections: MEMBERS * 2 + OBSERVERS + 100 } });
const wsUrl = `${hub.url.replace('http', 'ws')}/v1/ws`;
const exp = Math.floor(Date.now() / 1000) + 3600;
/** When each observer first held each sub, ms. */
const seenAt = new Map<string, number[]>();

/** When each member sent its subscribe, ms: convergence counts from there (its `subscribed` may be read after others' joins of it). */
const subscribeSentAt = new Map<string, number>();

function open(sub: string | undefined, onJoin?: (sub: string) => void): Promise<Peer> {
  const token = sub === undefined ? undefined : handMadeJwt({ exp, sub, info: { name: sub }, channels: ['room.*'] });
  const ws = new WebSocket(token ? `${wsUrl}?token=${token}` : wsUrl, token ? {} : { headers: { authorization: `Bearer ${API_KEY}` } });
  const peer: Peer = { sub, ws, frames: 0, set: new Set() };
  return new Promise((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (frame.op === 'subscribed') return resolve(peer);
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
}

const observers = await Promise.all(
  Array.from({ length: OBSERVERS }, () =>
    open(undefined, (sub) => {
      let times = seenAt.get(sub);
      if (!times) seenAt.set(sub, (times = []));
      times.push(performance.now());
    }),
  ),
);
const subs = Array.from({ length: MEMBERS }, (_, i) => `m${i}`);

// Phase 1: the members join within a second, evenly spread.
log(`${MEMBERS} members joining within ${JOIN_WINDOW_MS} ms`);
const start = performance.now();
let members = await Promise.all(
  subs.map(async (sub, i) => {
    await new Promise((r) => setTimeout(r, (i * JOIN_WINDOW_MS) / MEMBERS));
    return open(sub);
  }),
);
const joinedIn = performance.now() - start;
const allSeen = async (deadlineMs: number): Promise<boolean> => {
  const deadline = performance.now() + deadlineMs;
  while (performance.now() < deadline) {
    if (observers.every((o) => o.set.size === MEMBERS)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
};
const converged = await allSeen(30_000);
await new Promise((r) => setTimeout(r, SETTLE_MS));
const convergence = subs.map((sub) => {
  const times = seenAt.get(sub) ?? [];
  return times.length < OBSERVERS ? Infinity : Math.max(...times) - subscribeSentAt.get(sub)!;
});
const joinFrames = members.reduce((n, m) => n + m.frames, 0);
const observerJoinFrames = observers.reduce((n, o) => n + o.frames, 0);

// Phase 2: every member drops and reconnects at once, within the grace.
log('mass reconnect of every member');
for (const o of observers) o.frames = 0;
for (const m of members) m.ws.terminate();
const reconnectStart = performance.now();
members = await Promise.all(subs.map((sub) => open(sub)));
const reconnectedIn = performance.now() - reconnectStart;
await new Promise((r) => setTimeout(r, SETTLE_MS * 2));
const reconnectFrames = members.reduce((n, m) => n + m.frames, 0) + observers.reduce((n, o) => n + o.frames, 0);
const stillAll = observers.every((o) => o.set.size === MEMBERS);

for (const p of [...members, ...observers]) p.ws.terminate();
await hub.stop();

const p50 = percentile(convergence, 50);
const p99 = percentile(convergence, 99);
const ours = {
  members: MEMBERS,
  observers: OBSERVERS,
  joined_in_ms: Math.round(joinedIn),
  join_frames_per_member: round(joinFrames / MEMBERS),
  join_frames_per_observer: round(observerJoinFrames / OBSERVERS),
  convergence_p50_ms: round(p50),
  convergence_p99_ms: round(p99),
  reconnected_in_ms: Math.round(reconnectedIn),
  reconnect_frames_per_member: round(reconnectFrames / MEMBERS),
  naive_reconnect_frames_per_member: 2 * (MEMBERS - 1),
  consistent_after_reconnect: stillAll,
};
log(ours);
report({
  bench: 'presence',
  ours,
  baseline: null,
  ratio: null,
  targets: { convergence_p99_ms: '<= 1000', reconnect_frames_per_member: '< 1', consistent_after_reconnect: true },
  pass: converged && stillAll && p99 <= 1000 && reconnectFrames / MEMBERS < 1,
  notes: 'Every member watches every other: a join costs each member present one frame (the contract has one member per join frame); a reconnect within the grace costs none.',
});
