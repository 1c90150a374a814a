import { z } from 'zod';

/** Custom headers a subscription may send on every delivery. */
export const MAX_HEADERS = 20;

/**
 * Names the hub sets itself (the signature, the delivery's identity, the framing of the
 * request): a subscription may not replace them. `x-pushhub-*` is the hub's whole prefix.
 */
const RESERVED = new Set([
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'x-signature',
  'x-event-id',
  'x-event-type',
  'content-type',
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'host',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'user-agent',
]);

/** RFC 9110 token characters. */
const NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
/** Visible ASCII, spaces and tabs inside: no line breaks (header injection), no control characters. */
const VALUE_RE = /^[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?$|^$/;

/** Why a header name is refused, or null. */
export function headerNameProblem(name: string): string | null {
  if (!NAME_RE.test(name)) return 'must be 1-128 characters of an HTTP header name (letters, digits and !#$%&\'*+.^_`|~-)';
  const lower = name.toLowerCase();
  if (RESERVED.has(lower) || lower.startsWith('x-pushhub-')) return `is set by the hub (signature and delivery headers, x-pushhub-*): it cannot be replaced`;
  return null;
}

export const headersSchema = z
  .record(z.string(), z.string().max(4096, 'must be at most 4096 characters').regex(VALUE_RE, 'must be visible ASCII characters (no line breaks or control characters)'))
  .superRefine((headers, ctx) => {
    const names = Object.keys(headers);
    if (names.length > MAX_HEADERS) ctx.addIssue({ code: 'custom', message: `must hold at most ${MAX_HEADERS} headers` });
    const seen = new Set<string>();
    for (const name of names) {
      const problem = headerNameProblem(name);
      if (problem) ctx.addIssue({ code: 'custom', path: [name], message: problem });
      else if (seen.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name], message: 'names the same header as another (names are case-insensitive)' });
      seen.add(name.toLowerCase());
    }
  })
  .meta({
    id: 'SubscriptionHeaders',
    description: `Headers sent on every delivery, name → value (at most ${MAX_HEADERS}); the signature and x-pushhub-* names are refused. Values are never logged.`,
  });
