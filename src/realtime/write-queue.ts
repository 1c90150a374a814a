import type { Writable } from 'node:stream';
import { systemTimers, type Timers } from '../clock.js';

/**
 * Write coalescing on the fan-out path (Centrifugo calls it write delay). A committed batch
 * queues its events on each subscriber's connection; instead of a socket write per
 * connection per batch, the connections with bytes waiting are written when the current
 * window closes, `delayMs` after the first live bytes of the window were queued: the
 * deliveries that became ready meanwhile (later commits, presence notices) go out in one
 * write. Each event stays one complete WebSocket frame (or SSE message), so the wire is the
 * same; only how many frames share a `write` (a TCP segment) changes. A connection whose
 * queue reaches `maxBytes` is written at once; replay pages and control frames are too,
 * after what was queued before them, so nothing is reordered.
 *
 * One timer per window for the whole hub, not one per connection.
 */
export class WriteScheduler {
  private due: WriteQueue[] = [];
  private timer: unknown;

  /**
   * @param delayMs how long a window stays open; 0: every flush writes at once
   * @param maxBytes a queue holding this much is written at once (and is one buffer up to it)
   */
  constructor(
    readonly delayMs: number,
    readonly maxBytes: number,
    private readonly timers: Timers = systemTimers,
  ) {}

  /** Writes `queue` when the window closes, opening one if none is open. */
  later(queue: WriteQueue): void {
    this.due.push(queue);
    this.timer ??= this.timers.set(this.fire, this.delayMs);
  }

  /** Closes the window now: writes every queue waiting (shutdown, tests). */
  flushAll(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.fire();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const { due } = this;
    this.due = [];
    for (const queue of due) queue.writeDue();
  };
}

/**
 * One connection's bytes waiting to be written to its stream (the upgraded socket, the SSE
 * response), in order. A live flush waits for the scheduler's window; then a peer whose send
 * buffer passed `sendBufferBytes` is handed to `closeSlow`, as before coalescing.
 */
export abstract class WriteQueue {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** In the scheduler's current window. */
  private scheduled = false;

  constructor(
    protected readonly out: Writable,
    private readonly sendBufferBytes: number,
    private readonly scheduler: WriteScheduler,
  ) {}

  /** False once the peer is gone or closing: what is queued is dropped, not written. */
  abstract isOpen(): boolean;
  /** The peer fell `buffered` bytes behind: count it and close it. */
  protected abstract closeSlow(buffered: number): void;

  /** Queues bytes already encoded for this transport. */
  enqueueBytes(bytes: Buffer): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
  }

  /**
   * Writes what was queued: `live` (fan-out) when the window closes, or at once when the
   * queue reached the scheduler's byte bound or there is no window; otherwise (a replay
   * page, which paces itself on the peer's drain) at once.
   */
  flush(live: boolean): void {
    if (this.pending.length === 0) return;
    if (!live) return this.writeOut(false);
    if (this.scheduler.delayMs === 0 || this.pendingBytes >= this.scheduler.maxBytes) return this.writeOut(true);
    if (this.scheduled) return;
    this.scheduled = true;
    this.scheduler.later(this);
  }

  /**
   * Writes what waits for the window now: before a frame that must follow it (an ack, a
   * close). `checkSlow` false: the caller is closing the peer anyway.
   */
  protected writePending(checkSlow = true): void {
    if (this.pending.length > 0) this.writeOut(checkSlow && this.scheduled);
  }

  /** Bytes queued to the peer and not yet handed to the kernel. */
  buffered(): number {
    return this.out.writableLength + this.pendingBytes;
  }

  /** The window closed (WriteScheduler). */
  writeDue(): void {
    if (!this.scheduled) return;
    this.scheduled = false;
    if (this.pending.length > 0) this.writeOut(true);
  }

  private writeOut(live: boolean): void {
    const { pending, out } = this;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.isOpen()) return;
    if (pending.length === 1) out.write(pending[0]!);
    else if (bytes <= this.scheduler.maxBytes) out.write(Buffer.concat(pending, bytes));
    else {
      out.cork();
      for (const chunk of pending) out.write(chunk);
      out.uncork();
    }
    if (live && out.writableLength > this.sendBufferBytes) this.closeSlow(out.writableLength);
  }
}
