import type { AttemptRecord } from '../domain/delivery.js';
import { deliveryEvents, mayRaiseDeliveryEvent, type OperationalEvent } from '../domain/operational.js';

/**
 * What both stores share of writing operational events inside the transaction of the change
 * they report: which attempt records to look at, and the events the rows they recorded raise.
 */

/** A delivery row as read in the recording transaction, before the record: only rows still in flight (the record applies). */
export interface RecordedRow {
  seq: number;
  id: string;
  subscription_id: string;
  event_id: string;
  /** The channel of its event (null: retention removed it). */
  channel: string | null;
  last_status: number | null;
}

/** The records that may raise a delivery event: the only ones a store reads rows for. */
export const eventfulRecords = (records: readonly AttemptRecord[]): AttemptRecord[] =>
  records.filter((r) => mayRaiseDeliveryEvent(r.attempt.n, r.result.state));

/** The delivery events of the records whose rows were in flight (`rows`: read before the record). */
export function recordedEvents(records: readonly AttemptRecord[], rows: readonly RecordedRow[]): OperationalEvent[] {
  const bySeq = new Map(rows.map((r) => [r.seq, r]));
  return records.flatMap((r) => {
    const row = bySeq.get(r.deliverySeq);
    if (!row) return [];
    return deliveryEvents({
      deliveryId: row.id,
      subscriptionId: row.subscription_id,
      eventId: row.event_id,
      channel: row.channel ?? '',
      n: r.attempt.n,
      state: r.result.state,
      status: r.attempt.status,
      error: r.attempt.error,
      previousStatus: row.last_status,
    });
  });
}
