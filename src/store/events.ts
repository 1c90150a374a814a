import type { NewEvent, StoredEvent } from '../domain/envelope.js';
import type { Db } from './db.js';
import { rowStatements, runInChunks } from './row-statements.js';
import type { SettingsRepo } from './settings.js';
import { EVENT_COLUMNS, fromEventRow, type EventRow } from './rows.js';

export interface EventsRepo {
  /** Appends events to the log, in order, and returns their positions. Call inside a transaction. */
  insertMany(events: readonly NewEvent[]): number[];
  /**
   * Readers see the log only up to the durable head: an event committed but not yet on disk
   * stays invisible, so no reader can advance a cursor past what a power loss could undo.
   */
  markDurable(seq: number): void;
  getById(id: string): StoredEvent | undefined;
  /** Events of one channel after a position, oldest first. */
  listChannelAfter(channel: string, afterSeq: number, limit: number): StoredEvent[];
  /** Events of every channel after a position, oldest first. */
  listAfter(afterSeq: number, limit: number): StoredEvent[];
  /** The newest durable position (0 for an empty log). */
  headSeq(): number;
  /** Every position up to and including this one has been pruned (0: nothing pruned). */
  prunedThrough(): number;
  /**
   * Removes, in one short transaction, up to `batch` of the oldest events received before
   * `cutoff`. The log is pruned as a prefix, so "pruned through N" stays exact.
   */
  pruneBatch(cutoff: number, batch: number): number;
}

/** The settings key of how far retention pruned the log. */
export const PRUNED_THROUGH = 'events.pruned_through';

const COLUMNS = EVENT_COLUMNS.join(', ');

export function eventsRepo(db: Db, settings: SettingsRepo): EventsRepo {
  const insertRows = rowStatements(db, 6, (values) => `INSERT INTO events (id, channel, type, occurred_at, received_at, data) VALUES ${values}`);
  const byId = db.prepare<[string, number], EventRow>(`SELECT ${COLUMNS} FROM events WHERE id = ? AND seq <= ?`);
  const channelAfter = db.prepare<[string, number, number, number], EventRow>(
    `SELECT ${COLUMNS} FROM events WHERE channel = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`,
  );
  const after = db.prepare<[number, number, number], EventRow>(`SELECT ${COLUMNS} FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`);
  const head = db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'events'");
  const oldest = db.prepare<[number], { seq: number; received_at: number }>(
    'SELECT seq, received_at FROM events ORDER BY seq LIMIT ?',
  );
  const deleteThrough = db.prepare<[number]>('DELETE FROM events WHERE seq <= ?');

  let prunedThrough = Number(settings.get(PRUNED_THROUGH) ?? 0);
  // What the file holds at open is durable (openDatabase synced it).
  let durableHead = head.get()?.seq ?? 0;

  return {
    insertMany(events) {
      const seqs = new Array<number>(events.length);
      runInChunks(
        events,
        insertRows,
        (e, into) => into.push(e.id, e.channel, e.type, e.occurredAt, e.receivedAt, e.data),
        [],
        // One writer and AUTOINCREMENT: the rows of one statement get consecutive positions.
        (start, count, { lastInsertRowid }) => {
          const first = Number(lastInsertRowid) - count + 1;
          for (let k = 0; k < count; k++) seqs[start + k] = first + k;
        },
      );
      return seqs;
    },
    markDurable(seq) {
      if (seq > durableHead) durableHead = seq;
    },
    getById: (id) => {
      const row = byId.get(id, durableHead);
      return row && fromEventRow(row);
    },
    listChannelAfter: (channel, afterSeq, limit) => channelAfter.all(channel, afterSeq, durableHead, limit).map(fromEventRow),
    listAfter: (afterSeq, limit) => after.all(afterSeq, durableHead, limit).map(fromEventRow),
    headSeq: () => durableHead,
    prunedThrough: () => prunedThrough,
    pruneBatch(cutoff, batch) {
      return db.transaction(() => {
        let through = 0;
        let count = 0;
        for (const row of oldest.all(batch)) {
          if (row.received_at >= cutoff) break;
          through = row.seq;
          count++;
        }
        if (count === 0) return 0;
        deleteThrough.run(through);
        settings.set(PRUNED_THROUGH, String(through));
        prunedThrough = through;
        return count;
      }).immediate();
    },
  };
}
