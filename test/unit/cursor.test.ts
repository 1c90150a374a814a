import { describe, expect, it } from 'vitest';
import { checkResume, cursorCodec, newEpoch } from '../../src/domain/cursor.js';

const codec = cursorCodec('abcdefghij');

describe('cursor codec', () => {
  it('round-trips positions from 0 to the largest safe integer', () => {
    for (const seq of [0, 1, 35, 36, 1_000_000, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
      expect(codec.decode(codec.encode(seq))).toEqual({ ok: true, seq });
    }
  });

  it('recognises a cursor from another database', () => {
    const other = cursorCodec('zzzzzzzzzz');
    expect(codec.decode(other.encode(5))).toEqual({ ok: false, reason: 'foreign_cursor' });
  });

  it.each(['', 'abc', 'abcdefghij', 'abcdefghij-', 'abcdefghij-A', 'abcdefghij-1-2', 'ABCDEFGHIJ-1', 'abcdefghij-zzzzzzzzzzzz', ' abcdefghij-1', 'abcdefghi1-1'])(
    'rejects the malformed cursor %j',
    (cursor) => {
      expect(codec.decode(cursor)).toEqual({ ok: false, reason: 'malformed' });
    },
  );

  it('rejects a position beyond the safe integer range', () => {
    expect(codec.decode('abcdefghij-zzzzzzzzzzz')).toEqual({ ok: false, reason: 'malformed' });
  });

  it('makes epochs of 10 base32 characters from random bytes', () => {
    expect(newEpoch(Buffer.alloc(10, 255))).toBe('7777777777');
    expect(() => newEpoch(Buffer.alloc(9))).toThrow(RangeError);
    expect(() => cursorCodec('short')).toThrow(RangeError);
  });
});

describe('checkResume', () => {
  const log = { prunedThrough: 10, head: 20 };
  it('accepts cursors from the pruned edge to the head', () => {
    expect(checkResume(codec.encode(10), codec, log)).toEqual({ ok: true, seq: 10 });
    expect(checkResume(codec.encode(20), codec, log)).toEqual({ ok: true, seq: 20 });
  });
  it('calls a cursor before the pruned edge expired', () => {
    expect(checkResume(codec.encode(9), codec, log)).toEqual({ ok: false, reason: 'cursor_expired' });
  });
  it('calls a cursor past the head foreign (a restored database never issued it)', () => {
    expect(checkResume(codec.encode(21), codec, log)).toEqual({ ok: false, reason: 'foreign_cursor' });
  });
  it('passes malformed and foreign through', () => {
    expect(checkResume('nope', codec, log)).toEqual({ ok: false, reason: 'malformed' });
    expect(checkResume(cursorCodec('bbbbbbbbbb').encode(15), codec, log)).toEqual({ ok: false, reason: 'foreign_cursor' });
  });
});
