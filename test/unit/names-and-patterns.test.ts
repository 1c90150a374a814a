import { describe, expect, it } from 'vitest';
import { channelProblem } from '../../src/domain/names.js';
import { compilePattern, compilePatterns, isWildcard, patternProblem } from '../../src/domain/patterns.js';

describe('channel names', () => {
  it.each(['orders', 'orders.eu', 'a:b-c_d.e', 'x'.repeat(128), 'A.B.C'])('accepts %j', (name) => {
    expect(channelProblem(name)).toBeNull();
  });
  it.each(['', 'x'.repeat(129), 'has space', 'orders/eu', 'ünï', '$hub', 'orders.', '.orders', 'a..b', 'orders.*', 'orders.>'])(
    'refuses %j',
    (name) => {
      expect(channelProblem(name)).toEqual(expect.any(String));
    },
  );
});

describe('patterns', () => {
  const cases: Array<[string, string, boolean]> = [
    ['orders', 'orders', true],
    ['orders', 'orders.eu', false],
    ['orders.*', 'orders.eu', true],
    ['orders.*', 'orders', false],
    ['orders.*', 'orders.eu.x', false],
    ['orders.>', 'orders.eu', true],
    ['orders.>', 'orders.eu.x', true],
    ['orders.>', 'orders', false],
    ['*', 'orders', true],
    ['*', 'orders.eu', false],
    ['>', 'orders', true],
    ['>', 'orders.eu.x', true],
    ['*.eu', 'orders.eu', true],
    ['*.eu', 'orders.us', false],
    ['*.*.x', 'a.b.x', true],
    ['a.*.>', 'a.b', false],
    ['a.*.>', 'a.b.c', true],
    ['order.*', 'order.created', true],
    ['ord*', 'ord*', false],
  ];
  it.each(cases)('%j against %j → %s', (pattern, name, expected) => {
    if (patternProblem(pattern) !== null) {
      expect(expected).toBe(false);
      return;
    }
    expect(compilePattern(pattern)(name)).toBe(expected);
  });

  it.each(['', 'a..b', 'a.>.b', '>.a', 'a b', 'ord*', 'x'.repeat(129), 'a.'])('refuses the pattern %j', (pattern) => {
    expect(patternProblem(pattern)).toEqual(expect.any(String));
    expect(() => compilePattern(pattern)).toThrow(RangeError);
  });

  it('matches any of several patterns', () => {
    const m = compilePatterns(['orders', 'billing.>']);
    expect(m('orders')).toBe(true);
    expect(m('billing.eu')).toBe(true);
    expect(m('billing')).toBe(false);
    expect(compilePatterns([])('orders')).toBe(false);
  });

  it('tells wildcards from exact names', () => {
    expect(isWildcard('a.*')).toBe(true);
    expect(isWildcard('a.>')).toBe(true);
    expect(isWildcard('a.b')).toBe(false);
  });
});
