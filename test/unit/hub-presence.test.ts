import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { HubPresence, type HubPresenceOptions, type OccupancyChange } from '../../src/realtime/hub-presence.js';
import type { PresenceNotice } from '../../src/realtime/presence.js';
import { PresenceView } from '../../src/realtime/presence-view.js';
import { memoryPresenceRows } from '../../src/store/presence-memory.js';
import type { PresenceWrite } from '../../src/store/store.js';
import { manualTimers } from '../helpers/manual-timers.js';

const row = (sub: string, info: Record<string, unknown> = {}) => ({ sub, info: JSON.stringify(info) });

describe('PresenceView', () => {
  it('the first read is the baseline; then the net difference, leaves before joins, an info change as a join', () => {
    const view = new PresenceView('room', 10);
    expect(view.apply({ count: 2, members: [row('a'), row('b')] })).toBeUndefined();
    expect(view.snapshot()).toEqual({ count: 2, members: [{ sub: 'a', info: {} }, { sub: 'b', info: {} }] });
    expect(view.apply({ count: 2, members: [row('a'), row('b')] })).toBeUndefined();
    expect(view.apply({ count: 2, members: [row('b', { x: 1 }), row('c')] })).toEqual({
      kind: 'changes',
      channel: 'room',
      left: ['a'],
      joined: [{ sub: 'b', info: { x: 1 } }, { sub: 'c', info: {} }],
    });
  });

  it('over the limit: one truncated notice, nothing while over, a full snapshot back under', () => {
    const view = new PresenceView('room', 2);
    view.apply({ count: 1, members: [row('a')] });
    expect(view.apply({ count: 3, members: [row('a'), row('b')] })).toEqual({ kind: 'truncated', channel: 'room', count: 3 });
    expect(view.apply({ count: 4, members: [row('a'), row('b')] })).toBeUndefined();
    expect(view.snapshot()).toEqual({ count: 4, members: undefined });
    expect(view.apply({ count: 2, members: [row('a'), row('c')] })).toEqual({
      kind: 'snapshot',
      channel: 'room',
      count: 2,
      members: [{ sub: 'a', info: {} }, { sub: 'c', info: {} }],
    });
  });
});

function setup(opts: { failWrites?: () => boolean } = {}) {
  const timers = manualTimers();
  const rows = memoryPresenceRows();
  const writes: PresenceWrite[] = [];
  const notices: PresenceNotice[] = [];
  const occupancy: Array<[string, OccupancyChange]> = [];
  const followed = new Set<string>();
  const options: HubPresenceOptions = {
    store: {
      hubId: 'hub_test',
      watch: () => undefined,
      ...rows,
      writePresence(write) {
        writes.push(write);
        if (opts.failWrites?.()) return Promise.reject(new Error('database down'));
        return rows.writePresence(write);
      },
    },
    graceMs: 10_000,
    coalesceMs: 50,
    maxMembers: 10_000,
    heartbeatMs: 5_000,
    expiryMs: 20_000,
    follows: (channel) => followed.has(channel),
    onNotice: (n) => notices.push(n),
    onOccupancy: (channel, change) => occupancy.push([channel, change]),
    logger: createLogger('silent'),
    timers,
  };
  const presence = new HubPresence(options);
  /** Fires the timers due within `ms`, letting the store's answers settle after each step. */
  const advance = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 10) {
      timers.advance(Math.min(10, ms - t));
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
  };
  return { presence, writes, notices, occupancy, followed, advance };
}

const member = (sub: string) => ({ sub, info: { name: sub } });

describe('HubPresence', () => {
  it('a member joining is one write after the coalescing window, then a join for the channel followed', async () => {
    const { presence, writes, notices, followed, advance } = setup();
    followed.add('room');
    presence.follow('room');
    await advance(10);
    presence.enter('room', member('alice'), {});
    await advance(40);
    expect(writes).toEqual([]);
    await advance(20);
    expect(writes).toHaveLength(1);
    expect(notices).toEqual([{ kind: 'changes', channel: 'room', joined: [member('alice')], left: [] }]);
  });

  it('1 000 members in one window: one write and one notice; a mass reconnect within the grace: no write, no notice', async () => {
    const { presence, writes, notices, followed, advance } = setup();
    followed.add('room');
    presence.follow('room');
    await advance(10);
    const conns = Array.from({ length: 1000 }, (_, i) => ({ m: member(`u${i}`), conn: {} }));
    for (const c of conns) presence.enter('room', c.m, c.conn);
    await advance(60);
    expect(writes).toHaveLength(1);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ kind: 'changes', left: [] });
    expect((notices[0] as { joined: unknown[] }).joined).toHaveLength(1000);
    for (const c of conns) presence.exit('room', c.m.sub, c.conn);
    for (const c of conns) presence.enter('room', c.m, {});
    await advance(11_000);
    expect(writes).toHaveLength(1);
    expect(notices).toHaveLength(1);
  });

  it('the snapshot has a member that entered a moment ago (its change written first)', async () => {
    const { presence, followed, advance } = setup();
    presence.enter('room', member('alice'), {});
    expect(await presence.snapshot('room')).toEqual({ count: 1, members: [member('alice')] });
    followed.add('room');
    presence.follow('room');
    await advance(10);
    presence.enter('room', member('bob'), {});
    expect(await presence.snapshot('room')).toEqual({ count: 2, members: [member('alice'), member('bob')] });
  });

  it('occupancy: occupied once for the first subscription, vacated after the grace once the last goes; $ channels are not counted', async () => {
    const { presence, occupancy, advance } = setup();
    presence.occupy('room', true);
    presence.occupy('$hub.channels', true);
    await advance(60);
    expect(occupancy).toEqual([['room', 'occupied']]);
    presence.occupy('room', false);
    await advance(5_000);
    presence.occupy('room', true); // back within the grace: nothing
    await advance(6_000);
    expect(occupancy).toEqual([['room', 'occupied']]);
    presence.occupy('room', false);
    await advance(10_100);
    expect(occupancy).toEqual([['room', 'occupied'], ['room', 'vacated']]);
  });

  it('a failed write: the next heartbeat writes this hub’s presence whole', async () => {
    let fail = true;
    const { presence, writes, advance } = setup({ failWrites: () => fail });
    presence.enter('room', member('alice'), {});
    presence.occupy('room', true);
    await advance(60);
    expect(writes.length).toBeGreaterThan(0);
    fail = false;
    presence.start();
    await advance(10);
    const last = writes.at(-1)!;
    expect(last.replace).toBe(true);
    expect(last.channels).toEqual([{ channel: 'room', joined: [row('alice', { name: 'alice' })], left: [], occupied: true }]);
    expect(await presence.snapshot('room')).toEqual({ count: 1, members: [member('alice')] });
    await presence.close();
  });
});
