import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, truncateSync } from 'node:fs';
import { KEY_COLUMNS, type KeyRow } from './keys.js';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { closeDatabase, DatabaseInUseError, latestSchemaVersion, openDatabase, type Db } from './db.js';
import { deliveriesRepo } from './deliveries.js';
import { PRUNED_THROUGH } from './events.js';
import { idempotencyRepo } from './idempotency.js';
import { rowStatements, runInChunks } from './row-statements.js';
import { ATTEMPT_COLUMNS, DELIVERY_COLUMNS, EVENT_COLUMNS, fromSubscriptionRow, toSubscriptionRow } from './rows.js';
import { settingsRepo } from './settings.js';
import { checkSourceSchema, CopyError, PAGE_ROWS, reason, type CopyCounts, type OpenSnapshot, type SavedKeyRow, type Snapshot, type SnapshotHead } from './snapshot.js';
import { subscriptionsRepo } from './subscriptions.js';
import { TASK_COLUMNS, type TaskRow } from '../domain/task.js';

// `pushhub copy` on the SQLite side. `name` is the flag and the file, for messages.

function refuseMissing(path: string, name: string): void {
  if (!existsSync(path)) throw new CopyError(`${name}: no such database`);
}

function refuseNotEmpty(path: string, name: string): void {
  if (existsSync(path) && statSync(path).size > 0) throw new CopyError(`${name}: exists and is not empty; the copy goes into a new or empty file`);
}

/** The database's cursor epoch; refuses a file that is not a pushhub database. */
function readEpoch(db: Db, name: string): string {
  let epoch: string | undefined;
  try {
    epoch = settingsRepo(db).get('epoch');
  } catch (err) {
    throw new CopyError(`${name}: not a pushhub database (${reason(err)})`);
  }
  if (!epoch) throw new CopyError(`${name}: not a pushhub database (no epoch)`);
  return epoch;
}

/** The tables a copy reads and writes. */
const TABLES = ['events', 'subscriptions', 'deliveries', 'delivery_attempts', 'idempotency_keys', 'api_keys', 'tasks'];

/** The epoch and the heads; refuses a database this pushhub cannot read whole. */
function readHead(db: Db, name: string): SnapshotHead {
  const epoch = readEpoch(db, name);
  const present = new Set(db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all());
  checkSourceSchema(name, db.pragma('user_version', { simple: true }) as number, latestSchemaVersion(), TABLES.filter((t) => !present.has(t)));
  const sequence = db.prepare<[string], number>('SELECT seq FROM sqlite_sequence WHERE name = ?').pluck();
  return {
    epoch,
    head: sequence.get('events') ?? 0,
    prunedThrough: Number(settingsRepo(db).get(PRUNED_THROUGH) ?? 0),
    deliveriesHead: sequence.get('deliveries') ?? 0,
  };
}

