import type { CursorCodec } from '../domain/cursor.js';
import type { Store } from '../store/index.js';
import { encodePage, type EventFrames } from './event-frames.js';
import { ReplayGate } from './replay-gate.js';
import type { Sink } from './sink.js';

export interface ReplayDeps {
  store: Store;
  codec: CursorCodec;
  /** Most events read per step (adapted down for large events). */
  pageSize: number;
  /** Pages are sized to about this many bytes (half the send-buffer limit); after each, the replay waits for the peer to drain. */
  pauseBytes: number;
}

/**
 * One channel subscribed by one sink. Fan-out offers it live events; a resuming subscription
 * first replays the store (see ReplayGate for why nothing is missed or repeated).
 */
export class Subscription {
  private readonly gate: ReplayGate<EventFrames>;
  private cancelled = false;
  /** Retention pruned events this replay had not sent yet; the peer was told, and it went live. */
  overtaken = false;
  /** Subscribed with `presence: true`: the channel's join and leave frames go to it too. */
  presence = false;

  constructor(
    readonly channel: string,
    readonly sink: Sink,
    maxHeld: number,
  ) {
    // Holding from the start: the position it starts after is read once it is registered.
    this.gate = new ReplayGate(0, true, maxHeld);
  }

  /** Where delivery starts: every event of the channel after `seq`. Call once, before replay or goLive. */
  startAfter(seq: number): void {
    this.gate.startAfter(seq);
  }

  /**
   * Live from the start position without a replay: sends what was held since registering
   * (newer than the start), or reads the store on when too much was held. Resolves with how
   * many events it sent.
   */
  async goLive(deps: ReplayDeps): Promise<number> {
    const held = this.gate.caughtUp();
    if (held === null) return this.replay(deps);
    if (this.cancelled || held.length === 0) return 0;
    for (const frames of held) this.sink.enqueue(frames);
    this.sink.flush(false);
    return held.length;
  }

  /** A committed live event of this channel: true when it was queued on the sink. */
  offer(frames: EventFrames): boolean {
    if (this.cancelled || !this.gate.live(frames.seq, frames)) return false;
    this.sink.enqueue(frames);
    return true;
  }

  /** Stops delivery (unsubscribe, replaced, or the peer left); a running replay stops too. */
  cancel(): void {
    this.cancelled = true;
  }

  get active(): boolean {
    return !this.cancelled && this.sink.isOpen();
  }

  /**
   * Reads the store after the start position and sends it, paced by the peer, until caught
   * up; then releases the held live events and goes live. Resolves with how many events it
   * sent (so far, when cancelled or the peer left).
   *
   * A slow replay from a cursor near the retention limit can be overtaken by retention, which
   * prunes the oldest events first: a read would then skip what was pruned. Each read comes
   * with the pruned prefix it was made at; past the replay's position, the page is dropped and
   * the peer is told what a subscribe with that cursor would get now (cursor expired), and it
   * goes live from the head read: never a silent gap.
   */
  async replay({ store, codec, pageSize, pauseBytes }: ReplayDeps): Promise<number> {
    let sent = 0;
    let limit = pageSize;
    for (;;) {
      if (!this.active) return sent;
      const asked = limit;
      // The page comes with the log's position at the read: when retention had pruned past
      // the start of the page by then, the page has a hole, and the replay gives up instead.
      const { events: page, head, prunedThrough } = await store.readChannel(this.channel, this.gate.lastSeq, asked);
      if (!this.active) return sent;
      if (prunedThrough > this.gate.lastSeq) return sent + this.giveUp(head, codec);
      const fresh = page.filter((event) => this.gate.replayed(event.seq));
      if (fresh.length > 0) {
        const bytes = encodePage(fresh, codec, this.sink.transport);
        this.sink.enqueueBytes(bytes);
        this.sink.flush(false);
        sent += fresh.length;
        // Large events: read fewer per step, so one page stays near the pause threshold.
        limit = Math.max(1, Math.min(pageSize, Math.floor((pauseBytes * fresh.length) / bytes.length)));
      }
      if (page.length < asked) {
        const held = this.gate.caughtUp();
        if (held !== null) {
          for (const frames of held) this.sink.enqueue(frames);
          this.sink.flush(false);
          return sent + held.length;
        }
      }
      await this.sink.drained();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Retention overtook the replay: the gap notice, then live after the head. Returns the events it sent. */
  private giveUp(head: number, codec: CursorCodec): number {
    this.overtaken = true;
    const newer = this.gate.abandon(head);
    this.sink.enqueueGap(this.channel, 'cursor_expired', codec.encode(head));
    for (const frames of newer) this.sink.enqueue(frames);
    this.sink.flush(false);
    return newer.length;
  }
}
