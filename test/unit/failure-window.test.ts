import { describe, expect, it } from 'vitest';
import { FailureWindow } from '../../src/webhooks/failure-window.js';

describe('FailureWindow', () => {
  const rule = { windowMs: 3_600_000, minAttempts: 20, failureRatio: 0.95 };

  it('pauses at ≥ 95 % failures of ≥ 20 attempts, not before', () => {
    const w = new FailureWindow(rule);
    for (let i = 0; i < 19; i++) expect(w.add(true, i * 1000)).toBe(false);
    expect(w.add(true, 19_000)).toBe(true);
  });

  it('one success in 20 is 95 % failing; two is not', () => {
    const a = new FailureWindow(rule);
    a.add(false, 0);
    for (let i = 1; i < 19; i++) a.add(true, i);
    expect(a.add(true, 19)).toBe(true);
    const b = new FailureWindow(rule);
    b.add(false, 0);
    b.add(false, 1);
    for (let i = 2; i < 20; i++) expect(b.add(true, i)).toBe(false);
  });

  it('forgets attempts older than the window', () => {
    const w = new FailureWindow(rule);
    for (let i = 0; i < 15; i++) w.add(true, i);
    const later = 2 * 3_600_000;
    for (let i = 0; i < 10; i++) expect(w.add(true, later + i)).toBe(false);
  });

  it('a success never pauses', () => {
    const w = new FailureWindow({ ...rule, minAttempts: 1, failureRatio: 0.01 });
    expect(w.add(false, 0)).toBe(false);
  });
});
