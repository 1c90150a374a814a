import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePattern, compilePatterns, isWildcard, patternProblem } from '../../src/domain/patterns.js';

const matches = (pattern: string, name: string): boolean => compilePattern(pattern)(name);

describe('pattern matching (docs/protocol.md)', () => {
  it('a plain name matches only itself', () => {
    expect(matches('orders', 'orders')).toBe(true);
    expect(matches('orders', 'orders.eu')).toBe(false);
    expect(matches('orders.eu', 'orders')).toBe(false);
    expect(matches('orders', 'Orders')).toBe(false);
  });

  it('`*` matches exactly one segment', () => {
    expect(matches('orders.*', 'orders.eu')).toBe(true);
    expect(matches('orders.*', 'orders')).toBe(false);
    expect(matches('orders.*', 'orders.eu.x')).toBe(false);
    expect(matches('*.created', 'order.created')).toBe(true);
    expect(matches('*.created', 'order.updated')).toBe(false);
    expect(matches('a.*.c', 'a.b.c')).toBe(true);
    expect(matches('a.*.c', 'a.b.d.c')).toBe(false);
    expect(matches('*', 'orders')).toBe(true);
    expect(matches('*', 'orders.eu')).toBe(false);
  });

  it('`>` as the last segment matches one or more segments', () => {
    expect(matches('orders.>', 'orders.eu')).toBe(true);
    expect(matches('orders.>', 'orders.eu.x')).toBe(true);
    expect(matches('orders.>', 'orders')).toBe(false);
    expect(matches('orders.>', 'ordersx.eu')).toBe(false);
    expect(matches('>', 'anything.at.all')).toBe(true);
    expect(matches('*.eu.>', 'orders.eu.x.y')).toBe(true);
    expect(matches('*.eu.>', 'orders.us.x')).toBe(false);
  });

  it('a segment is compared whole, never as a prefix', () => {
    expect(matches('order.*', 'orders.eu')).toBe(false);
    expect(matches('orders.e', 'orders.eu')).toBe(false);
  });

  it('any of several patterns', () => {
    const m = compilePatterns(['orders', 'billing.>']);
    expect(['orders', 'billing.invoice', 'billing.a.b'].map(m)).toEqual([true, true, true]);
    expect(['billing', 'orders.eu', 'ship'].map(m)).toEqual([false, false, false]);
  });

  it('no wildcard takes in a hub channel ($…): `>` alone does not', () => {
    for (const p of ['>', '*.*', '*.channels', '*.>']) expect(compilePattern(p)('$hub.channels'), p).toBe(false);
    // …while a pattern that names them does.
    for (const p of ['$hub.>', '$hub.*', '$hub.channels']) expect(compilePattern(p)('$hub.channels'), p).toBe(true);
    expect(compilePattern('$hub.*')('orders.channels')).toBe(false);
  });

  it('refuses malformed patterns with a reason', () => {
    for (const bad of ['', 'a..b', '.a', 'a.', 'a.>.b', '>.a', 'a b', 'a.b*', '$sys', 'x'.repeat(129)]) {
      expect(patternProblem(bad), bad).not.toBeNull();
      expect(() => compilePattern(bad)).toThrow(RangeError);
    }
    for (const good of ['a', 'a.b', '*', '>', 'a.*.>', 'order:created', 'a_b-c']) expect(patternProblem(good), good).toBeNull();
  });

  it('isWildcard', () => {
    expect(isWildcard('a.b')).toBe(false);
    expect(isWildcard('a.*')).toBe(true);
    expect(isWildcard('a.>')).toBe(true);
    expect(isWildcard('a*')).toBe(false);
  });

  const segment = fc.stringMatching(/^[a-z0-9_:-]{1,4}$/);
  const name = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => s.join('.'));

  it('property: a name matches itself, `>` after any proper prefix, `*` in any one position', () => {
    fc.assert(
      fc.property(name, (n) => {
        const segs = n.split('.');
        if (!matches(n, n)) return false;
        for (let i = 1; i < segs.length; i++) if (!matches([...segs.slice(0, i), '>'].join('.'), n)) return false;
        for (let i = 0; i < segs.length; i++) {
          const starred = segs.map((s, j) => (j === i ? '*' : s)).join('.');
          if (!matches(starred, n)) return false;
        }
        return !matches([...segs, '>'].join('.'), n) && !matches([...segs, '*'].join('.'), n);
      }),
    );
  });

  it('property: `*` never changes the number of segments matched', () => {
    fc.assert(
      fc.property(name, name, (p, n) => {
        const pattern = p.split('.').map(() => '*').join('.');
        return matches(pattern, n) === (p.split('.').length === n.split('.').length);
      }),
    );
  });
});
