import { z } from 'zod';
import { publishInputSchema } from '../domain/envelope.js';
import { channelSchema } from '../domain/names.js';

/** The `error` codes of API.md's WebSocket section, plus the ingest refusals a publish can meet. */
export type FrameErrorCode =
  | 'invalid_message'
  | 'unknown_op'
  | 'invalid_channel'
  | 'invalid_cursor'
  | 'forbidden'
  | 'rate_limited'
  | 'too_many_subscriptions'
  | 'overloaded'
  | 'storage_unavailable'
  | 'shutting_down'
  | 'internal_error';

/** The client's correlation number, echoed in replies. */
const idSchema = z.number().finite().optional();

const subscribeSchema = z.strictObject({
  op: z.literal('subscribe'),
  id: idSchema,
  channel: channelSchema,
  cursor: z.string().max(64).optional(),
});
const unsubscribeSchema = z.strictObject({ op: z.literal('unsubscribe'), id: idSchema, channel: channelSchema });
const publishSchema = publishInputSchema.extend({ op: z.literal('publish'), id: idSchema });
const pingSchema = z.strictObject({ op: z.literal('ping'), id: idSchema });

const SCHEMAS = {
  subscribe: subscribeSchema,
  unsubscribe: unsubscribeSchema,
  publish: publishSchema,
  ping: pingSchema,
} as const;

export type ClientFrame =
  | z.output<typeof subscribeSchema>
  | z.output<typeof unsubscribeSchema>
  | z.output<typeof publishSchema>
  | z.output<typeof pingSchema>;

export type ParsedFrame =
  | { ok: true; frame: ClientFrame }
  | { ok: false; id: number | undefined; code: FrameErrorCode; message: string };

/** Which error code a wrong field of a known op earns. */
function codeForField(field: PropertyKey | undefined): FrameErrorCode {
  if (field === 'channel') return 'invalid_channel';
  if (field === 'cursor') return 'invalid_cursor';
  return 'invalid_message';
}

/**
 * Parses one text frame from a client. Every failure names its code and, when the frame had a
 * usable `id`, echoes it, so the client can match the error to its request.
 */
export function parseClientFrame(text: string): ParsedFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, id: undefined, code: 'invalid_message', message: 'The frame is not valid JSON.' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, id: undefined, code: 'invalid_message', message: 'The frame must be a JSON object.' };
  }
  const record = value as Record<string, unknown>;
  const id = typeof record.id === 'number' && Number.isFinite(record.id) ? record.id : undefined;
  const { op } = record;
  if (typeof op !== 'string') return { ok: false, id, code: 'invalid_message', message: 'The frame needs an "op" string.' };
  if (!Object.hasOwn(SCHEMAS, op)) {
    return { ok: false, id, code: 'unknown_op', message: `Unknown op ${JSON.stringify(op.slice(0, 64))}.` };
  }
  const result = SCHEMAS[op as keyof typeof SCHEMAS].safeParse(value);
  if (result.success) return { ok: true, frame: result.data };
  const issue = result.error.issues[0]!;
  const field = issue.code === 'unrecognized_keys' ? issue.keys[0] : issue.path[0];
  const code = issue.code === 'unrecognized_keys' ? 'invalid_message' : codeForField(field);
  const what = issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.input === undefined ? 'is required' : issue.message;
  return { ok: false, id, code, message: `Invalid ${String(field ?? 'frame')}: ${what}.` };
}

/** Why a subscription cannot deliver everything after the cursor it asked for. */
export type GapReason = 'cursor_expired' | 'foreign_cursor';

/** Hub → client frames other than `event` (which fan-out frames once, see event-frames.ts). */
export const serverFrame = {
  subscribed(
    id: number | undefined,
    channel: string,
    resumed: boolean,
    cursor: string,
    reason?: GapReason,
  ): string {
    return JSON.stringify({ op: 'subscribed', id, channel, resumed, reason, cursor });
  },
  unsubscribed: (id: number | undefined, channel: string): string => JSON.stringify({ op: 'unsubscribed', id, channel }),
  ack: (id: number | undefined, eventId: string, cursor: string): string =>
    JSON.stringify({ op: 'ack', id, event_id: eventId, cursor }),
  pong: (id: number | undefined): string => JSON.stringify({ op: 'pong', id }),
  error: (id: number | undefined, code: FrameErrorCode, message: string): string =>
    JSON.stringify({ op: 'error', id, code, message }),
};
