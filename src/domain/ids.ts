import type { Clock, Random } from '../clock.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A ULID (48-bit millisecond time + 80 random bits, Crockford base32) behind a type prefix:
 * `evt_01JD6Z7…`. Time-ordered, so ids sort roughly by creation, and unique without a lookup.
 */
export function newId(prefix: string, clock: Clock, random: Random): string {
  let time = clock.now();
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[time % 32]! + out;
    time = Math.floor(time / 32);
  }
  const bytes = random.bytes(10);
  // 80 bits → 16 base32 characters, 5 bits at a time.
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD[(acc >> bits) & 31];
    }
  }
  return `${prefix}_${out}`;
}
