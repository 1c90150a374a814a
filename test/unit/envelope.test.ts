import { describe, expect, it } from 'vitest';
import { MAX_DATA_DEPTH, nestsWithin, publishInputSchema } from '../../src/domain/envelope.js';
import { fieldIssues } from '../../src/domain/field-issues.js';

const nested = (depth: number, open = '[', close = ']'): unknown => JSON.parse(open.repeat(depth) + '0' + close.repeat(depth));

describe('nestsWithin', () => {
  it('counts levels of arrays and objects; scalars are level 0', () => {
    expect(nestsWithin(1, 0)).toBe(true);
    expect(nestsWithin(null, 0)).toBe(true);
    expect(nestsWithin([], 0)).toBe(false);
    expect(nestsWithin([], 1)).toBe(true);
    expect(nestsWithin({ a: [1, { b: 2 }] }, 3)).toBe(true);
    expect(nestsWithin({ a: [1, { b: 2 }] }, 2)).toBe(false);
    expect(nestsWithin(nested(10, '{"a":', '}'), 10)).toBe(true);
    expect(nestsWithin(nested(11, '{"a":', '}'), 10)).toBe(false);
  });

  it('copes with any depth JSON.parse can produce', () => {
    expect(nestsWithin(nested(200_000), MAX_DATA_DEPTH)).toBe(false);
  });
});

describe('publishInputSchema data', () => {
  it(`accepts ${MAX_DATA_DEPTH} levels and refuses one more, naming the field`, () => {
    const event = (data: unknown) => ({ channel: 'c', type: 't', data });
    expect(publishInputSchema.safeParse(event(nested(MAX_DATA_DEPTH))).success).toBe(true);
    const refused = publishInputSchema.safeParse(event(nested(MAX_DATA_DEPTH + 1)));
    expect(refused.success).toBe(false);
    expect(fieldIssues(refused.error!)).toEqual([{ field: 'data', message: expect.stringContaining(`${MAX_DATA_DEPTH} levels`) }]);
    const missing = publishInputSchema.safeParse({ channel: 'c', type: 't' });
    expect(fieldIssues(missing.error!)).toEqual([{ field: 'data', message: 'is required' }]);
  });
});
