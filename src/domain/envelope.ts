import { z } from 'zod';
import { isoTime } from './iso-time.js';
import { channelSchema, typeSchema } from './names.js';

/** What a publisher sends, one event. */
export const publishInputSchema = z.strictObject({
  channel: channelSchema,
  type: typeSchema,
  // Any JSON value (the body was parsed as JSON); only its absence is wrong.
  data: z.custom<unknown>((v) => v !== undefined, 'is required'),
  occurred_at: z.iso
    .datetime({ offset: true, message: 'must be an ISO 8601 date-time with a time zone, e.g. 2026-01-20T12:00:01.123Z' })
    .optional(),
});
export type PublishInput = z.output<typeof publishInputSchema>;

export const MAX_BATCH = 1000;

export const batchInputSchema = z.strictObject({
  events: z.array(publishInputSchema).min(1, 'must hold at least one event').max(MAX_BATCH, `must hold at most ${MAX_BATCH} events`),
});

/** An event about to be written: everything but its log position. */
export interface NewEvent {
  id: string;
  channel: string;
  type: string;
  occurredAt: number; // epoch ms
  receivedAt: number; // epoch ms
  /** The `data` value as JSON text, serialised once at ingest. */
  data: string;
}

/** A committed event: `seq` is its position in the log (what a cursor encodes). */
export interface StoredEvent extends NewEvent {
  seq: number;
}

/**
 * The envelope as JSON text, in API.md's field order. `data` is already JSON, so it is
 * spliced in, never parsed and re-serialised.
 */
export function envelopeJson(event: StoredEvent, cursor: string): string {
  return (
    `{"id":${JSON.stringify(event.id)},"channel":${JSON.stringify(event.channel)},` +
    `"type":${JSON.stringify(event.type)},"occurred_at":"${isoTime(event.occurredAt)}",` +
    `"cursor":"${cursor}","spec_version":"1","data":${event.data}}`
  );
}

/**
 * The public `202` result for one accepted event, as JSON text (built directly: batches of a
 * thousand results skip generic serialisation). Channel, type and id need no escaping: their
 * characters are validated.
 */
export function acceptedJson(event: StoredEvent, cursor: string): string {
  return (
    `{"id":"${event.id}","channel":"${event.channel}","type":"${event.type}",` +
    `"occurred_at":"${isoTime(event.occurredAt)}","cursor":"${cursor}","status_url":"/v1/events/${event.id}"}`
  );
}
