import { systemTimers, type Timers } from '../clock.js';
import { coalesced, type Coalesced } from '../coalesce.js';
import type { Logger } from '../logger.js';
import type { ChannelPresenceWrite, MemberRow, Store } from '../store/store.js';
import { MemoryPresence, type Member, type PresenceNotice, type PresenceSnapshot } from './presence.js';
import { PresenceView, snapshotOf } from './presence-view.js';

/** Who is on each channel, over every hub: what WebSocket sessions and the HTTP route ask. */
export interface Presence {
  /** `connection` (any object standing for it) of `member` is on `channel`; idempotent. */
  enter(channel: string, member: Member, connection: object): void;
  /** `connection` left `channel`; unknown connections are ignored. */
  exit(channel: string, sub: string, connection: object): void;
  /** A subscription of `channel` on this hub asked for join and leave frames: changes are followed from now on. */
  follow(channel: string): void;
  /** The members now (this hub's changes written first), in step with the frames sent to this hub's subscribers. */
  snapshot(channel: string): Promise<PresenceSnapshot>;
}

export type OccupancyChange = 'occupied' | 'vacated';

export interface HubPresenceOptions {
  store: Pick<Store, 'hubId' | 'watch' | 'writePresence' | 'readPresence' | 'presenceHeartbeat' | 'releasePresence'>;
  /** A member whose last connection on this hub left stays this long (a reconnect, to any hub, within it is invisible). */
  graceMs: number;
  /** This hub's changes of a channel are gathered this long and written as their net effect. */
  coalesceMs: number;
  /** More members than this: snapshots carry only the count, and joins and leaves stop. */
  maxMembers: number;
  /** This hub renews its rows this often (and sweeps those of hubs that stopped). */
  heartbeatMs: number;
  /** Rows not renewed for this long are a dead hub's: its members leave. */
  expiryMs: number;
  /** Whether this hub still has a subscription of `channel` that asked for join and leave frames. */
  follows(channel: string): boolean;
  onNotice(notice: PresenceNotice): void;
  /** The first subscriber of a channel on any hub came, or the last one went (found by this hub's write or sweep). */
  onOccupancy(channel: string, change: OccupancyChange): void;
  logger: Logger;
  timers?: Timers;
}

/** The one occupant of a channel in the occupancy book: this hub, while it has a subscriber there. */
const HERE = { sub: '*', info: {} };

/**
 * Presence over the store, the same code on one hub (SQLite keeps the rows in memory) and on
 * several (PostgreSQL). This hub's connections are booked in memory, with the grace; the net
 * changes of each window go to the store in one write (every write waiting meanwhile joins
 * the next); the members are then read back as the union of the live hubs and told to this
 * hub's presence subscribers as the difference with what they were told (PresenceView). Other
 * hubs' changes arrive as `presence` notifications, the path events take. Channel occupancy
 * (any subscriber, member or not) is booked the same way, and the store says when a write or
 * a sweep made a channel occupied or vacated on the whole.
 */
export class HubPresence implements Presence {
  private readonly members: MemoryPresence;
  private readonly occupancy: MemoryPresence;
  private readonly views = new Map<string, { view: PresenceView; refresh: Coalesced }>();
  /** Changes not written yet, by channel: sub → its row (joined) or null (left), and occupancy. */
  private pending = new Map<string, { subs: Map<string, MemberRow | null>; occupied?: boolean }>();
  /** This hub's rows are to be written whole (the store lost them, or a write failed). */
  private replace = false;
  private readonly writeJob: Coalesced;
  private readonly timers: Timers;
  private beat: unknown;
  private closed = false;

  constructor(private readonly options: HubPresenceOptions) {
    const { graceMs, coalesceMs } = options;
    this.timers = options.timers ?? systemTimers;
    const book = { graceMs, coalesceMs, maxMembers: Number.MAX_SAFE_INTEGER, timers: this.timers };
    this.members = new MemoryPresence({ ...book, onNotice: (n) => n.kind === 'changes' && this.memberChanges(n.channel, n.joined, n.left) });
    this.occupancy = new MemoryPresence({ ...book, onNotice: (n) => n.kind === 'changes' && this.occupancyChange(n.channel, n.joined.length > 0) });
    this.writeJob = coalesced(() => this.write());
    options.store.watch((change) => {
      if (this.closed) return;
      if (change.kind === 'presence' && change.hubId !== options.store.hubId) this.refresh(change.channel);
      else if (change.kind === 'resync') this.refreshAll();
    });
  }

  enter(channel: string, member: Member, connection: object): void {
    this.members.enter(channel, member, connection);
  }

  exit(channel: string, sub: string, connection: object): void {
    this.members.exit(channel, sub, connection);
  }

  /** This hub has a subscription of `channel` (of any kind), or no more. Hub channels (`$…`) are not counted. */
  occupy(channel: string, here: boolean): void {
    if (channel.startsWith('$')) return;
    if (here) this.occupancy.enter(channel, HERE, HERE);
    else this.occupancy.exit(channel, HERE.sub, HERE);
  }

  follow(channel: string): void {
    if (!this.views.has(channel)) this.refresh(channel);
  }

