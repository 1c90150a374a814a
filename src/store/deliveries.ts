import type { Attempt, AttemptRecord, ClaimedDelivery, Delivery } from '../domain/delivery.js';
import type { DeliveryState } from '../domain/event-status.js';
import type { Db } from './db.js';
import { rowStatements, runInChunks } from './row-statements.js';
import type { RecordedRow } from './operational.js';
import type { ClaimResult, TimeWindow } from './store.js';
import { DELIVERY_COLUMNS, fromAttemptRow, fromDeliveryRow, type AttemptRow, type DeliveryRow } from './rows.js';

export interface NewDelivery {
  id: string;
  subscriptionId: string;
  eventId: string;
  eventSeq: number;
}

export interface ClaimQuery {
  subscriptionId: string;
  /** Ordered: only the queue head (lowest position), and only when it is due. */
  ordered: boolean;
  limit: number;
  now: number;
  /** Only deliveries of events up to this log position: the durable head, never beyond. */
  maxEventSeq: number;
}


export interface DeliveryFilter {
  subscriptionId?: string | undefined;
  state?: DeliveryState | undefined;
  /** Only rows before this position (the list goes newest first). */
  beforeSeq?: number | undefined;
  limit: number;
}

/** Outcome of asking to re-queue one delivery. */
export type RequeueResult = { ok: true; delivery: Delivery } | { ok: false; reason: 'not_found' | 'in_flight' | 'cancelled' };

export interface DeliveryCounts {
  /** subscription id → deliveries waiting (pending or retrying). */
  waiting: Map<string, number>;
  /** subscription id → dead letters. */
  dead: Map<string, number>;
}

export interface DeliveriesRepo {
  /** Writes one outbox row, due now. Call inside the event's transaction. */
  insert(d: NewDelivery, now: number): void;
  /** Marks due deliveries of one subscription in flight and returns them with their events. */
  claim(req: ClaimQuery): ClaimResult;
  /** Records attempts and their results; a delivery no longer in flight (cancelled) keeps its state. */
  record(records: readonly AttemptRecord[], now: number): void;
  /** Puts in-flight deliveries back in the queue, due now, their attempt not counted. */
  release(seqs: readonly number[], now: number): void;
  /** Releases every in-flight delivery; returns how many. */
  releaseAll(now: number): number;
  get(id: string): Delivery | undefined;
  attempts(seq: number): Attempt[];
  ofEvent(eventSeq: number): Delivery[];
  /** Newest first. */
  list(filter: DeliveryFilter): Delivery[];
  /** Queues one delivery again, due now, with a fresh retry budget when it had finished. */
  requeue(id: string, now: number): RequeueResult;
  /** Re-queues up to `batch` dead deliveries of a subscription (made within `window`); returns how many. */
  redriveBatch(subscriptionId: string, now: number, batch: number, window?: TimeWindow): number;
  /** The rows among `seqs` still in flight, with their events' channels (read before recording their attempts). */
  inFlight(seqs: readonly number[]): RecordedRow[];
  /** The log positions after `afterSeq`, up to `toSeq`, a subscription has deliveries of. */
  eventSeqsOf(subscriptionId: string, afterSeq: number, toSeq: number): Set<number>;
  /** Cancels in-flight deliveries (claimed for a subscription deleted before they were sent). */
  cancelClaimed(seqs: readonly number[], now: number): void;
  /** Cancels up to `batch` waiting deliveries of a (deleted) subscription; returns how many. */
  cancelBatch(subscriptionId: string, now: number, batch: number): number;
  /** Removes up to `batch` deliveries finished before `cutoff`, with their attempts. */
  pruneFinished(cutoff: number, batch: number): number;
  /** Removes up to `batch` deliveries whose event is at or before `eventSeq` (pruned from the log). */
  pruneOfEventsThrough(eventSeq: number, batch: number): number;
  counts(): DeliveryCounts;
}

/**
 * A claimable row with its event, as an array (better-sqlite3 `raw` mode: no object per
 * row on the hottest read). The event's columns are null when retention already removed it.
 */
type ClaimRow = [
  seq: number,
  id: string,
  attempts: number,
  cycleAttempts: number,
  cycleStartedAt: number | null,
  nextAttemptAt: number,
  eventId: string,
  eventSeq: number,
  channel: string | null,
  type: string | null,
  occurredAt: number | null,
  receivedAt: number | null,
  data: string | null,
];

const COLUMNS = DELIVERY_COLUMNS.join(', ');
const WAITING = "state IN ('pending', 'retrying')";
const FINISHED = "state IN ('succeeded', 'dead', 'cancelled')";