/** A statement's rows in pages of PAGE_ROWS. */
async function* pages<R>(statement: Database.Statement<[], R>): AsyncGenerator<R[]> {
  let page: R[] = [];
  for (const row of statement.iterate()) {
    page.push(row);
    if (page.length === PAGE_ROWS) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}

/**
 * A SQLite database as one snapshot: a read transaction on a read-only connection, held
 * until closed. In WAL mode a running hub keeps writing meanwhile; the snapshot sees the
 * database as it was at its first read, as the online backup does.
 */
export function openSqliteSnapshot(path: string, name: string): OpenSnapshot {
  refuseMissing(path, name);
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.exec('BEGIN'); // deferred: the first read below takes the snapshot
    const head = readHead(db, name);
    const all = <R>(sql: string) => pages(db.prepare<[], R>(sql));
    const snapshot: Snapshot = {
      head,
      events: () => all(`SELECT ${EVENT_COLUMNS.join(', ')} FROM events ORDER BY seq`),
      // A few rows: read whole, through the store's own mapping.
      subscriptions: () => [subscriptionsRepo(db).all().map(toSubscriptionRow)],
      deliveries: () => all(`SELECT ${DELIVERY_COLUMNS.join(', ')} FROM deliveries ORDER BY seq`),
      attempts: () => all(`SELECT ${ATTEMPT_COLUMNS.join(', ')} FROM delivery_attempts ORDER BY delivery_seq, n`),
      idempotencyKeys: () => all<SavedKeyRow>('SELECT key, fingerprint, response, created_at FROM idempotency_keys ORDER BY key'),
      apiKeys: () => all<KeyRow>(`SELECT ${KEY_COLUMNS.join(', ')} FROM api_keys ORDER BY id`),
      tasks: () => all<TaskRow>(`SELECT ${TASK_COLUMNS.join(', ')} FROM tasks ORDER BY id`),
    };
    return {
      snapshot,
      close() {
        if (db.inTransaction) db.exec('COMMIT');
        db.close();
        return Promise.resolve();
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Writes a snapshot into a new (or empty) SQLite file: created as the store creates its
 * own (0600, in a 0700 folder when it makes one), migrated by the store's migrations, filled
 * in one transaction. A copy that fails leaves no file behind (or the empty one it found).
 * Deliveries in flight in the snapshot are released as a hub does at start.
 */
export async function writeSqliteSnapshot(path: string, name: string, snapshot: Snapshot, now: number): Promise<CopyCounts> {
  refuseNotEmpty(path, name);
  const siblings = [path, `${path}-wal`, `${path}-shm`, `${path}.lock`];
  const existed = new Set(siblings.filter((f) => existsSync(f)));
  const undo = (): void => {
    for (const file of siblings) {
      if (!existed.has(file)) rmSync(file, { force: true });
      else if (file === path) truncateSync(file, 0);
    }
  };
  let opened: ReturnType<typeof openDatabase>;
  try {
    opened = openDatabase({ path, synchronous: 'FULL', busyTimeoutMs: 5000 });
  } catch (err) {
    undo();
    if (err instanceof DatabaseInUseError) throw new CopyError(`${name}: in use by a running pushhub hub`);
    throw new CopyError(`${name}: cannot create the database (${reason(err)})`);
  }
  const { db } = opened;
  let committed = false;
  try {
    db.exec('BEGIN IMMEDIATE');
    const counts = await fill(db, snapshot, now);
    db.exec('COMMIT');
    committed = true;
    return counts;
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    if (err instanceof CopyError) throw err;
    throw new CopyError(`${name}: the copy failed, nothing was kept (${reason(err)})`);
  } finally {
    closeDatabase(opened);
    if (!committed) undo();
  }
}

/** Every row of the snapshot into `db`, inside the caller's transaction. */
async function fill(db: Db, snapshot: Snapshot, now: number): Promise<CopyCounts> {
  const { head } = snapshot;
  const settings = settingsRepo(db);
  settings.set('epoch', head.epoch);
  settings.set(PRUNED_THROUGH, String(head.prunedThrough));
  const counts: CopyCounts = { events: 0, subscriptions: 0, deliveries: 0 };

  const insertEvents = inserter(db, 'events', EVENT_COLUMNS);
  for await (const page of snapshot.events()) counts.events += insertEvents(page);
  const subscriptions = subscriptionsRepo(db);
  for await (const page of snapshot.subscriptions()) {
    for (const row of page) subscriptions.put(fromSubscriptionRow(row));
    counts.subscriptions += page.length;
  }
  const insertDeliveries = inserter(db, 'deliveries', DELIVERY_COLUMNS);
  for await (const page of snapshot.deliveries()) counts.deliveries += insertDeliveries(page);
  const insertAttempts = inserter(db, 'delivery_attempts', ATTEMPT_COLUMNS);
  for await (const page of snapshot.attempts()) insertAttempts(page);
  const keys = idempotencyRepo(db);
  for await (const page of snapshot.idempotencyKeys()) {
    for (const k of page) keys.put(k.key, { fingerprint: k.fingerprint, response: k.response }, k.created_at);
  }
  const insertApiKeys = inserter(db, 'api_keys', KEY_COLUMNS);
  for await (const page of snapshot.apiKeys()) insertApiKeys(page);
  const insertTasks = inserter(db, 'tasks', TASK_COLUMNS);
  for await (const page of snapshot.tasks()) insertTasks(page);

  // What the hub holds at start, so that nothing copied counts as claimed by a hub.
  deliveriesRepo(db).releaseAll(now);
  // The next positions come after the source's: AUTOINCREMENT takes them from here.
  const raise = db.prepare<[number, string]>('UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?');
  const add = db.prepare<[string, number]>('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)');
  for (const [table, seq] of [['events', head.head], ['deliveries', head.deliveriesHead]] as const) {
    if (raise.run(seq, table).changes === 0 && seq > 0) add.run(table, seq);
  }
  return counts;
}

/** Inserts rows of `table` with their `columns` as they are, many rows per statement; returns how many. */
function inserter<R>(db: Db, table: string, columns: ReadonlyArray<keyof R & string>): (rows: readonly R[]) => number {
  const statement = rowStatements(db, columns.length, (values) => `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}`);
  return (rows) => {
    runInChunks(rows, statement, (row, into) => {
      for (const c of columns) into.push(row[c]);
    });
    return rows.length;
  };
}

/**
 * SQLite to SQLite: the online backup, every page in one step inside one read transaction
 * (a backup in small steps starts over whenever the running hub writes between two of
 * them, and may never finish under steady load; one step reads one snapshot, and in WAL
 * mode it does not hold the writer back). Checked with quick_check.
 */
export async function backupSqlite(from: string, fromName: string, to: string, toName: string): Promise<CopyCounts & { epoch: string }> {
  refuseMissing(from, fromName);
  refuseNotEmpty(to, toName);
  const db = new Database(from, { readonly: true, fileMustExist: true });
  try {
    readEpoch(db, fromName);
    mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
    closeSync(openSync(to, 'a', 0o600));
    await db.backup(to, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
  const copy = new Database(to, { fileMustExist: true });
  try {
    const check = copy.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new CopyError(`${toName}: the copy failed its integrity check (${String(check)})`);
    const count = (table: string): number => copy.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
    return {
      events: count('events'),
      subscriptions: count('subscriptions'),
      deliveries: count('deliveries'),
      epoch: copy.prepare("SELECT value FROM settings WHERE key = 'epoch'").pluck().get() as string,
    };
  } finally {
    copy.close();
  }
}
