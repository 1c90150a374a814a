import { randomBytes } from 'node:crypto';

/** Wall-clock time in epoch milliseconds. Injected so tests drive time without sleeping. */
export interface Clock {
  now(): number;
}

/** Randomness, injected for the same reason as the clock. */
export interface Random {
  /** Uniform float in [0, 1). */
  float(): number;
  bytes(n: number): Buffer;
}

export const systemClock: Clock = { now: () => Date.now() };

export const systemRandom: Random = {
  float: () => Math.random(),
  bytes: (n) => randomBytes(n),
};