  async snapshot(channel: string): Promise<PresenceSnapshot> {
    this.members.flushNow(channel);
    await this.writeJob();
    const followed = this.views.get(channel);
    if (followed && this.options.follows(channel)) {
      await followed.refresh();
      return followed.view.snapshot();
    }
    return snapshotOf(await this.options.store.readPresence(channel, this.options.maxMembers), this.options.maxMembers);
  }

  start(): void {
    const tick = (): void => {
      this.beat = this.timers.set(() => {
        void this.heartbeat().finally(() => this.closed || tick());
      }, this.options.heartbeatMs);
    };
    void this.heartbeat();
    tick();
  }

  /**
   * Stops: no notice follows. Its rows stay for the grace and then expire, so the clients of a
   * hub that shuts down, reconnecting to another within the grace, neither leave nor join.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.timers.clear(this.beat);
    this.members.close();
    this.occupancy.close();
    await this.writeJob().catch(() => undefined);
    await this.options.store.releasePresence(this.options.graceMs).catch((err: unknown) => this.options.logger.warn({ err }, 'presence release failed'));
  }

  private pendingOf(channel: string) {
    let p = this.pending.get(channel);
    if (!p) this.pending.set(channel, (p = { subs: new Map() }));
    return p;
  }

  private memberChanges(channel: string, joined: Member[], left: string[]): void {
    const { subs } = this.pendingOf(channel);
    for (const sub of left) subs.set(sub, null);
    for (const m of joined) subs.set(m.sub, { sub: m.sub, info: JSON.stringify(m.info) });
    void this.writeJob().catch(() => undefined);
  }

  private occupancyChange(channel: string, occupied: boolean): void {
    this.pendingOf(channel).occupied = occupied;
    void this.writeJob().catch(() => undefined);
  }

  /** One write of everything pending (or, after a loss, of this hub's whole state); then the channels it touched are read back. */
  private async write(): Promise<void> {
    if (this.closed || (this.pending.size === 0 && !this.replace)) return;
    const replace = this.replace;
    const pending = this.pending;
    this.pending = new Map();
    this.replace = false;
    let channels: ChannelPresenceWrite[];
    if (replace) {
      const occupied = new Set([...this.occupancy.all()].map(([c]) => c));
      channels = [...this.members.all()].map(([channel, members]) => ({
        channel,
        joined: members.map((m) => ({ sub: m.sub, info: JSON.stringify(m.info) })),
        left: [],
        occupied: occupied.delete(channel) || undefined,
      }));
      for (const channel of occupied) channels.push({ channel, joined: [], left: [], occupied: true });
    } else {
      channels = [...pending].map(([channel, p]) => {
        const joined: MemberRow[] = [];
        const left: string[] = [];
        for (const [sub, row] of p.subs) {
          if (row) joined.push(row);
          else left.push(sub);
        }
        return { channel, joined, left, occupied: p.occupied };
      });
    }
    try {
      const changes = await this.options.store.writePresence({ channels, replace, expiryMs: this.options.expiryMs });
      for (const channel of changes.occupied) this.options.onOccupancy(channel, 'occupied');
      for (const channel of changes.vacated) this.options.onOccupancy(channel, 'vacated');
    } catch (err) {
      this.options.logger.warn({ err }, 'presence write failed; this hub rewrites its presence whole');
      this.replace = true;
      return;
    }
    if (replace) this.refreshAll();
    else for (const c of channels) if (c.joined.length > 0 || c.left.length > 0) this.refresh(c.channel);
  }

  private async heartbeat(): Promise<void> {
    if (this.closed) return;
    try {
      const { renewed, vacated } = await this.options.store.presenceHeartbeat(this.options.expiryMs);
      for (const channel of vacated) this.options.onOccupancy(channel, 'vacated');
      if (!renewed) this.replace = true;
    } catch (err) {
      this.options.logger.warn({ err }, 'presence heartbeat failed');
    }
    if (this.replace) void this.writeJob().catch(() => undefined);
    // A safety net for a lost notification, and how a sweep's leaves reach this hub's own subscribers.
    this.refreshAll();
  }

  private refreshAll(): void {
    for (const channel of this.views.keys()) this.refresh(channel);
  }

  /** Reads the channel's members and tells this hub's presence subscribers what changed (or drops the view nobody follows). */
  private refresh(channel: string): void {
    let followed = this.views.get(channel);
    if (!followed) {
      if (!this.options.follows(channel)) return;
      const view = new PresenceView(channel, this.options.maxMembers);
      const refresh = coalesced(async () => {
        if (this.closed) return;
        if (!this.options.follows(channel)) {
          if (this.views.get(channel)?.view === view) this.views.delete(channel);
          return;
        }
        const read = await this.options.store.readPresence(channel, this.options.maxMembers);
        if (this.closed) return;
        const notice = view.apply(read);
        if (notice) this.options.onNotice(notice);
      });
      this.views.set(channel, (followed = { view, refresh }));
    }
    followed.refresh().catch((err: unknown) => this.options.logger.warn({ err, channel }, 'presence read failed'));
  }
}
