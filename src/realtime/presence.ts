import { systemTimers, type Timers } from '../clock.js';

/** A member of a channel: a token's `sub`, shown with its `info` claim (`{}` when it has none). */
export interface Member {
  sub: string;
  info: Record<string, unknown>;
}

/** Who is on a channel. `members` is absent when there are more than the limit (`count` is still exact). */
export interface PresenceSnapshot {
  count: number;
  members: Member[] | undefined;
}

/**
 * What the presence subscribers of a channel are told, after coalescing:
 * - `changes`: the net joins and leaves of the window (a `join` of a member already
 *   announced means its `info` changed);
 * - `truncated`: the channel passed the member limit; no joins or leaves until it is back under;
 * - `snapshot`: it is back under the limit; here is everyone, and joins and leaves go on.
 */
export type PresenceNotice =
  | { kind: 'changes'; channel: string; joined: Member[]; left: string[] }
  | { kind: 'truncated'; channel: string; count: number }
  | { kind: 'snapshot'; channel: string; members: Member[]; count: number };

export interface PresenceOptions {
  /** A member whose last connection left stays this long before it leaves (a reconnect within it is invisible). */
  graceMs: number;
  /** Changes of a channel are gathered this long and told as their net effect. */
  coalesceMs: number;
  /** More members than this: snapshots carry only the count, and joins and leaves stop. */
  maxMembers: number;
  onNotice(notice: PresenceNotice): void;
  timers?: Timers;
}

interface Entry {
  member: Member;
  /** Serialised info, to tell an info change from none. */
  infoJson: string;
  connections: Set<object>;
  leaveTimer: unknown;
}

interface ChannelPresence {
  entries: Map<string, Entry>;
  /**
   * Subs touched since the last notice, with what was announced of them before: their info
   * (serialised), or null when they were not members. The notice is the difference with now.
   */
  before: Map<string, string | null>;
  flushTimer: unknown;
  /** The subscribers were told the channel is over the limit. */
  truncated: boolean;
}

/**
 * The members of channels on this hub's connections, in memory, timers through the injected
 * seam: a connection enters a channel when it subscribes and exits when it unsubscribes or
 * closes; several connections of one `sub` are one member, which leaves only after the grace.
 * Its notices are the net changes of each coalescing window: what {@link HubPresence} writes
 * to the store, whose union over the hubs is what members see.
 */
export class MemoryPresence {
  private readonly channels = new Map<string, ChannelPresence>();
  private readonly timers: Timers;

  constructor(private readonly options: PresenceOptions) {
    this.timers = options.timers ?? systemTimers;
  }

  enter(channel: string, member: Member, connection: object): void {
    let state = this.channels.get(channel);
    if (!state) this.channels.set(channel, (state = { entries: new Map(), before: new Map(), flushTimer: undefined, truncated: false }));
    const entry = state.entries.get(member.sub);
    if (entry) {
      entry.connections.add(connection);
      // Back within the grace: as if it never left. Its info stays the one it joined with.
      if (entry.leaveTimer !== undefined) {
        this.timers.clear(entry.leaveTimer);
        entry.leaveTimer = undefined;
      }
      return;
    }
    this.touch(channel, state, member.sub);
    state.entries.set(member.sub, { member, infoJson: JSON.stringify(member.info), connections: new Set([connection]), leaveTimer: undefined });
  }

  exit(channel: string, sub: string, connection: object): void {
    const state = this.channels.get(channel);
    const entry = state?.entries.get(sub);
    if (!state || !entry?.connections.delete(connection) || entry.connections.size > 0) return;
    entry.leaveTimer = this.timers.set(() => {
      entry.leaveTimer = undefined;
      if (state.entries.get(sub) !== entry || entry.connections.size > 0) return;
      this.touch(channel, state, sub);
      state.entries.delete(sub);
    }, this.options.graceMs);
  }

  snapshot(channel: string): Promise<PresenceSnapshot> {
    return Promise.resolve(this.snapshotNow(channel));
  }

  /** Tells the changes of `channel` gathered so far now, instead of at the end of their window. */
  flushNow(channel: string): void {
    const state = this.channels.get(channel);
    if (state?.flushTimer === undefined) return;
    this.timers.clear(state.flushTimer);
    this.flush(channel, state);
  }

  /** Every channel with its members (those in their grace too). */
  *all(): Iterable<[string, Member[]]> {
    for (const [channel, state] of this.channels) if (state.entries.size > 0) yield [channel, [...state.entries.values()].map((e) => e.member)];
  }

  close(): void {
    for (const state of this.channels.values()) {
      this.timers.clear(state.flushTimer);
      for (const entry of state.entries.values()) this.timers.clear(entry.leaveTimer);
    }
    this.channels.clear();
  }

  /** Members of a channel now, for tests and the snapshot. */
  private snapshotNow(channel: string): PresenceSnapshot {
    const entries = this.channels.get(channel)?.entries;
    const count = entries?.size ?? 0;
    if (count > this.options.maxMembers) return { count, members: undefined };
    return { count, members: entries ? [...entries.values()].map((e) => e.member) : [] };
  }

  /** Remembers what was announced of `sub` before its first change in this window, and arms the window. */
  private touch(channel: string, state: ChannelPresence, sub: string): void {
    if (!state.before.has(sub)) state.before.set(sub, state.entries.get(sub)?.infoJson ?? null);
    if (state.flushTimer === undefined) state.flushTimer = this.timers.set(() => this.flush(channel, state), this.options.coalesceMs);
  }

  private flush(channel: string, state: ChannelPresence): void {
    state.flushTimer = undefined;
    const { before, entries } = state;
    const count = entries.size;
    if (count > this.options.maxMembers) {
      if (!state.truncated) this.options.onNotice({ kind: 'truncated', channel, count });
      state.truncated = true;
    } else if (state.truncated) {
      state.truncated = false;
      this.options.onNotice({ kind: 'snapshot', channel, members: [...entries.values()].map((e) => e.member), count });
    } else {
      const joined: Member[] = [];
      const left: string[] = [];
      for (const [sub, was] of before) {
        const now = entries.get(sub);
        if (!now) {
          if (was !== null) left.push(sub);
        } else if (was !== now.infoJson) {
          joined.push(now.member);
        }
      }
      if (joined.length > 0 || left.length > 0) this.options.onNotice({ kind: 'changes', channel, joined, left });
    }
    before.clear();
    if (entries.size === 0 && !state.truncated) this.channels.delete(channel);
  }
}
