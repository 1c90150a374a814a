import { z } from 'zod';
import { isoTime } from './iso-time.js';
import { channelSchema, publishChannelSchema, typeSchema } from './names.js';

/**
 * Deepest nesting of arrays and objects accepted in `data`: far beyond any real payload, and
 * far below what would exhaust the stack when the hub serialises it (JSON.parse copes with any
 * depth; JSON.stringify and canonical JSON recurse).
 */
export const MAX_DATA_DEPTH = 128;

/** Whether a parsed JSON value nests arrays and objects at most `max` levels deep. Iterative. */
export function nestsWithin(value: unknown, max: number): boolean {
  let level: object[] = value !== null && typeof value === 'object' ? [value] : [];
  for (let depth = 1; level.length > 0; depth++) {
    if (depth > max) return false;
    const next: object[] = [];
    for (const node of level) {
      for (const child of Object.values(node)) if (child !== null && typeof child === 'object') next.push(child as object);
    }
    level = next;
  }
  return true;
}

/** What a publisher sends, one event. */
export const publishInputSchema = z.strictObject({
  channel: publishChannelSchema,
  type: typeSchema,
  // Any JSON value (the body was parsed as JSON); only its absence, or a pathological depth, is wrong.
  data: z
    .custom<unknown>((v) => v !== undefined, 'is required')
    .refine((v) => nestsWithin(v, MAX_DATA_DEPTH), `must not nest arrays and objects more than ${MAX_DATA_DEPTH} levels deep`)
    .meta({ description: 'Any JSON value, carried as sent.' }),
  occurred_at: z.iso
    .datetime({ offset: true, message: 'must be an ISO 8601 date-time with a time zone, e.g. 2026-01-20T12:00:01.123Z' })
    .optional()
    .meta({ description: 'When it happened; defaults to the time the hub accepted it.' }),
});
export type PublishInput = z.output<typeof publishInputSchema>;

/** The documents' name for one event to publish (the WebSocket `publish` frame extends the bare schema). */
export const publishRequestSchema = publishInputSchema.meta({ id: 'PublishRequest' });

export const MAX_BATCH = 1000;

export const batchInputSchema = z
  .strictObject({
    events: z.array(publishRequestSchema).min(1, 'must hold at least one event').max(MAX_BATCH, `must hold at most ${MAX_BATCH} events`),
  })
  .meta({ id: 'BatchPublishRequest' });

const isoTimeSchema = z.iso.datetime();
const cursorSchema = z.string().meta({ description: 'Opaque position in the log; pass it back as is to resume after it.' });

/** The envelope, the same on every transport (see envelopeJson). */
export const envelopeSchema = z
  .strictObject({
    id: z.string().meta({ description: 'Unique, assigned by the hub, the same on every delivery attempt.' }),
    channel: channelSchema,
    type: typeSchema,
    occurred_at: isoTimeSchema,
    cursor: cursorSchema,
    spec_version: z.literal('1'),
    data: z.unknown().meta({ description: 'The JSON value the publisher sent.' }),
  })
  .meta({ id: 'Envelope' });

/** The `202` answer for one accepted (durably committed) event (see acceptedJson). */
export const acceptedEventSchema = z
  .strictObject({
    id: z.string(),
    channel: channelSchema,
    type: typeSchema,
    occurred_at: isoTimeSchema,
    cursor: cursorSchema,
    status_url: z.string().meta({ description: 'Path of the event status resource.' }),
  })
  .meta({ id: 'AcceptedEvent' });

export const acceptedBatchSchema = z
  .strictObject({ events: z.array(acceptedEventSchema).meta({ description: 'One result per input event, in order.' }) })
  .meta({ id: 'AcceptedBatch' });

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
 * The envelope as JSON text, in the documented field order. `data` is already JSON, so it is
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
  const [before, after] = acceptedJsonParts(event);
  return before + cursor + after;
}

/** acceptedJson before and after its cursor: built before the commit assigns the position. */
export function acceptedJsonParts(event: NewEvent): [before: string, after: string] {
  return [
    `{"id":"${event.id}","channel":"${event.channel}","type":"${event.type}",` + `"occurred_at":"${isoTime(event.occurredAt)}","cursor":"`,
    `","status_url":"/v1/events/${event.id}"}`,
  ];
}
