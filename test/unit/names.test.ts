import { describe, expect, it } from 'vitest';
import { channelProblem } from '../../src/domain/names.js';

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
