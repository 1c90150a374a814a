import type { Clock } from '../clock.js';
import type { Principal } from '../auth/principal.js';

/** setTimeout cannot wait longer than this (about 24.8 days); longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `onExpired` when a subscriber's token (or an API key with `expires_at`) expires; the
 * root key never does. A credential's lifetime bounds its connection's, so short-lived tokens
 * really do revoke access. Returns a function that disarms it.
 */
export function armTokenExpiry(principal: Principal, clock: Clock, onExpired: () => void): () => void {
  const { expiresAt } = principal;
  if (expiresAt === undefined) return () => {};
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const left = expiresAt - clock.now();
    if (left <= 0) return onExpired();
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}
