import type { Writable } from 'node:stream';
import type { EventFrames } from './event-frames.js';
import type { GapReason } from './frames.js';
import { WriteQueue } from './write-queue.js';

export type Transport = 'ws' | 'sse';

/**
 * Where one connection's events go: a WebSocket session or an SSE stream. Fan-out enqueues,
 * then flushes every touched sink once per committed batch; the sink writes what the batches
 * of one write window queued in one write per peer (write-queue.ts).
 */
export interface Sink {
  readonly transport: Transport;
  /** False once the peer is gone or closing: nothing more is written. */
  isOpen(): boolean;
  /** Queues one event for the next flush. */
  enqueue(frames: EventFrames): void;
  /** Queues bytes already encoded for this transport (a replay page). */
  enqueueBytes(bytes: Buffer): void;
  /**
   * Queues the notice that events after the peer's position are gone and delivery goes on
   * live after `cursor`: what a subscribe with an expired cursor gets (WebSocket: `subscribed`
   * with `resumed: false` and the reason; SSE: `event: reset`).
   */
  enqueueGap(channel: string, reason: GapReason, cursor: string): void;
  /**
   * Writes what was queued: with `live` (fan-out) when the write window closes, and then a
   * peer whose send buffer passed the limit is closed as a slow consumer (WebSocket 4008);
   * otherwise at once (a replay, which paces itself instead).
   */
  flush(live: boolean): void;
  /** Bytes queued to the peer (waiting for the window, or in the stream) and not yet handed to the kernel. */
  buffered(): number;
  /** Resolves once the send buffer emptied (at once if it is not backed up), or the peer left. */
  drained(): Promise<void>;
  /** Fan-out marks a sink once per batch; see registry.ts. */
  round: number;
}

/**
 * Resolves once a backed-up stream drained (at once when it is not backed up), or closed.
 * Both listeners go away together: replays wait here often, so nothing may pile up.
 */
export function drainedOrClosed(stream: Writable): Promise<void> {
  if (!stream.writableNeedDrain || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/**
 * A sink over a Node stream (the upgraded socket, the SSE response): encodes, and queues on
 * its WriteQueue, which writes a live batch when the write window closes (write-queue.ts)
 * and hands a live peer past `sendBufferBytes` to `closeSlow`.
 */
export abstract class StreamSink extends WriteQueue implements Sink {
  abstract readonly transport: Transport;
  round = 0;

  /** This transport's bytes for one event (shared by every subscriber). */
  protected abstract encode(frames: EventFrames): Buffer;
  /** This transport's bytes for a gap notice (see Sink.enqueueGap). */
  protected abstract gapNotice(channel: string, reason: GapReason, cursor: string): Buffer;

  enqueue(frames: EventFrames): void {
    this.enqueueBytes(this.encode(frames));
  }

  enqueueGap(channel: string, reason: GapReason, cursor: string): void {
    this.enqueueBytes(this.gapNotice(channel, reason, cursor));
  }

  drained(): Promise<void> {
    return drainedOrClosed(this.out);
  }
}
