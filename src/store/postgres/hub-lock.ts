import pg from 'pg';
import type { Logger } from '../../logger.js';

/** Another hub holds the database. */
export class PostgresInUseError extends Error {
  override name = 'PostgresInUseError';
  constructor() {
    super(
      'the PostgreSQL database is in use by another pushhub hub: this version runs one hub per database ' +
        '(several hubs sharing one are not supported yet). Stop the other hub, or give this one its own database.',
    );
  }
}

/** An arbitrary, fixed key, distinct from the migrations' one. */
const HUB_LOCK = 0x70687562; // "phub"
const RETAKE_MS = 2000;

export interface HubLock {
  release(): Promise<void>;
}

/**
 * One hub per database until the multi-hub parts land (leases, cross-hub fan-out and
 * idempotency): two hubs would each re-queue the other's in-flight deliveries at start and
 * miss each other's events live. A session advisory lock held on a connection of its own;
 * the server drops it when that connection goes (a crashed hub leaves nothing stale). Lost
 * with the connection (database restarted), it is taken again in the background.
 */
export async function holdHubLock(url: string, connectTimeoutMs: number, logger: Logger): Promise<HubLock> {
  let client: pg.Client | undefined;
  let released = false;
  let timer: NodeJS.Timeout | undefined;

  const take = async (): Promise<boolean> => {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs, application_name: 'pushhub' });
    c.on('error', (err) => logger.warn({ err }, 'hub lock connection lost'));
    try {
      await c.connect();
      const { rows } = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [HUB_LOCK]);
      if (!rows[0]!.ok) {
        await c.end();
        return false;
      }
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    if (released) {
      await c.end(); // released while this retake was under way
      return true;
    }
    client = c;
    c.once('end', () => {
      client = undefined;
      if (!released) retakeSoon();
    });
    return true;
  };
  const retakeSoon = (): void => {
    timer = setTimeout(() => {
      take().then(
        (ok) => {
          if (ok) logger.info('hub lock taken again');
          else {
            logger.error('another hub holds the database now: this version runs one hub per database');
            retakeSoon();
          }
        },
        () => retakeSoon(), // still unreachable
      );
    }, RETAKE_MS);
    timer.unref();
  };

  if (!(await take())) throw new PostgresInUseError();
  return {
    async release() {
      released = true;
      clearTimeout(timer);
      await client?.end().catch(() => undefined);
    },
  };
}

/**
 * For `pushhub copy`, which writes a database no hub may be running on: takes the hub lock
 * for the transaction `client` is in (a hub starting meanwhile is refused), released when
 * it ends. False when a hub holds it.
 */
export async function lockOutHubs(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [HUB_LOCK]);
  return rows[0]!.ok;
}
