import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Paths pino blanks out wherever they appear in a log line. */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.authorization',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'apiKey',
  '*.apiKey',
  'tokenSecret',
  '*.tokenSecret',
  'signature',
  '*.signature',
  '*["webhook-signature"]',
  '*["x-signature"]',
];

/** Query parameters that carry credentials, whatever their case. */
const CREDENTIAL_PARAMS = new Set(['token', 'access_token', 'api_key', 'apikey', 'key']);

/**
 * Removes credentials carried in a query string (`?token=…`, `?api_key=…`). Names are
 * compared decoded, as the query parsers read them: `?%74oken=…` is a `token` too.
 */
export function redactUrl(url: string): string {
  const start = url.indexOf('?');
  if (start < 0) return url;
  const hash = url.indexOf('#', start);
  const end = hash < 0 ? url.length : hash;
  const params = url.slice(start + 1, end).split('&').map((param) => {
    const eq = param.indexOf('=');
    if (eq < 0) return param;
    const name = param.slice(0, eq);
    return CREDENTIAL_PARAMS.has(decodeName(name).toLowerCase()) ? `${name}=[REDACTED]` : param;
  });
  return `${url.slice(0, start + 1)}${params.join('&')}${url.slice(end)}`;
}

function decodeName(name: string): string {
  if (!name.includes('%') && !name.includes('+')) return name;
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}

interface RequestLike {
  id?: unknown;
  method?: string;
  url?: string;
  ip?: string;
  socket?: { remoteAddress?: string };
}

/**
 * The hub's logger: JSON lines to `destination`, by default stdout.
 *
 * Stdout is written synchronously. pino's default there is asynchronous, with a synchronous
 * flush at exit that retries a broken pipe forever: a hub whose log reader had gone away (a
 * crashed log shipper, `pushhub serve | head`) finished its shutdown, called exit, and never
 * exited. Written synchronously, a broken pipe is seen at the next line (pino then drops the
 * logs) and nothing is left to flush at exit; and a line logged just before a crash is out
 * of the process, not in its buffer.
 */
export function createLogger(level: string, destination: DestinationStream = pino.destination({ dest: 1, sync: true })): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT, censor: '[REDACTED]' },
      serializers: {
        req: (req: RequestLike) => ({
          id: req.id,
          method: req.method,
          url: req.url && redactUrl(req.url),
          remoteAddress: req.ip ?? req.socket?.remoteAddress,
        }),
        err: pino.stdSerializers.err,
      },
    },
    destination,
  );
}
