import pg from 'pg';
import type { Logger } from '../../logger.js';

export interface SessionLock {
  /** Whether this hub holds the lock now, taking it when it is free. */
  tryHold(): Promise<boolean>;
  release(): Promise<void>;
}

/**
 * A lease the server keeps for us: a session advisory lock on a connection of its own, held
 * while that connection lives. A hub that dies or loses the connection loses the lock with
 * it (nothing stale to expire), and the next hub to ask takes it.
 */
export function sessionLock(url: string, key: number, connectTimeoutMs: number, logger: Logger): SessionLock {
  let client: pg.Client | undefined;
  let released = false;
  return {
    async tryHold() {
      if (client) return true;
      if (released) return false;
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs, application_name: 'pushhub-lock' });
      c.on('error', (err) => logger.warn({ err }, 'lock connection lost'));
      try {
        await c.connect();
        const { rows } = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [key]);
        if (!rows[0]!.ok || released) {
          await c.end();
          return false;
        }
      } catch {
        await c.end().catch(() => undefined);
        return false;
      }
      client = c;
      c.once('end', () => {
        if (client === c) client = undefined;
      });
      return true;
    },
    async release() {
      released = true;
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}
