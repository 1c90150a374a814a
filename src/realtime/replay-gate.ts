/**
 * The bookkeeping that makes one subscription deliver every event of its channel exactly
 * once, in log order, across the switch from replaying the store to live fan-out.
 *
 * The subscription registers for live events *before* it reads the store, so nothing
 * committed during the replay can slip between the two. While replaying, live events are
 * held; once a store read comes back short (caught up), the held events newer than the last
 * replayed one are released and the gate goes live. Sequence numbers make the skip exact.
 *
 * Holding is bounded: past `maxHeld` the held events are dropped and the replay simply reads
 * on, since every held event is in the store anyway. The gate then asks for one more read
 * before it goes live, so an event committed while the last read was under way (a store that
 * reads asynchronously) is still found.
 */
export class ReplayGate<T> {
  private last: number;
  private held: Array<{ seq: number; item: T }> | null;
  private overflowed = false;

  /**
   * @param afterSeq the position delivery starts after (the resume cursor, or the head)
   * @param replaying true when the store must be read from `afterSeq` first
   * @param maxHeld live events held during the replay before falling back to the store
   */
  constructor(
    afterSeq: number,
    replaying: boolean,
    private readonly maxHeld: number,
  ) {
    this.last = afterSeq;
    this.held = replaying ? [] : null;
  }

  /**
   * The start position became known: a subscription registers (and holds live events)
   * before it reads the log's position, so nothing committed in between slips past it. Call
   * while holding, before anything is replayed; held events at or before `seq` are skipped.
   */
  startAfter(seq: number): void {
    this.last = seq;
  }

  /** The position of the last event delivered (or the start position). */
  get lastSeq(): number {
    return this.last;
  }

  get replaying(): boolean {
    return this.held !== null;
  }

  /** A live event was committed: true when it goes out now (the caller sends it). */
  live(seq: number, item: T): boolean {
    if (seq <= this.last) return false;
    if (this.held !== null) {
      if (this.held.length < this.maxHeld) this.held.push({ seq, item });
      else {
        this.held.length = 0;
        this.overflowed = true;
      }
      return false;
    }
    this.last = seq;
    return true;
  }

  /** Whether a replayed event goes out (it does unless already delivered), recording it. */
  replayed(seq: number): boolean {
    if (seq <= this.last) return false;
    this.last = seq;
    return true;
  }

  /**
   * Gives the replay up (the store no longer holds what it was to send) and goes live after
   * `seq`, the head. Returns the held events newer than that, to send (normally none: what
   * fan-out offered is at or before the head).
   */
  abandon(seq: number): T[] {
    const newer = (this.held ?? []).filter((h) => h.seq > seq); // in log order
    this.last = newer.at(-1)?.seq ?? seq;
    this.held = null;
    this.overflowed = false;
    return newer.map((h) => h.item);
  }

  /**
   * The store read came back short. Returns the held events to send, oldest first, and goes
   * live; or null when the held events overflowed and the store must be read once more.
   */
  caughtUp(): T[] | null {
    if (this.held === null) return [];
    if (this.overflowed) {
      this.overflowed = false;
      return null;
    }
    const out: T[] = [];
    for (const { seq, item } of this.held) {
      if (seq > this.last) {
        out.push(item);
        this.last = seq;
      }
    }
    this.held = null;
    return out;
  }
}
