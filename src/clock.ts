import { randomFillSync } from 'node:crypto';

/** Wall-clock time in epoch milliseconds. Injected so tests drive time without sleeping. */
export interface Clock {
  now(): number;
}

/** Randomness, injected for the same reason as the clock. */
export interface Random {
  /** Uniform float in [0, 1). */
  float(): number;
  /** n cryptographically strong random bytes (a fresh copy the caller may keep). */
  bytes(n: number): Buffer;
}

export const systemClock: Clock = { now: () => Date.now() };

const POOL_SIZE = 16 * 1024;
let pool = Buffer.allocUnsafe(0);
let offset = 0;

/**
 * The system CSPRNG, drawn from a pooled buffer: one `randomFillSync` per 16 KiB instead of
 * one per id (a syscall per call cost ~18 % of CPU on the publish path).
 */
export const systemRandom: Random = {
  float: () => Math.random(),
  bytes(n) {
    if (n > POOL_SIZE) return randomFillSync(Buffer.allocUnsafe(n));
    if (offset + n > pool.length) {
      pool = randomFillSync(Buffer.allocUnsafe(POOL_SIZE));
      offset = 0;
    }
    const out = Buffer.from(pool.subarray(offset, offset + n));
    offset += n;
    return out;
  },
};

/** Timers, injected like the clock so tests fire them by hand (presence's grace and coalescing). */
export interface Timers {
  /** Calls `fn` once after `ms`; the timer never keeps the process alive. */
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const systemTimers: Timers = {
  set(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return timer;
  },
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
