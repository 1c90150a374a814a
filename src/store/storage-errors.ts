import { HubError } from '../errors.js';

/** SQLite result codes that mean "the storage cannot take writes right now". */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CANTOPEN|PROTOCOL|NOMEM)/;

/** Maps a storage failure to `503 storage_unavailable` (with Retry-After); other errors pass. */
export function storageError(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE.test(code)) {
    return new HubError('storage_unavailable', { retryAfterS: code.startsWith('SQLITE_BUSY') ? 1 : 5, cause: err });
  }
  return err;
}
