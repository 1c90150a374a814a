import pg from 'pg';
import type { Logger } from '../../logger.js';
import type { StoreChange } from '../store.js';

/** The channel every append notifies, with the new head as payload (never the events: 8000-byte limit, lost while disconnected). */
export const HEAD_CHANNEL = 'pushhub_head';
/** The channel changes to shared state are notified on; the payload names what changed (`subscriptions`, `leases`, `keys`, `due:<subscription id>`, `presence:<hub id>:<channel>`). */
export const CHANGED_CHANNEL = 'pushhub_changed';

export interface WatchOptions {
  url: string;
  connectTimeoutMs: number;
  /** The listening connection is checked this often; one that does not answer within it is replaced. */
  heartbeatMs: number;
  /** The head and the versions of the subscriptions and keys are read this often anyway: a safety net, not the mechanism. */
  pollMs: number;
  /** Reads the head and the versions of the subscriptions and the keys (through the pool). */
  readHead: () => Promise<{ head: number; subscriptionsVersion: number; keysVersion: number }>;
  emit: (change: StoreChange) => void;
  logger: Logger;
}

export interface Watch {
  readonly listening: boolean;
  /**
   * Resolves once the versions to compare the polls with were read: a change after that is
   * seen by a later poll, so what the hub loads from then on cannot miss one (a first poll
   * that found the version already moved would otherwise just take it as the start).
   */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

const MAX_BACKOFF_MS = 5_000;

/**
 * How a hub hears other hubs: `LISTEN` on a connection of its own (a pooled one would lose
 * its LISTEN when handed back), heartbeated so a connection that died silently is noticed,
 * and replaced with a back-off when lost; each (re)connection is told as `resync`, since
 * notifications sent while it was down are gone. Besides, the head and the subscriptions'
 * version are polled: a notification can only announce, the tables are the truth.
 */
export function startWatch(options: WatchOptions): Watch {
  const { url, connectTimeoutMs, heartbeatMs, pollMs, readHead, emit, logger } = options;
  let client: pg.Client | undefined;
  let listening = false;
  let closed = false;
  let backoff = 250;
  let reconnect: NodeJS.Timeout | undefined;
  let seenHead = 0;
  let seenVersion: number | undefined;
  let seenKeysVersion: number | undefined;

  const head = (value: number): void => {
    if (value <= seenHead) return;
    seenHead = value;
    emit({ kind: 'head', head: value });
  };

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs, application_name: 'pushhub-listen' });
    c.on('error', (err) => logger.warn({ err }, 'database listener connection lost'));
    c.on('notification', ({ channel, payload }) => {
      if (channel === HEAD_CHANNEL) head(Number(payload));
      else if (payload === 'subscriptions' || payload === 'leases' || payload === 'keys') emit({ kind: payload });
      else if (payload?.startsWith('due:')) emit({ kind: 'due', subscriptionId: payload.slice(4) });
      else if (payload?.startsWith('presence:')) {
        const at = payload.indexOf(':', 9);
        if (at > 0) emit({ kind: 'presence', hubId: payload.slice(9, at), channel: payload.slice(at + 1) });
      }
    });
    c.once('end', () => {
      if (client === c) {
        client = undefined;
        listening = false;
        if (!closed) retry();
      }
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${HEAD_CHANNEL}; LISTEN ${CHANGED_CHANNEL}`);
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    if (closed) {
      await c.end();
      return;
    }
    client = c;
    listening = true;
    backoff = 250;
    emit({ kind: 'resync' });
  };
  const retry = (): void => {
    reconnect = setTimeout(() => {
      connect().catch((err: unknown) => {
        logger.debug({ err }, 'database listener still unreachable');
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        retry();
      });
    }, backoff);
    reconnect.unref();
  };

  // A dead peer can leave a socket open for minutes: a query that is not answered in time
  // means the connection is replaced.
  const heartbeat = setInterval(() => {
    const c = client;
    if (!c) return;
    const late = setTimeout(() => void c.end().catch(() => undefined), heartbeatMs);
    c.query('SELECT 1').then(
      () => clearTimeout(late),
      () => {
        clearTimeout(late);
        void c.end().catch(() => undefined);
      },
    );
  }, heartbeatMs);
  heartbeat.unref();

  const poll = setInterval(() => {
    readHead().then(
      (read) => {
        head(read.head);
        if (seenVersion !== undefined && read.subscriptionsVersion !== seenVersion) emit({ kind: 'subscriptions' });
        seenVersion = read.subscriptionsVersion;
        if (seenKeysVersion !== undefined && read.keysVersion !== seenKeysVersion) emit({ kind: 'keys' });
        seenKeysVersion = read.keysVersion;
      },
      (err: unknown) => logger.debug({ err }, 'database poll failed'),
    );
  }, pollMs);
  const ready = readHead().then(
    (read) => {
      seenVersion ??= read.subscriptionsVersion;
      seenKeysVersion ??= read.keysVersion;
    },
    (err: unknown) => logger.debug({ err }, 'database poll failed'),
  );
  poll.unref();

  connect().catch((err: unknown) => {
    logger.warn({ err }, 'database listener could not connect; retrying');
    retry();
  });

  return {
    get listening() {
      return listening;
    },
    ready,
    async close() {
      closed = true;
      clearInterval(heartbeat);
      clearInterval(poll);
      clearTimeout(reconnect);
      listening = false;
      await client?.end().catch(() => undefined);
      client = undefined;
    },
  };
}
