import type { Clock } from '../clock.js';
import type { Principal } from '../auth/principal.js';

/** setTimeout cannot wait longer than this (about 24.8 days); longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `onExpired` when a subscriber's token expires; the server key never does. A token's
 * lifetime bounds its connection's, so short-lived tokens really do revoke access. Returns a
 * function that disarms it.
 */
export function armTokenExpiry(principal: Principal, clock: Clock, onExpired: () => void): () => void {
  if (principal.kind !== 'subscriber') return () => {};
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const left = principal.expiresAt - clock.now();
    if (left <= 0) return onExpired();
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}
