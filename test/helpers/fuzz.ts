import fc from 'fast-check';
import { expect } from 'vitest';
import { expectApiError, type WriteWatcher } from './store-writes.js';

/** Channel-, type- and pattern-ish strings: mostly near-valid, sometimes wild. */
export const nameLike = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_.:$>* -]{0,140}$/),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('orders', 'a.b', 'a.*', 'a.>', '>', '*', '$hub', 'a..b', '.', '', 'a.>.b', 'x'.repeat(128), 'x'.repeat(129)),
);

/** Cursor-ish strings around a valid one: foreign, past the head, malformed, or random. */
export function cursorLike(valid: string): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constant(valid),
    fc.constantFrom('abcdefghij-1', 'abcdefghij-zzzzzzzzzzz', `${valid.split('-')[0]}-zzzzzzzzzz`, `${valid.split('-')[0]}-0`, `${valid}0`),
    // A valid cursor with one character changed.
    fc.tuple(fc.nat({ max: valid.length }), fc.string({ minLength: 1, maxLength: 1 })).map(([i, ch]) => valid.slice(0, i) + ch + valid.slice(i + 1)),
  );
}

/** JSON nested 100 to `maxDepth` levels deep: what the hub must refuse clearly, not by running out of stack. */
export function deepJson(maxDepth = 5000): fc.Arbitrary<string> {
  return fc
    .tuple(fc.integer({ min: 100, max: maxDepth }), fc.constantFrom('[', '{"a":'))
    .map(([depth, open]) => open.repeat(depth) + '0' + (open === '[' ? ']' : '}').repeat(depth));
}

/**
 * The fuzzing invariant of every HTTP request: never a 5xx; a success status, or a refusal
 * in the documented shape that wrote nothing.
 */
export async function expectSuccessOrCleanRefusal(res: Response, writes: WriteWatcher, before: number, okStatuses: number[]): Promise<string> {
  expect(res.status, `unexpected ${res.status}`).toBeLessThan(500);
  if (okStatuses.includes(res.status)) return res.text();
  await expectApiError(res);
  expect(writes.version(), 'a refused request wrote something').toBe(before);
  return '';
}
