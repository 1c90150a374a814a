import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../src/domain/retry-after.js';

const NOW = Date.parse('2026-01-20T12:00:00Z');

describe('parseRetryAfter', () => {
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 5 ', NOW)).toBe(5000);
  });

  it('reads HTTP dates (IMF-fixdate, RFC 850, asctime)', () => {
    expect(parseRetryAfter('Tue, 20 Jan 2026 12:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Tuesday, 20-Jan-26 12:01:00 GMT', NOW)).toBe(60_000);
    expect(parseRetryAfter('Tue Jan 20 12:00:10 2026', NOW)).toBeGreaterThanOrEqual(0);
  });

  it('a date in the past means now', () => {
    expect(parseRetryAfter('Mon, 19 Jan 2026 12:00:00 GMT', NOW)).toBe(0);
  });

  it('ignores what it cannot read', () => {
    for (const v of [undefined, '', 'soon', '-5', '1.5', '12abc', 'Xyz, 99 Foo 2026']) expect(parseRetryAfter(v, NOW)).toBeUndefined();
  });

  it('clamps absurd waits', () => {
    expect(parseRetryAfter('999999999999', NOW)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('Fri, 01 Jan 2100 00:00:00 GMT', NOW)).toBe(MAX_RETRY_AFTER_MS);
  });
});
