import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/webhooks/token-bucket.js';

describe('TokenBucket', () => {
  it('starts with a tenth of a second of tokens (at least one) and refills at the rate', () => {
    const b = new TokenBucket(100, 0);
    expect(b.available(0)).toBe(10);
    b.take(10, 0);
    expect(b.available(0)).toBe(0);
    expect(b.nextTokenAt(0)).toBe(10);
    expect(b.available(50)).toBe(5);
    expect(b.available(10_000)).toBe(10); // never above capacity
  });

  it('slow rates send one at a time', () => {
    const b = new TokenBucket(2, 0);
    expect(b.available(0)).toBe(1);
    b.take(1, 0);
    expect(b.nextTokenAt(0)).toBe(500);
    expect(b.available(499)).toBe(0);
    expect(b.available(500)).toBe(1);
  });

  it('never lets more than rate × time (+ capacity) through', () => {
    const b = new TokenBucket(50, 0);
    let sent = 0;
    for (let t = 0; t <= 10_000; t += 7) {
      const n = b.available(t);
      b.take(n, t);
      sent += n;
    }
    expect(sent).toBeLessThanOrEqual(50 * 10 + 5);
    expect(sent).toBeGreaterThanOrEqual(50 * 10 - 5);
  });
});
