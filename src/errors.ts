import { z } from 'zod';

/**
 * Every error the hub reports, with its stable code and HTTP status. The code is the API's
 * `error.code`; tests assert on it, never on the message.
 */
export const ErrorCodes = {
  invalid_request: { status: 400, message: 'The request is invalid.' },
  url_not_allowed: { status: 400, message: 'The URL is not allowed.' },
  unauthorized: { status: 401, message: 'A valid API key or token is required.' },
  forbidden: { status: 403, message: 'The credential does not grant this.' },
  not_found: { status: 404, message: 'Not found.' },
  method_not_allowed: { status: 405, message: 'Method not allowed.' },
  request_timeout: { status: 408, message: 'The request took too long to arrive.' },
  idempotency_key_reused: {
    status: 409,
    message: 'This Idempotency-Key was already used with a different request body.',
  },
  delivery_in_flight: {
    status: 409,
    message: 'The delivery is being attempted right now; retry once the attempt is over.',
  },
  subscription_deleted: {
    status: 409,
    message: 'The subscription of this delivery was deleted.',
  },
  cursor_expired: {
    status: 410,
    message: 'The cursor is older than the retained log or belongs to another database.',
  },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: { status: 415, message: 'Send the body as application/json.' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  rate_limited: { status: 429, message: 'Too many requests.' },
  internal_error: { status: 500, message: 'Internal error.' },
  overloaded: { status: 503, message: 'The hub is overloaded; retry later.' },
  storage_unavailable: { status: 503, message: 'Storage is unavailable; retry later.' },
  shutting_down: { status: 503, message: 'The hub is shutting down; retry later.' },
  not_ready: { status: 503, message: 'The hub is not ready.' },
  // Only in WebSocket `error` frames (the connection stays open); the status is what the
  // same refusal would be over HTTP.
  invalid_message: { status: 400, message: 'The frame is not a valid message.' },
  unknown_op: { status: 400, message: 'The frame names an unknown op.' },
  invalid_channel: { status: 400, message: 'The channel name is not valid.' },
  invalid_cursor: { status: 400, message: 'The cursor is not one this hub issued.' },
  too_many_subscriptions: { status: 429, message: 'The connection holds as many subscriptions as it may.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ErrorCodes;

/** The body of every non-2xx JSON response, for the API documents. */
export const errorBodySchema = z
  .strictObject({
    error: z.strictObject({
      code: z.enum(Object.keys(ErrorCodes) as [ErrorCode, ...ErrorCode[]]),
      message: z.string().meta({ description: 'A human sentence; never match on it, match on code.' }),
      details: z
        .unknown()
        .optional()
        .meta({ description: 'For invalid_request: [{ field, message }] for each wrong field; for others, as the code says.' }),
    }),
  })
  .meta({ id: 'Error' });

/** One wrong field of a request: where, and what is wrong with it. */
export interface FieldIssue {
  field: string;
  message: string;
}

export class HubError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details: unknown;
  /** Seconds, sent as `Retry-After` on 429/503. */
  readonly retryAfterS: number | undefined;

  constructor(
    code: ErrorCode,
    opts: { message?: string; details?: unknown; retryAfterS?: number; cause?: unknown } = {},
  ) {
    super(opts.message ?? ErrorCodes[code].message, { cause: opts.cause });
    this.name = 'HubError';
    this.code = code;
    this.statusCode = ErrorCodes[code].status;
    this.details = opts.details;
    this.retryAfterS = opts.retryAfterS;
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: unknown } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

/** `400 invalid_request` listing each wrong field. */
export function invalidRequest(issues: FieldIssue[]): HubError {
  const first = issues[0];
  const message = first
    ? `Invalid ${first.field || 'request'}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`
    : undefined;
  return new HubError('invalid_request', { message, details: issues });
}

export function isHubError(err: unknown): err is HubError {
  return err instanceof HubError;
}
