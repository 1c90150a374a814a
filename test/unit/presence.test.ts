import { describe, expect, it } from 'vitest';
import { MemoryPresence, type PresenceNotice } from '../../src/realtime/presence.js';
import { manualTimers } from '../helpers/manual-timers.js';

function setup(opts: { graceMs?: number; coalesceMs?: number; maxMembers?: number } = {}) {
  const timers = manualTimers();
  const notices: PresenceNotice[] = [];
  const presence = new MemoryPresence({
    graceMs: opts.graceMs ?? 10_000,
    coalesceMs: opts.coalesceMs ?? 50,
    maxMembers: opts.maxMembers ?? 10_000,
    onNotice: (n) => notices.push(n),
    timers,
  });
  return { timers, notices, presence };
}

const alice = { sub: 'alice', info: { name: 'Alice' } };
const bob = { sub: 'bob', info: {} };

describe('MemoryPresence', () => {
  it('a first connection joins, after the coalescing window; the snapshot has it at once', async () => {
    const { timers, notices, presence } = setup();
    presence.enter('room', alice, {});
    expect(await presence.snapshot('room')).toEqual({ count: 1, members: [alice] });
    expect(notices).toEqual([]);
    timers.advance(50);
    expect(notices).toEqual([{ kind: 'changes', channel: 'room', joined: [alice], left: [] }]);
  });

  it('two connections of one sub are one member; it leaves only after the last one, after the grace', async () => {
    const { timers, notices, presence } = setup();
    const a = {};
    const b = {};
    presence.enter('room', alice, a);
    presence.enter('room', alice, b);
    timers.advance(50);
    expect(notices).toHaveLength(1);
    expect((await presence.snapshot('room')).count).toBe(1);
    presence.exit('room', 'alice', a);
    timers.advance(20_000);
    expect(notices).toHaveLength(1);
    presence.exit('room', 'alice', b);
    timers.advance(9_999);
    expect(notices).toHaveLength(1);
    expect((await presence.snapshot('room')).count).toBe(1); // still a member during the grace
    timers.advance(1 + 50);
    expect(notices[1]).toEqual({ kind: 'changes', channel: 'room', joined: [], left: ['alice'] });
    expect(await presence.snapshot('room')).toEqual({ count: 0, members: [] });
    expect(timers.pending()).toBe(0);
  });

  it('a drop and reconnect within the grace produces nothing', () => {
    const { timers, notices, presence } = setup();
    const a = {};
    presence.enter('room', alice, a);
    timers.advance(50);
    presence.exit('room', 'alice', a);
    timers.advance(9_000);
    presence.enter('room', alice, {});
    timers.advance(60_000);
    expect(notices).toHaveLength(1);
  });

  it('coalesces: a join and leave within one window is nothing; several changes are one notice', () => {
    const { timers, notices, presence } = setup({ graceMs: 0 });
    const a = {};
    presence.enter('room', alice, a);
    presence.exit('room', 'alice', a);
    timers.advance(100);
    expect(notices).toEqual([]);
    presence.enter('room', alice, {});
    presence.enter('room', bob, {});
    timers.advance(50);
    expect(notices).toEqual([{ kind: 'changes', channel: 'room', joined: [alice, bob], left: [] }]);
  });

  it('a member that leaves and joins again within one window is nothing, unless its info changed', () => {
    const { timers, notices, presence } = setup({ graceMs: 0 });
    const a = {};
    presence.enter('room', alice, a);
    timers.advance(50);
    presence.exit('room', 'alice', a);
    timers.advance(0); // the grace ends: the leave is queued
    presence.enter('room', alice, {});
    timers.advance(50);
    expect(notices).toHaveLength(1);
    const b = {};
    presence.exit('room', 'alice', {}); // a connection it never entered with: ignored
    presence.enter('room', { sub: 'carol', info: {} }, b);
    presence.exit('room', 'carol', b);
    timers.advance(0);
    presence.enter('room', { sub: 'carol', info: { v: 2 } }, b);
    timers.advance(50);
    expect(notices.at(-1)).toEqual({ kind: 'changes', channel: 'room', joined: [{ sub: 'carol', info: { v: 2 } }], left: [] });
  });

  it('a mass reconnect within the grace sends nothing', () => {
    const { timers, notices, presence } = setup();
    const conns = Array.from({ length: 500 }, (_, i) => ({ sub: `u${i}`, conn: {} }));
    for (const c of conns) presence.enter('room', { sub: c.sub, info: {} }, c.conn);
    timers.advance(50);
    expect(notices).toHaveLength(1);
    for (const c of conns) presence.exit('room', c.sub, c.conn);
    timers.advance(5_000);
    for (const c of conns) presence.enter('room', { sub: c.sub, info: {} }, {});
    timers.advance(60_000);
    expect(notices).toHaveLength(1);
  });

  it('over the member limit: the count only, one truncated notice, then a full snapshot when back under', async () => {
    const { timers, notices, presence } = setup({ graceMs: 0, maxMembers: 2 });
    const conns = ['a', 'b', 'c', 'd'].map((sub) => ({ sub, conn: {} }));
    presence.enter('room', { sub: 'a', info: {} }, conns[0]!.conn);
    presence.enter('room', { sub: 'b', info: {} }, conns[1]!.conn);
    timers.advance(50);
    expect(notices).toHaveLength(1);
    presence.enter('room', { sub: 'c', info: {} }, conns[2]!.conn);
    timers.advance(50);
    expect(notices[1]).toEqual({ kind: 'truncated', channel: 'room', count: 3 });
    expect(await presence.snapshot('room')).toEqual({ count: 3, members: undefined });
    presence.enter('room', { sub: 'd', info: {} }, conns[3]!.conn);
    timers.advance(50);
    expect(notices).toHaveLength(2); // still over: nothing more
    presence.exit('room', 'c', conns[2]!.conn);
    presence.exit('room', 'd', conns[3]!.conn);
    timers.advance(50);
    expect(notices[2]).toEqual({
      kind: 'snapshot',
      channel: 'room',
      count: 2,
      members: [
        { sub: 'a', info: {} },
        { sub: 'b', info: {} },
      ],
    });
    presence.exit('room', 'a', conns[0]!.conn);
    timers.advance(50);
    expect(notices[3]).toEqual({ kind: 'changes', channel: 'room', joined: [], left: ['a'] });
  });

  it('channels are independent, and close() stops every timer', () => {
    const { timers, notices, presence } = setup();
    const a = {};
    presence.enter('one', alice, a);
    presence.enter('two', bob, {});
    timers.advance(50);
    expect(notices.map((n) => n.channel).sort()).toEqual(['one', 'two']);
    presence.exit('one', 'alice', a);
    presence.close();
    expect(timers.pending()).toBe(0);
  });
});
