import type { MemberRow, PresenceRows } from '../store/store.js';
import type { Member, PresenceNotice, PresenceSnapshot } from './presence.js';

/** A stored member as presence shows it. */
export function memberOfRow(row: MemberRow): Member {
  return { sub: row.sub, info: JSON.parse(row.info) as Record<string, unknown> };
}

/** A read of the store as a snapshot: no list past the member limit. */
export function snapshotOf(read: PresenceRows, maxMembers: number): PresenceSnapshot {
  return { count: read.count, members: read.count > maxMembers ? undefined : read.members.map(memberOfRow) };
}

/**
 * What this hub last told a channel's presence subscriptions, and the notice each new read of
 * the store makes of it: the net difference (leaves, then joins; a join of a member already
 * announced means its info changed), or the crossing of the member limit. The first read is
 * the baseline and tells nothing: a subscriber asks for its snapshot.
 */
export class PresenceView {
  /** sub → info as JSON; undefined until the first read. Empty while truncated. */
  private announced: Map<string, string> | undefined;
  private truncated = false;
  private count = 0;

  constructor(
    readonly channel: string,
    private readonly maxMembers: number,
  ) {}

  get loaded(): boolean {
    return this.announced !== undefined;
  }

  apply(read: PresenceRows): PresenceNotice | undefined {
    const { channel } = this;
    const first = this.announced === undefined;
    const wasTruncated = this.truncated;
    this.count = read.count;
    if (read.count > this.maxMembers) {
      this.truncated = true;
      this.announced = new Map();
      return first || wasTruncated ? undefined : { kind: 'truncated', channel, count: read.count };
    }
    const before = this.announced;
    const next = new Map(read.members.map((m) => [m.sub, m.info]));
    this.announced = next;
    this.truncated = false;
    if (first) return undefined;
    if (wasTruncated) return { kind: 'snapshot', channel, members: read.members.map(memberOfRow), count: read.count };
    const left = [...before!.keys()].filter((sub) => !next.has(sub));
    const joined = read.members.filter((m) => before!.get(m.sub) !== m.info).map(memberOfRow);
    return left.length > 0 || joined.length > 0 ? { kind: 'changes', channel, joined, left } : undefined;
  }

  /** What was last announced, as a snapshot: in step with the join and leave frames sent. */
  snapshot(): PresenceSnapshot {
    if (this.truncated || !this.announced) return { count: this.count, members: this.truncated ? undefined : [] };
    return { count: this.count, members: [...this.announced].map(([sub, info]) => memberOfRow({ sub, info })) };
  }
}
