/** Longest wait a receiver can ask for; a larger value is clamped to it (a week). */
export const MAX_RETRY_AFTER_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * A `Retry-After` header as a delay in ms from `now`: either delta-seconds (`120`) or an
 * HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`). A date in the past means "now" (0). Anything
 * unparseable is ignored (undefined), as RFC 9110 asks.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  // Only the date forms: Date.parse alone would also accept "1" or "2026".
  if (!/^[A-Za-z]{3,9},? /.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}