const CLAIM_SELECT = `SELECT d.seq, d.id, d.attempts, d.cycle_attempts, d.cycle_started_at, d.next_attempt_at,
    d.event_id, d.event_seq, e.channel, e.type, e.occurred_at, e.received_at, e.data
  FROM deliveries d LEFT JOIN events e ON e.seq = d.event_seq`;

export function deliveriesRepo(db: Db): DeliveriesRepo {
  const insert = db.prepare<[string, string, string, number, number, number, number]>(
    `INSERT INTO deliveries (id, subscription_id, event_id, event_seq, state, next_attempt_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)`,
  );
  // `LIMIT +?`, not `LIMIT ?`: SQLite plans with a bare LIMIT parameter's value, so binding
  // one re-prepares the statement on every run (measured: twice the cost of the claim).
  const dueOf = db
    .prepare<[string, number, number, number], ClaimRow>(
      `${CLAIM_SELECT} WHERE d.subscription_id = ? AND d.${WAITING} AND d.next_attempt_at <= ? AND d.event_seq <= ?
       ORDER BY d.next_attempt_at LIMIT +?`,
    )
    .raw(true);
  const headOf = db
    .prepare<[string], ClaimRow>(`${CLAIM_SELECT} WHERE d.subscription_id = ? AND d.${WAITING} ORDER BY d.seq LIMIT 1`)
    .raw(true);
  const nextDue = db.prepare<[string], { at: number | null }>(
    `SELECT MIN(next_attempt_at) AS at FROM deliveries WHERE subscription_id = ? AND ${WAITING}`,
  );
  // The hot path writes a whole batch per statement (row-statements.ts): a pass costs a
  // few statements however many deliveries it settles (bench/webhooks).
  const markInFlight = rowStatements(db, 1, (values) => `UPDATE deliveries SET state = 'in_flight', updated_at = ? WHERE seq IN (VALUES ${values})`);
  const markOrphan = db.prepare<[number, number, number]>(
    `UPDATE deliveries SET state = 'cancelled', last_error = 'event no longer retained', updated_at = ?, completed_at = ?
     WHERE seq = ?`,
  );
  const insertAttempts = rowStatements(
    db,
    7,
    (values) => `INSERT OR REPLACE INTO delivery_attempts (delivery_seq, n, at, duration_ms, status, error, response_body) VALUES ${values}`,
  );
  // Each row: (seq, state, attempt at, status, error, next_attempt_at, completed_at).
  const recordResults = rowStatements(
    db,
    7,
    (values) => `UPDATE deliveries SET state = r.column2, attempts = attempts + 1, cycle_attempts = cycle_attempts + 1,
       cycle_started_at = coalesce(cycle_started_at, r.column3), last_status = r.column4, last_error = r.column5,
       next_attempt_at = r.column6, updated_at = ?, completed_at = r.column7
     FROM (VALUES ${values}) AS r
     WHERE deliveries.seq = r.column1 AND deliveries.state = 'in_flight'`,
  );
  // Back to where it was before the claim: an attempt that never got its answer is not counted.
  const release = db.prepare<[number, number, number]>(
    `UPDATE deliveries SET state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END,
       next_attempt_at = ?, updated_at = ? WHERE seq = ? AND state = 'in_flight'`,
  );
  const releaseAll = db.prepare<[number, number]>(
    `UPDATE deliveries SET state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END,
       next_attempt_at = ?, updated_at = ? WHERE state = 'in_flight'`,
  );
  const get = db.prepare<[string], DeliveryRow>(`SELECT ${COLUMNS} FROM deliveries WHERE id = ?`);
  const attempts = db.prepare<[number], AttemptRow>(
    'SELECT n, at, duration_ms, status, error, response_body FROM delivery_attempts WHERE delivery_seq = ? ORDER BY n',
  );
  const ofEvent = db.prepare<[number], DeliveryRow>(`SELECT ${COLUMNS} FROM deliveries WHERE event_seq = ? ORDER BY seq`);
  const listAll = db.prepare<[number, number], DeliveryRow>(
    `SELECT ${COLUMNS} FROM deliveries WHERE seq < ? ORDER BY seq DESC LIMIT ?`,
  );
  const listBySub = db.prepare<[string, number, number], DeliveryRow>(
    `SELECT ${COLUMNS} FROM deliveries WHERE subscription_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
  );
  // Dead letters have their own partial indexes; other states are rarer questions, answered
  // by walking the list from the newest row.
  const listByState = db.prepare<[string, number, number], DeliveryRow>(
    `SELECT ${COLUMNS} FROM deliveries WHERE state = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
  );
  const listBySubState = db.prepare<[string, string, number, number], DeliveryRow>(
    `SELECT ${COLUMNS} FROM deliveries WHERE subscription_id = ? AND state = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
  );
  const listDead = db.prepare<[number, number], DeliveryRow>(
    `SELECT ${COLUMNS} FROM deliveries WHERE state = 'dead' AND seq < ? ORDER BY seq DESC LIMIT ?`,
  );
  const listDeadBySub = db.prepare<[string, number, number], DeliveryRow>(
    `SELECT ${COLUMNS} FROM deliveries WHERE state = 'dead' AND subscription_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
  );
  // A finished delivery starts a fresh retry budget; a waiting one only moves up.
  const requeue = db.prepare<[number, number, number]>(
    `UPDATE deliveries SET
       cycle_attempts = CASE WHEN ${FINISHED} THEN 0 ELSE cycle_attempts END,
       cycle_started_at = CASE WHEN ${FINISHED} THEN NULL ELSE cycle_started_at END,
       state = CASE WHEN ${FINISHED} THEN 'pending' ELSE state END,
       completed_at = NULL, next_attempt_at = ?, updated_at = ?
     WHERE seq = ?`,
  );
  const redrive = db.prepare<[number, number, string, number, number, number]>(
    `UPDATE deliveries SET state = 'pending', cycle_attempts = 0, cycle_started_at = NULL, completed_at = NULL,
       next_attempt_at = ?, updated_at = ?
     WHERE seq IN (SELECT seq FROM deliveries WHERE state = 'dead' AND subscription_id = ? AND created_at >= ? AND created_at < ? LIMIT ?)`,
  );
  const inFlight = db.prepare<[string], RecordedRow>(
    `SELECT d.seq, d.id, d.subscription_id, d.event_id, e.channel, d.last_status
     FROM deliveries d LEFT JOIN events e ON e.seq = d.event_seq
     WHERE d.seq IN (SELECT value FROM json_each(?)) AND d.state = 'in_flight'`,
  );
  const eventSeqsOf = db
    .prepare<[string, number, number], number>('SELECT event_seq FROM deliveries WHERE subscription_id = ? AND event_seq > ? AND event_seq <= ?')
    .pluck();
  // Waiting rows through their partial index: old finished rows are never scanned. Rows in
  // flight are settled by the dispatcher, which sees the subscription gone.
  const cancelWaiting = db.prepare<[number, number, string, number]>(
    `UPDATE deliveries SET state = 'cancelled', last_error = 'subscription deleted', updated_at = ?, completed_at = ?
     WHERE seq IN (SELECT seq FROM deliveries INDEXED BY deliveries_queue WHERE subscription_id = ? AND ${WAITING} LIMIT ?)`,
  );
  const cancelClaimed = db.prepare<[number, number, number]>(
    `UPDATE deliveries SET state = 'cancelled', last_error = 'subscription deleted', updated_at = ?, completed_at = ?
     WHERE seq = ? AND state = 'in_flight'`,
  );
  const pruneFinished = db.prepare<[number, number]>(
    `DELETE FROM deliveries WHERE seq IN
       (SELECT seq FROM deliveries INDEXED BY deliveries_done WHERE ${FINISHED} AND completed_at < ? LIMIT ?)`,
  );
  const pruneOfEvents = db.prepare<[number, number]>(
    'DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries WHERE event_seq <= ? LIMIT ?)',
  );
  const waitingCounts = db.prepare<[], { subscription_id: string; n: number }>(
    `SELECT subscription_id, COUNT(*) AS n FROM deliveries WHERE ${WAITING} GROUP BY subscription_id`,
  );
  const deadCounts = db.prepare<[], { subscription_id: string; n: number }>(
    "SELECT subscription_id, COUNT(*) AS n FROM deliveries WHERE state = 'dead' GROUP BY subscription_id",
  );

  const counted = (rows: Array<{ subscription_id: string; n: number }>): Map<string, number> =>
    new Map(rows.map((r) => [r.subscription_id, r.n]));

  /** Marks claimable rows in flight; a row whose event was pruned is cancelled instead. */
  const take = (subscriptionId: string, rows: ClaimRow[], now: number): ClaimedDelivery[] => {
    const claimed: ClaimedDelivery[] = [];
    for (const [seq, id, attempts, cycleAttempts, cycleStartedAt, , eventId, eventSeq, channel, type, occurredAt, receivedAt, data] of rows) {
      if (data === null) {
        markOrphan.run(now, now, seq);
        continue;
      }
      claimed.push({
        seq,
        id,
        subscriptionId,
        attempt: attempts + 1,
        cycleAttempts,
        cycleStartedAt,
        event: { seq: eventSeq, id: eventId, channel: channel!, type: type!, occurredAt: occurredAt!, receivedAt: receivedAt!, data },
      });
    }
    runInChunks(claimed, markInFlight, (c, into) => into.push(c.seq), [now]);
    return claimed;
  };

  return {
    insert: (d, now) => void insert.run(d.id, d.subscriptionId, d.eventId, d.eventSeq, now, now, now),
    claim({ subscriptionId, ordered, limit, now, maxEventSeq }) {
      if (ordered) {
        const head = headOf.get(subscriptionId);
        if (!head) return { claimed: [], nextDueAt: null };
        const [, , , , , nextAttemptAt, , eventSeq] = head;
        if (nextAttemptAt > now) return { claimed: [], nextDueAt: nextAttemptAt };
        // Not durable yet: the commit's notification comes once it is.
        if (eventSeq > maxEventSeq) return { claimed: [], nextDueAt: null };
        const claimed = take(subscriptionId, [head], now);
        // An orphan head was cancelled: whatever follows is due to be looked at at once.
        return { claimed, nextDueAt: claimed.length > 0 ? null : now };
      }
      const claimed = take(subscriptionId, dueOf.all(subscriptionId, now, maxEventSeq, limit), now);
      return { claimed, nextDueAt: nextDue.get(subscriptionId)?.at ?? null };
    },
    record(records, now) {
      runInChunks(records, insertAttempts, ({ deliverySeq, attempt: a }, into) =>
        into.push(deliverySeq, a.n, a.at, a.durationMs, a.status, a.error, a.responseBody),
      );
      runInChunks(
        records,
        recordResults,
        ({ deliverySeq, attempt, result }, into) => {
          const waiting = 'nextAttemptAt' in result;
          into.push(deliverySeq, result.state, attempt.at, attempt.status, attempt.error, waiting ? result.nextAttemptAt : now, waiting ? null : now);
        },
        [now],
      );
    },
    release(seqs, now) {
      for (const seq of seqs) release.run(now, now, seq);
    },
    releaseAll: (now) => releaseAll.run(now, now).changes,
    get(id) {
      const row = get.get(id);
      return row && fromDeliveryRow(row);
    },
    attempts: (seq) =>
      attempts.all(seq).map(fromAttemptRow),
    ofEvent: (eventSeq) => ofEvent.all(eventSeq).map(fromDeliveryRow),
    list({ subscriptionId, state, beforeSeq, limit }) {
      const before = beforeSeq ?? Number.MAX_SAFE_INTEGER;
      let rows: DeliveryRow[];
      if (state === 'dead') {
        rows = subscriptionId === undefined ? listDead.all(before, limit) : listDeadBySub.all(subscriptionId, before, limit);
      } else if (state !== undefined) {
        rows = subscriptionId === undefined ? listByState.all(state, before, limit) : listBySubState.all(subscriptionId, state, before, limit);
      } else {
        rows = subscriptionId === undefined ? listAll.all(before, limit) : listBySub.all(subscriptionId, before, limit);
      }
      return rows.map(fromDeliveryRow);
    },
    requeue(id, now) {
      const row = get.get(id);
      if (!row) return { ok: false, reason: 'not_found' };
      if (row.state === 'in_flight') return { ok: false, reason: 'in_flight' };
      if (row.state === 'cancelled') return { ok: false, reason: 'cancelled' };
      requeue.run(now, now, row.seq);
      return { ok: true, delivery: fromDeliveryRow(get.get(id)!) };
    },
    redriveBatch: (subscriptionId, now, batch, window = {}) =>
      redrive.run(now, now, subscriptionId, window.since ?? 0, window.until ?? Number.MAX_SAFE_INTEGER, batch).changes,
    inFlight: (seqs) => (seqs.length === 0 ? [] : inFlight.all(JSON.stringify(seqs))),
    eventSeqsOf: (subscriptionId, afterSeq, toSeq) => new Set(eventSeqsOf.all(subscriptionId, afterSeq, toSeq)),
    cancelClaimed(seqs, now) {
      for (const seq of seqs) cancelClaimed.run(now, now, seq);
    },
    cancelBatch: (subscriptionId, now, batch) => cancelWaiting.run(now, now, subscriptionId, batch).changes,
    pruneFinished: (cutoff, batch) => pruneFinished.run(cutoff, batch).changes,
    pruneOfEventsThrough: (eventSeq, batch) => pruneOfEvents.run(eventSeq, batch).changes,
    counts: () => ({ waiting: counted(waitingCounts.all()), dead: counted(deadCounts.all()) }),
  };
}
