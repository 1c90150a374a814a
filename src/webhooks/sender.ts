import { Agent, errors as undiciErrors } from 'undici';
import type { Readable } from 'node:stream';
import { BlockedAddressError, blockedLiteral, guardedLookup } from './url-guard.js';

/** How an attempt ended, as counted in the metrics. */
export type SendOutcome = 'success' | 'http_error' | 'timeout' | 'network_error' | 'blocked' | 'aborted';

export interface SendResult {
  outcome: SendOutcome;
  /** null: no response. */
  status: number | null;
  /** Why there was no (good) response, for people; null on a plain HTTP status. */
  error: string | null;
  retryAfter: string | undefined;
  /** The first bytes of the response body (null without a response). */
  responseBody: string | null;
  durationMs: number;
}

export interface SendRequest {
  url: URL;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

export interface SenderOptions {
  allowPrivateUrls: boolean;
  connectionsPerOrigin: number;
  /** How much of a response body is kept. */
  responseBodyBytes: number;
}

/** Past this much response body the connection is dropped instead of drained for reuse. */
const DRAIN_LIMIT = 64 * 1024;

class AttemptTimeout extends Error {}
class Shutdown extends Error {}

/**
 * POSTs deliveries through one undici Agent: a keep-alive pool per receiver origin, so a
 * slow origin holds only its own sockets. Redirects are not followed (no redirect
 * interceptor). Every attempt has one deadline covering connect, headers and body.
 */
export class HttpSender {
  private readonly agent: Agent;
  /** Deadlines of the attempts under way, so shutdown can cut them short. */
  private readonly underWay = new Set<AbortController>();

  constructor(private readonly opts: SenderOptions) {
    this.agent = new Agent({
      connections: opts.connectionsPerOrigin,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      // Connection-time check: a name re-pointed at an internal address after the
      // subscription was accepted is still refused.
      connect: opts.allowPrivateUrls ? {} : { lookup: guardedLookup },
    });
  }

  async send({ url, headers, body, timeoutMs }: SendRequest): Promise<SendResult> {
    const started = performance.now();
    const done = (r: Omit<SendResult, 'durationMs'>): SendResult => ({
      ...r,
      durationMs: Math.round(performance.now() - started),
    });
    const literal = this.opts.allowPrivateUrls ? undefined : blockedLiteral(url.hostname);
    if (literal) return done(failure('blocked', `url_not_allowed: ${literal.message}`));

    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new AttemptTimeout()), timeoutMs);
    this.underWay.add(deadline);
    try {
      const res = await this.agent.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'POST',
        headers,
        body,
        signal: deadline.signal,
      });
      const responseBody = await readCapped(res.body, this.opts.responseBodyBytes);
      const status = res.statusCode;
      const retryAfter = res.headers['retry-after'];
      if (status >= 200 && status < 300) {
        return done({ outcome: 'success', status, error: null, retryAfter: undefined, responseBody });
      }
      const location = res.headers.location;
      const error = status >= 300 && status < 400 ? `redirect not followed${location ? ` (location: ${String(location)})` : ''}` : null;
      return done({
        outcome: 'http_error',
        status,
        error,
        retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
        responseBody,
      });
    } catch (err) {
      if (deadline.signal.reason instanceof Shutdown) return done(failure('aborted', 'aborted: the hub is shutting down'));
      if (deadline.signal.reason instanceof AttemptTimeout) {
        return done(failure('timeout', `timeout: no complete response within ${timeoutMs} ms`));
      }
      return done(classify(err));
    } finally {
      clearTimeout(timer);
      this.underWay.delete(deadline);
    }
  }

  /** Cuts every attempt under way short; each resolves as `aborted` (it does not count). */
  abortAll(): void {
    for (const deadline of this.underWay) deadline.abort(new Shutdown());
  }

  /** Drops every connection; in-flight requests fail. */
  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

function failure(outcome: SendOutcome, error: string): Omit<SendResult, 'durationMs'> {
  return { outcome, status: null, error, retryAfter: undefined, responseBody: null };
}

/** A connection-level failure in a few words, with the system's code. */
function classify(err: unknown): Omit<SendResult, 'durationMs'> {
  const e = err as { code?: string; message?: string; cause?: unknown };
  const cause = (e.cause ?? {}) as { code?: string; message?: string };
  if (err instanceof BlockedAddressError || cause instanceof BlockedAddressError) {
    return failure('blocked', `url_not_allowed: ${(cause instanceof BlockedAddressError ? cause : e).message}`);
  }
  if (err instanceof undiciErrors.ConnectTimeoutError || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return failure('timeout', `timeout: ${e.message}`);
  }
  const code = e.code && !e.code.startsWith('UND_ERR') ? e.code : (cause.code ?? e.code);
  const message = (cause.message ?? e.message ?? String(err)).slice(0, 300);
  const kind = code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'dns_error' : /CERT|TLS|SSL/i.test(code ?? '') ? 'tls_error' : 'connection_error';
  return failure('network_error', `${kind}: ${message}${code && !message.includes(code) ? ` (${code})` : ''}`);
}

/** Reads up to `cap` bytes of a body as text; drains a little more so the socket can be reused. */
async function readCapped(body: Readable, cap: number): Promise<string> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let seen = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (keptBytes < cap) {
      const part = chunk.subarray(0, cap - keptBytes);
      kept.push(part);
      keptBytes += part.length;
    }
    seen += chunk.length;
    if (seen > DRAIN_LIMIT) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(kept).toString('utf8');
}
