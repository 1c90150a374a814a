import type { CursorCodec } from '../domain/cursor.js';
import type { StoredEvent } from '../domain/envelope.js';
import { EventFrames } from './event-frames.js';
import type { Sink } from './sink.js';
import type { Subscription } from './subscription.js';

/**
 * Channel → its subscriptions. Fan-out of an event costs O(subscribers of its channel): one
 * map lookup, one serialisation, then the same bytes queued on each subscriber.
 */
export class ChannelRegistry {
  private readonly channels = new Map<string, Set<Subscription>>();
  private round = 0;
  private count = 0;
  /** A channel got its first subscription on this hub (true) or lost its last (false): presence books occupancy from it. */
  onOccupancy: ((channel: string, occupied: boolean) => void) | undefined;

  constructor(private readonly codec: CursorCodec) {}

  /** Subscriptions across all channels. */
  get size(): number {
    return this.count;
  }

  add(sub: Subscription): void {
    let set = this.channels.get(sub.channel);
    if (!set) {
      this.channels.set(sub.channel, (set = new Set()));
      this.onOccupancy?.(sub.channel, true);
    }
    if (!set.has(sub)) this.count++;
    set.add(sub);
  }

  remove(sub: Subscription): void {
    const set = this.channels.get(sub.channel);
    if (!set?.delete(sub)) return;
    this.count--;
    if (set.size === 0) {
      this.channels.delete(sub.channel);
      this.onOccupancy?.(sub.channel, false);
    }
  }

  /** The subscriptions of a channel (none: an empty iterable). */
  of(channel: string): Iterable<Subscription> {
    return this.channels.get(channel) ?? [];
  }

  /**
   * Delivers a committed batch, in log order: each event is offered to its channel's
   * subscriptions, then each touched sink is flushed once. Returns how many deliveries were
   * queued, by transport.
   */
  fanOut(events: readonly StoredEvent[]): { ws: number; sse: number } {
    const round = ++this.round;
    const touched: Sink[] = [];
    const delivered = { ws: 0, sse: 0 };
    for (const event of events) {
      const subs = this.channels.get(event.channel);
      if (!subs) continue;
      const frames = new EventFrames(event, this.codec);
      for (const sub of subs) {
        if (!sub.offer(frames)) continue;
        const { sink } = sub;
        delivered[sink.transport]++;
        if (sink.round !== round) {
          sink.round = round;
          touched.push(sink);
        }
      }
    }
    for (const sink of touched) sink.flush(true);
    return delivered;
  }
}
