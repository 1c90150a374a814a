/**
 * RFC 6455 §5.2 framing of one unmasked, unfragmented text frame, as a server sends it.
 *
 * Fan-out frames an event once and writes the same bytes to every subscriber's socket,
 * instead of letting `ws` build a header per send. This is safe beside `ws`'s own writes
 * because the hub never enables permessage-deflate nor sends Blobs: `ws`'s sender then
 * writes each frame synchronously, so frames from both never interleave.
 */
export function encodeTextFrame(payload: string): Buffer {
  return encodeTextFrames([payload]);
}

/** Several frames back to back in one buffer (a replay page: one allocation, one write). */
export function encodeTextFrames(payloads: readonly string[]): Buffer {
  const lengths = payloads.map((p) => Buffer.byteLength(p));
  let total = 0;
  for (const length of lengths) total += headerSize(length) + length;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  payloads.forEach((payload, i) => {
    const length = lengths[i]!;
    const header = headerSize(length);
    out[at] = 0x81; // FIN + opcode 1 (text)
    if (header === 2) {
      out[at + 1] = length;
    } else if (header === 4) {
      out[at + 1] = 126;
      out.writeUInt16BE(length, at + 2);
    } else {
      out[at + 1] = 127;
      out.writeUInt32BE(Math.floor(length / 2 ** 32), at + 2);
      out.writeUInt32BE(length >>> 0, at + 6);
    }
    at += header;
    at += out.write(payload, at, 'utf8');
  });
  return out;
}

/** 2 bytes up to 125, then a 16-bit length, then a 64-bit one. */
function headerSize(length: number): number {
  return length < 126 ? 2 : length < 65_536 ? 4 : 10;
}
