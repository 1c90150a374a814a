import type { CursorCodec } from '../domain/cursor.js';
import type { EventsRepo } from '../store/events.js';
import { encodePage, type EventFrames } from './event-frames.js';
import { ReplayGate } from './replay-gate.js';
import type { Sink } from './sink.js';

export interface ReplayDeps {
  events: EventsRepo;
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

  constructor(
    readonly channel: string,
    readonly sink: Sink,
    afterSeq: number,
    replaying: boolean,
    maxHeld: number,
  ) {
    this.gate = new ReplayGate(afterSeq, replaying, maxHeld);
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
   * prunes the oldest events first: the next read would then skip what was pruned. Before
   * each read it checks, and if so tells the peer what a subscribe with that cursor would get
   * now (cursor expired) and goes live from the head: never a silent gap.
   */
  async replay({ events, codec, pageSize, pauseBytes }: ReplayDeps): Promise<number> {
    let sent = 0;
    let limit = pageSize;
    for (;;) {
      if (!this.active) return sent;
      if (events.prunedThrough() > this.gate.lastSeq) return sent + this.giveUp(events.headSeq(), codec);
      const asked = limit;
      const page = events.listChannelAfter(this.channel, this.gate.lastSeq, asked);
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
