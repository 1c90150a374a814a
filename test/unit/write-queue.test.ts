import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Timers } from '../../src/clock.js';
import { WriteQueue, WriteScheduler } from '../../src/realtime/write-queue.js';

/** Timers fired by hand. */
class ManualTimers implements Timers {
  private next = 1;
  readonly armed = new Map<number, { fn: () => void; ms: number }>();
  set(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.armed.set(id, { fn, ms });
    return id;
  }
  clear(handle: unknown): void {
    this.armed.delete(handle as number);
  }
  fire(): void {
    const due = [...this.armed.values()];
    this.armed.clear();
    for (const t of due) t.fn();
  }
}

/** A stream that records each write call (a writev counts once) and drains only when told. */
class Peer extends Writable {
  readonly writes: string[] = [];
  private held: (() => void) | undefined;
  constructor(private readonly stalled = false) {
    super({ highWaterMark: 16 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.writes.push(chunk.toString());
    if (this.stalled) this.held = done;
    else done();
  }
  override _writev(chunks: { chunk: Buffer }[], done: () => void): void {
    this.writes.push(chunks.map((c) => c.chunk.toString()).join('|'));
    if (this.stalled) this.held = done;
    else done();
  }
  release(): void {
    this.held?.();
  }
}

class TestQueue extends WriteQueue {
  open = true;
  slow: number[] = [];
  isOpen(): boolean {
    return this.open;
  }
  protected closeSlow(buffered: number): void {
    this.slow.push(buffered);
    this.open = false;
  }
  /** What a control frame does first (WsSession.send, SseStream.write); a close passes false. */
  beforeControlFrame(checkSlow = true): void {
    this.writePending(checkSlow);
  }
}

function setup(opts: { delayMs?: number; maxBytes?: number; sendBufferBytes?: number; stalled?: boolean } = {}) {
  const timers = new ManualTimers();
  const scheduler = new WriteScheduler(opts.delayMs ?? 2, opts.maxBytes ?? 1024, timers);
  const peer = new Peer(opts.stalled);
  const queue = new TestQueue(peer, opts.sendBufferBytes ?? 1 << 20, scheduler);
  return { timers, scheduler, peer, queue };
}

const b = (s: string): Buffer => Buffer.from(s);

describe('WriteQueue and WriteScheduler (write coalescing)', () => {
  it('writes the live batches of one window in one write, in order, when the window closes', () => {
    const { timers, peer, queue } = setup();
    queue.enqueueBytes(b('a'));
    queue.flush(true);
    queue.enqueueBytes(b('b'));
    queue.enqueueBytes(b('c'));
    queue.flush(true);
    expect(peer.writes).toEqual([]);
    expect(queue.buffered()).toBe(3);
    expect([...timers.armed.values()].map((t) => t.ms)).toEqual([2]);
    timers.fire();
    expect(peer.writes).toEqual(['abc']);
    expect(queue.buffered()).toBe(0);
    // The next live batch opens a new window.
    queue.enqueueBytes(b('d'));
    queue.flush(true);
    expect(timers.armed.size).toBe(1);
    timers.fire();
    expect(peer.writes).toEqual(['abc', 'd']);
  });

  it('arms one timer per window for every connection', () => {
    const { timers, scheduler } = setup();
    const peers = Array.from({ length: 3 }, () => new Peer());
    const queues = peers.map((p) => new TestQueue(p, 1 << 20, scheduler));
    for (const [i, q] of queues.entries()) {
      q.enqueueBytes(b(String(i)));
      q.flush(true);
    }
    expect(timers.armed.size).toBe(1);
    timers.fire();
    expect(peers.map((p) => p.writes)).toEqual([['0'], ['1'], ['2']]);
  });

  it('writes at once with no window (delay 0)', () => {
    const { timers, peer, queue } = setup({ delayMs: 0 });
    queue.enqueueBytes(b('a'));
    queue.flush(true);
    expect(peer.writes).toEqual(['a']);
    expect(timers.armed.size).toBe(0);
  });

  it('writes at once when the queue reaches the byte bound, and stays one write per bound', () => {
    const { timers, peer, queue } = setup({ maxBytes: 4 });
    queue.enqueueBytes(b('ab'));
    queue.flush(true);
    expect(peer.writes).toEqual([]);
    queue.enqueueBytes(b('cd'));
    queue.flush(true); // 4 bytes: the bound
    expect(peer.writes).toEqual(['abcd']);
    // More than the bound in one batch: written at once, chunk by chunk in one corked write.
    queue.enqueueBytes(b('efg'));
    queue.enqueueBytes(b('hij'));
    queue.flush(true);
    expect(peer.writes).toEqual(['abcd', 'efg|hij']);
    timers.fire(); // the window of the first batch: nothing left to write
    expect(peer.writes).toEqual(['abcd', 'efg|hij']);
  });

  it('writes a replay page (not live) at once, after the live bytes queued before it', () => {
    const { timers, peer, queue } = setup();
    queue.enqueueBytes(b('live1'));
    queue.flush(true);
    queue.enqueueBytes(b('page'));
    queue.flush(false);
    expect(peer.writes).toEqual(['live1page']);
    queue.enqueueBytes(b('live2'));
    queue.flush(true); // still in the first window
    expect(timers.armed.size).toBe(1);
    timers.fire();
    expect(peer.writes).toEqual(['live1page', 'live2']);
  });

  it('writes what waits before a control frame, so an ack or a close never overtakes an event', () => {
    const { timers, peer, queue } = setup();
    queue.beforeControlFrame(); // nothing queued: nothing written
    expect(peer.writes).toEqual([]);
    queue.enqueueBytes(b('event'));
    queue.flush(true);
    queue.beforeControlFrame();
    peer.write('ack');
    timers.fire();
    expect(peer.writes).toEqual(['event', 'ack']);
  });

  it('drops what waits when the peer closed before the window closed', () => {
    const { timers, peer, queue } = setup();
    queue.enqueueBytes(b('event'));
    queue.flush(true);
    queue.open = false;
    expect(() => timers.fire()).not.toThrow();
    expect(peer.writes).toEqual([]);
    expect(queue.buffered()).toBe(0);
    // Closed: later flushes write nothing either.
    queue.enqueueBytes(b('more'));
    queue.flush(false);
    expect(peer.writes).toEqual([]);
  });

  it('closes a live peer whose send buffer passed the limit once the window is written, not a replay', () => {
    const { timers, peer, queue } = setup({ stalled: true, sendBufferBytes: 8, maxBytes: 1024 });
    queue.enqueueBytes(b('0123456789')); // a replay page past the limit: it paces itself, no close
    queue.flush(false);
    expect(queue.slow).toEqual([]);
    queue.enqueueBytes(b('abcdef'));
    queue.flush(true);
    expect(queue.slow).toEqual([]); // not written yet
    expect(queue.buffered()).toBe(16);
    timers.fire();
    expect(queue.slow).toEqual([16]);
    expect(peer.writes).toEqual(['0123456789']); // the stream holds the rest in its buffer
    peer.release();
  });

  it('writes what waits before a close without judging the peer slow (it is being closed)', () => {
    const { peer, queue } = setup({ stalled: true, sendBufferBytes: 4 });
    queue.enqueueBytes(b('0123456789'));
    queue.flush(true);
    queue.beforeControlFrame(false);
    expect(peer.writes).toEqual(['0123456789']);
    expect(queue.slow).toEqual([]);
    peer.release();
  });

  it('flushAll closes the window at once', () => {
    const { timers, scheduler, peer, queue } = setup();
    queue.enqueueBytes(b('x'));
    queue.flush(true);
    scheduler.flushAll();
    expect(peer.writes).toEqual(['x']);
    expect(timers.armed.size).toBe(0);
  });
});
