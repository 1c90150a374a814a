import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayGate } from '../../src/realtime/replay-gate.js';

describe('ReplayGate', () => {
  it('live without replay: sends each newer event once', () => {
    const gate = new ReplayGate<number>(5, false, 10);
    expect(gate.live(5, 5)).toBe(false);
    expect(gate.live(6, 6)).toBe(true);
    expect(gate.live(6, 6)).toBe(false);
    expect(gate.lastSeq).toBe(6);
  });

  it('holds live events during the replay and releases only those the replay did not send', () => {
    const gate = new ReplayGate<number>(0, true, 10);
    expect(gate.live(3, 3)).toBe(false);
    expect(gate.live(4, 4)).toBe(false);
    expect(gate.replayed(1)).toBe(true);
    expect(gate.replayed(3)).toBe(true);
    expect(gate.caughtUp()).toEqual([4]);
    expect(gate.replaying).toBe(false);
    expect(gate.live(5, 5)).toBe(true);
  });

  it('asks for one more read when the held events overflowed', () => {
    const gate = new ReplayGate<number>(0, true, 1);
    gate.live(1, 1);
    gate.live(2, 2); // overflow: dropped, the store has them
    expect(gate.caughtUp()).toBeNull();
    expect(gate.replaying).toBe(true);
    gate.replayed(1);
    gate.replayed(2);
    expect(gate.caughtUp()).toEqual([]);
  });

  it('abandoned (retention overtook the replay): live after the head, held events at or before it dropped', () => {
    const gate = new ReplayGate<number>(0, true, 10);
    gate.replayed(1);
    gate.live(7, 7);
    gate.live(9, 9);
    expect(gate.abandon(8)).toEqual([9]); // 9 was offered after the head was read: still sent
    expect(gate.replaying).toBe(false);
    expect(gate.lastSeq).toBe(9);
    expect(gate.live(9, 9)).toBe(false);
    expect(gate.live(10, 10)).toBe(true);
  });

  /**
   * Model: a log of commits interleaved with a paged replay that reads asynchronously (it
   * sees a prefix of the log taken at some earlier moment). Whatever the interleaving and
   * hold limit, the delivered sequence is exactly every seq after the start, once, in order.
   */
  it('delivers every event exactly once, in order, for any interleaving', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.array(fc.constantFrom('commit', 'read', 'stale-read'), { maxLength: 80 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 4 }),
        (start, steps, maxHeld, pageSize) => {
          let head = start + 3; // events already in the log
          const gate = new ReplayGate<number>(start, true, maxHeld);
          const out: number[] = [];
          let snapshot = head; // what an asynchronous read started earlier can see
          const read = (visibleHead: number): void => {
            if (!gate.replaying) return;
            const page: number[] = [];
            for (let s = gate.lastSeq + 1; s <= visibleHead && page.length < pageSize; s++) page.push(s);
            for (const s of page) if (gate.replayed(s)) out.push(s);
            if (page.length < pageSize) {
              const held = gate.caughtUp();
              if (held) out.push(...held);
            }
          };
          for (const step of steps) {
            if (step === 'commit') {
              head++;
              if (gate.live(head, head)) out.push(head);
            } else if (step === 'read') {
              read(head);
              snapshot = head;
            } else {
              read(snapshot);
              snapshot = head;
            }
          }
          while (gate.replaying) read(head);
          const expected = Array.from({ length: head - start }, (_, i) => start + 1 + i);
          expect(out).toEqual(expected);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('ReplayGate started before its position is known', () => {
  it('holds from registration, then skips what the position read already covers', () => {
    const gate = new ReplayGate<number>(0, true, 10);
    expect(gate.live(4, 4)).toBe(false); // committed while the position was read: held
    expect(gate.live(6, 6)).toBe(false);
    gate.startAfter(5); // the head read: 5
    expect(gate.caughtUp()).toEqual([6]); // 4 is before the start: not sent
    expect(gate.lastSeq).toBe(6);
    expect(gate.live(6, 6)).toBe(false);
    expect(gate.live(7, 7)).toBe(true);
  });
});
