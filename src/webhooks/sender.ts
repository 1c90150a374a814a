import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';
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

class Cut extends Error {}

/**
 * POSTs deliveries through one undici Agent: a keep-alive pool per receiver origin, so a
 * slow origin holds only its own sockets. Redirects are not followed (no redirect
 * interceptor). Each attempt has one deadline covering connect, headers and body.
 *
 * It uses undici's handler-level `dispatch` rather than `request`: no stream, no
 * AbortController, only the response headers it needs. On a busy hub this halves the cost
 * of an attempt (measured with bench/webhooks).
 */
export class HttpSender {
  private readonly agent: Agent;
  private readonly underWay = new Set<Attempt>();

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

  /**
   * Sends one attempt; `done` is called exactly once, asynchronously, with its result. A
   * callback rather than a promise: at thousands of attempts a second the promise chain
   * was a measurable share of the cost.
   */
  send({ url, headers, body, timeoutMs }: SendRequest, done: (result: SendResult) => void): void {
    const literal = this.opts.allowPrivateUrls ? undefined : blockedLiteral(url.hostname);
    if (literal) {
      const result = { ...failure('blocked', `url_not_allowed: ${literal.message}`), durationMs: 0 };
      setImmediate(done, result);
      return;
    }
    const attempt = new Attempt(this.opts.responseBodyBytes, timeoutMs, (result) => {
      this.underWay.delete(attempt);
      done(result);
    });
    this.underWay.add(attempt);
    try {
      this.agent.dispatch({ origin: url.origin, path: url.pathname + url.search, method: 'POST', headers, body }, attempt);
    } catch (err) {
      attempt.onResponseError(undefined, err as Error); // e.g. the agent is closed
    }
  }

  /** Cuts every attempt under way short; each resolves as `aborted` (it does not count). */
  abortAll(): void {
    for (const attempt of this.underWay) attempt.cut('aborted', 'aborted: the hub is shutting down');
  }

  /** Drops every connection; in-flight requests fail. */
  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

/** One request's handler: keeps the status, two headers and the first bytes of the body. */
class Attempt implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private status = 0;
  private retryAfter: string | undefined;
  private location: string | undefined;
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private seen = 0;
  private settled = false;
  private readonly started = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly cap: number,
    timeoutMs: number,
    private readonly done: (result: SendResult) => void,
  ) {
    this.timer = setTimeout(() => this.cut('timeout', `timeout: no complete response within ${timeoutMs} ms`), timeoutMs);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.settled) controller.abort(new Cut()); // timed out while waiting for a connection
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return; // 1xx: the real answer follows
    this.status = statusCode;
    const retryAfter = headers['retry-after'];
    this.retryAfter = typeof retryAfter === 'string' ? retryAfter : undefined;
    const location = headers.location;
    this.location = typeof location === 'string' ? location : undefined;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.keptBytes < this.cap) {
      const part = chunk.subarray(0, this.cap - this.keptBytes);
      this.kept.push(part);
      this.keptBytes += part.length;
    }
    this.seen += chunk.length;
    if (this.seen > DRAIN_LIMIT) {
      this.answered();
      controller.abort(new Cut()); // not worth draining: drop the connection
    }
  }

  onResponseEnd(): void {
    this.answered();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    this.finish(classify(err));
  }

  /** Ends the attempt now (deadline, shutdown) and aborts the request if it started. */
  cut(outcome: 'timeout' | 'aborted', error: string): void {
    this.finish(failure(outcome, error));
    this.controller?.abort(new Cut());
  }

  private answered(): void {
    const status = this.status;
    const responseBody = Buffer.concat(this.kept).toString('utf8');
    if (status >= 200 && status < 300) {
      this.finish({ outcome: 'success', status, error: null, retryAfter: undefined, responseBody });
      return;
    }
    const redirect = status >= 300 && status < 400;
    const error = redirect ? `redirect not followed${this.location ? ` (location: ${this.location})` : ''}` : null;
    this.finish({ outcome: 'http_error', status, error, retryAfter: this.retryAfter, responseBody });
  }

  private finish(result: Omit<SendResult, 'durationMs'>): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    (result as SendResult).durationMs = Math.round(performance.now() - this.started);
    this.done(result as SendResult);
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
