/**
 * RFC 6455 §5.2 framing of one unmasked, unfragmented text frame, as a server sends it.
 *
 * Fan-out frames an event once and writes the same bytes to every subscriber's socket,
 * instead of letting `ws` build a header per send. This is safe beside `ws`'s own writes
 * because the hub never enables permessage-deflate nor sends Blobs: `ws`'s sender then
 * writes each frame synchronously, so frames from both never interleave.
 */
export function encodeTextFrame(payload: string): Buffer {
  const length = Buffer.byteLength(payload);
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81; // FIN + opcode 1 (text)
  if (header === 2) {
    frame[1] = length;
  } else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.write(payload, header, 'utf8');
  return frame;
}
