/**
 * Which browser origins may use the subscriber surface (`PUSHHUB_CORS_ORIGINS`). One pure
 * function, used by the HTTP CORS setup and by the WebSocket upgrade alike, so both answer
 * the same Origin the same way.
 */

/** The shape of a serialized origin (RFC 6454 §6.2): `scheme://host[:port]`, nothing more. */
const ORIGIN_SHAPE = /^[a-z][a-z\d+.-]*:\/\/[^/?#@\s\\]+$/i;

/**
 * The canonical form of an `Origin` value, or undefined when it is not one.
 *
 * Scheme and host compare case-insensitively and a default port is the same as none
 * (RFC 6454 §5), so `HTTPS://App.Example.com:443` is `https://app.example.com`. Anything a
 * browser never sends in `Origin` (a path, even a lone trailing slash, a query, credentials,
 * a list of several origins) is not an origin, rather than guessed at. `null` (a sandboxed
 * frame, a `file:` page) and non-web schemes have no host to compare, so they are not
 * canonical origins either.
 */
export function canonicalOrigin(value: string): string | undefined {
  if (!ORIGIN_SHAPE.test(value) || !URL.canParse(value)) return undefined;
  const { origin } = new URL(value);
  return origin === 'null' ? undefined : origin;
}

/** Is a present `Origin` header allowed? (No `Origin` at all is not a browser: callers let it through.) */
export type OriginCheck = (origin: string) => boolean;

/** Whether the setting is `*` (otherwise it names origins, and answers depend on `Origin`: `Vary: Origin`). */
export const allowsEveryOrigin = (setting: readonly string[]): boolean => setting.includes('*');

/**
 * Builds the check for a setting as config.ts parses it: `['*']` allows every origin,
 * `null` and the malformed included (a `*` page gets nothing a script without a browser
 * could not get anyway); a list allows exactly its origins, compared in canonical form.
 */
export function originCheck(setting: readonly string[]): OriginCheck {
  if (allowsEveryOrigin(setting)) return () => true;
  const allowed = new Set(setting.map((o) => canonicalOrigin(o)).filter((o): o is string => o !== undefined));
  return (origin) => {
    const canonical = canonicalOrigin(origin);
    return canonical !== undefined && allowed.has(canonical);
  };
}


/** The error message for a refused origin, naming the setting that decides it. */
export const originRefusedMessage = (origin: string): string =>
  `Origin ${JSON.stringify(origin)} is not allowed by PUSHHUB_CORS_ORIGINS.`;
