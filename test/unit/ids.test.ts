import { describe, expect, it } from 'vitest';
import { systemRandom } from '../../src/clock.js';
import { newId } from '../../src/domain/ids.js';

describe('newId', () => {
  it('is a prefixed 26-character Crockford ULID', () => {
    expect(newId('evt', { now: () => 0 }, { float: () => 0, bytes: (n) => Buffer.alloc(n) })).toBe(`evt_${'0'.repeat(26)}`);
    expect(newId('dlv', { now: () => Date.now() }, systemRandom)).toMatch(/^dlv_[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  it('encodes the time first, so ids sort by creation millisecond', () => {
    const at = (ms: number) => newId('evt', { now: () => ms }, systemRandom);
    const ids = [1, 2, 1_000, 1_700_000_000_000, 1_700_000_000_001].map(at);
    expect([...ids].sort()).toEqual(ids);
    expect(at(1_769_000_000_000).slice(4, 14)).toBe(at(1_769_000_000_000).slice(4, 14));
  });

  it('puts all 80 random bits in the last 16 characters', () => {
    const ones = newId('x', { now: () => 0 }, { float: () => 0, bytes: (n) => Buffer.alloc(n, 0xff) });
    expect(ones.slice(-16)).toBe('Z'.repeat(16));
  });

  it('does not repeat', () => {
    const seen = new Set(Array.from({ length: 10_000 }, () => newId('evt', { now: () => 5 }, systemRandom)));
    expect(seen.size).toBe(10_000);
  });
});
