import type { Writable } from 'node:stream';
import type { EventFrames } from './event-frames.js';

export type Transport = 'ws' | 'sse';

/**
 * Where one connection's events go: a WebSocket session or an SSE stream. Fan-out enqueues,
 * then flushes every touched sink once per committed batch, so a batch of events becomes one
 * write per peer.
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
   * Writes what was queued. With `live`, a peer whose send buffer passed the limit is
   * closed as a slow consumer (WebSocket 4008); a replay paces itself instead.
   */
  flush(live: boolean): void;
  /** Bytes queued to the peer and not yet handed to the kernel. */
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
