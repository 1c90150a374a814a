import type { Writable } from 'node:stream';
import type { EventFrames } from './event-frames.js';
import type { GapReason } from './frames.js';

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
   * Queues the notice that events after the peer's position are gone and delivery goes on
   * live after `cursor`: what a subscribe with an expired cursor gets (WebSocket: `subscribed`
   * with `resumed: false` and the reason; SSE: `event: reset`).
   */
  enqueueGap(channel: string, reason: GapReason, cursor: string): void;
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

/**
 * A sink over a Node stream (the upgraded socket, the SSE response): queues, writes a batch
 * in one corked go, and hands a live peer past `sendBufferBytes` to `closeSlow`.
 */
export abstract class StreamSink implements Sink {
  abstract readonly transport: Transport;
  round = 0;
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly out: Writable,
    private readonly sendBufferBytes: number,
  ) {}

  abstract isOpen(): boolean;
  /** This transport's bytes for one event (shared by every subscriber). */
  protected abstract encode(frames: EventFrames): Buffer;
  /** The peer fell `buffered` bytes behind: count it and close it. */
  protected abstract closeSlow(buffered: number): void;
  /** This transport's bytes for a gap notice (see Sink.enqueueGap). */
  protected abstract gapNotice(channel: string, reason: GapReason, cursor: string): Buffer;

  enqueue(frames: EventFrames): void {
    this.enqueueBytes(this.encode(frames));
  }

  enqueueBytes(bytes: Buffer): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
  }

  enqueueGap(channel: string, reason: GapReason, cursor: string): void {
    this.enqueueBytes(this.gapNotice(channel, reason, cursor));
  }

  flush(live: boolean): void {
    const { pending, out } = this;
    if (pending.length === 0) return;
    const open = this.isOpen();
    if (open) {
      if (pending.length === 1) out.write(pending[0]!);
      else {
        out.cork();
        for (const bytes of pending) out.write(bytes);
        out.uncork();
      }
    }
    pending.length = 0;
    this.pendingBytes = 0;
    if (open && live && out.writableLength > this.sendBufferBytes) this.closeSlow(out.writableLength);
  }

  buffered(): number {
    return this.out.writableLength + this.pendingBytes;
  }

  drained(): Promise<void> {
    return drainedOrClosed(this.out);
  }
}
