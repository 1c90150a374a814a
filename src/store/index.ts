import type { Random } from '../clock.js';
import { newEpoch } from '../domain/cursor.js';
import { openDatabase, type DbOptions } from './db.js';
import { deliveriesRepo, type DeliveriesRepo } from './deliveries.js';
import { eventsRepo, type EventsRepo } from './events.js';
import { idempotencyRepo, type IdempotencyRepo } from './idempotency.js';
import { settingsRepo, type SettingsRepo } from './settings.js';
import { subscriptionsRepo, type SubscriptionsRepo } from './subscriptions.js';

/**
 * The only door to SQL. Everything above talks to these repositories, never to SQLite, so
 * another store (PostgreSQL) can stand behind the same interface.
 */
export interface Store {
  /** Random per database; cursors carry it so a foreign cursor is recognised. */
  readonly epoch: string;
  readonly events: EventsRepo;
  readonly idempotency: IdempotencyRepo;
  readonly settings: SettingsRepo;
  readonly subscriptions: SubscriptionsRepo;
  readonly deliveries: DeliveriesRepo;
  /** Runs `fn` in one write transaction: all of it commits, durably, or none of it. */
  transaction<T>(fn: () => T): T;
  /**
   * Runs `fn` in one write transaction and returns at once; `durable` resolves when the
   * commit is on disk. Group commit uses it so the event loop is not blocked by fsync.
   */
  transactionThenSync<T>(fn: () => T): { result: T; durable: Promise<void> };
  /**
   * Like `transaction`, atomic too, but its commit is not flushed to disk on its own: a
   * process crash never loses it, a power cut may (the next durable commit flushes it). For
   * bookkeeping whose loss only means redoing work, e.g. delivery claims and outcomes, where
   * a lost record means one more at-least-once attempt.
   */
  relaxedTransaction<T>(fn: () => T): T;
  /** Throws when the database cannot take a write right now. */
  checkWritable(): void;
  /** Checkpoints the WAL into the database file and closes it. */
  close(): void;
}

export function openStore(options: DbOptions & { random: Random }): Store {
  const { db, wal, lock } = openDatabase(options);
  const settings = settingsRepo(db);
  let epoch = settings.get('epoch');
  if (!epoch) {
    epoch = newEpoch(options.random.bytes(10));
    settings.set('epoch', epoch);
    wal.syncNow();
  }
  const probe = db.prepare("UPDATE settings SET value = value WHERE key = 'epoch'");
  // One wrapper for every transaction: better-sqlite3 builds four functions per
  // `db.transaction()` call, a measurable cost at one transaction per dispatcher pass.
  const inTransaction = db.transaction((fn: () => unknown) => fn()).immediate as <T>(fn: () => T) => T;
  return {
    epoch,
    settings,
    events: eventsRepo(db, settings),
    idempotency: idempotencyRepo(db),
    transaction(fn) {
      const result = inTransaction(fn);
      wal.syncNow();
      return result;
    },
    transactionThenSync(fn) {
      const result = inTransaction(fn);
      return { result, durable: wal.sync() };
    },
    subscriptions: subscriptionsRepo(db),
    deliveries: deliveriesRepo(db),
    relaxedTransaction: (fn) => inTransaction(fn),
    checkWritable() {
      try {
        inTransaction(() => {
          probe.run();
          throw ROLLBACK;
        });
      } catch (err) {
        if (err !== ROLLBACK) throw err;
      }
    },
    close() {
      if (!db.open) return;
      wal.syncNow();
      db.pragma('wal_checkpoint(TRUNCATE)');
      wal.close();
      db.close();
      lock.close(); // last: another hub may open the database from here on
    },
  };
}

const ROLLBACK = Symbol('rollback');
