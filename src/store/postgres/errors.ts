import { HubError } from '../../errors.js';

/**
 * SQLSTATE classes that mean "the database cannot take this write right now": connection
 * exceptions (08), insufficient resources (53), operator intervention (57: shutdown,
 * terminated backend, statement timeout), system errors (58), and lock waits that gave up
 * (55P03, 40001, 40P01). Anything else (a constraint, a bad statement) is a bug or bad data
 * and passes as it is.
 */
const UNAVAILABLE_STATE = /^(08|53|57|58)|^(55P03|40001|40P01|25006)$/;
/** Errors where the server never answered: socket level, or pg's own connection errors. */
const CONNECTION_CODE = /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/;
const CONNECTION_MESSAGE = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection terminated unexpectedly|Query read timeout|not queryable/i;

/** A server-side SQLSTATE: the statement was refused or rolled back, nothing of it was written. */
export function hasSqlState(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/** The connection to the database failed (refused, lost, timed out) or the server refused for lack of resources. */
export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (hasSqlState(err)) return UNAVAILABLE_STATE.test(code);
    if (CONNECTION_CODE.test(code)) return true;
  }
  return err instanceof Error && CONNECTION_MESSAGE.test(err.message);
}

/** Maps a database failure to `503 storage_unavailable` (with Retry-After); other errors pass. */
export function pgStorageError(err: unknown): unknown {
  if (err instanceof HubError || !isUnavailable(err)) return err;
  const code = (err as { code?: unknown }).code;
  // A lock wait or a statement timeout clears quickly; a lost server takes longer.
  const retryAfterS = code === '57014' || code === '55P03' || code === '40001' || code === '40P01' ? 1 : 2;
  return new HubError('storage_unavailable', { retryAfterS, cause: err });
}
