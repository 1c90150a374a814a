/**
 * Cursors are opaque to clients: `<epoch>-<sequence in base 36>`. The epoch is random per
 * database, so a cursor from another (or a wiped) database is recognised, never misread.
 */
export type CursorDecode =
  | { ok: true; seq: number }
  | { ok: false; reason: 'malformed' | 'foreign_cursor' };

const EPOCH_RE = /^[a-z2-7]{10}$/;
const CURSOR_RE = /^([a-z2-7]{10})-([0-9a-z]{1,11})$/;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

export interface CursorCodec {
  readonly epoch: string;
  encode(seq: number): string;
  decode(cursor: string): CursorDecode;
}

/** A fresh database epoch: 10 base32 characters (50 random bits). */
export function newEpoch(bytes: Buffer): string {
  if (bytes.length < 10) throw new RangeError('newEpoch needs 10 random bytes');
  let out = '';
  for (let i = 0; i < 10; i++) out += BASE32[bytes[i]! & 31];
  return out;
}

export function cursorCodec(epoch: string): CursorCodec {
  if (!EPOCH_RE.test(epoch)) throw new RangeError(`invalid cursor epoch ${JSON.stringify(epoch)}`);
  const prefix = `${epoch}-`;
  return {
    epoch,
    encode: (seq) => prefix + seq.toString(36),
    decode(cursor) {
      const m = CURSOR_RE.exec(cursor);
      if (!m) return { ok: false, reason: 'malformed' };
      const seq = parseInt(m[2]!, 36);
      if (!Number.isSafeInteger(seq)) return { ok: false, reason: 'malformed' };
      if (m[1] !== epoch) return { ok: false, reason: 'foreign_cursor' };
      return { ok: true, seq };
    },
  };
}

export type ResumeCheck =
  | { ok: true; seq: number }
  | { ok: false; reason: 'malformed' | 'foreign_cursor' | 'cursor_expired' };

/**
 * Whether the log can be read on from `cursor` with nothing missing. Positions up to
 * `prunedThrough` are gone, so a cursor before them may have missed pruned events; a cursor
 * past `head` was never issued by this log (a restored database), so it is foreign.
 */
export function checkResume(
  cursor: string,
  codec: CursorCodec,
  log: { prunedThrough: number; head: number },
): ResumeCheck {
  const decoded = codec.decode(cursor);
  if (!decoded.ok) return decoded;
  if (decoded.seq > log.head) return { ok: false, reason: 'foreign_cursor' };
  if (decoded.seq < log.prunedThrough) return { ok: false, reason: 'cursor_expired' };
  return decoded;
}
