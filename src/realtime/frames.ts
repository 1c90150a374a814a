import { z } from 'zod';
import { envelopeSchema, publishInputSchema } from '../domain/envelope.js';
import { channelSchema } from '../domain/names.js';
import type { ErrorCode } from '../errors.js';
import { memberInfoSchema } from '../auth/token-claims.js';
import type { Member, PresenceSnapshot } from './presence.js';

/** The `error` codes of the WebSocket protocol, plus the ingest refusals a publish can meet. */
export const FRAME_ERROR_CODES = [
  'invalid_message',
  'unknown_op',
  'invalid_channel',
  'invalid_cursor',
  'forbidden',
  'rate_limited',
  'too_many_subscriptions',
  'overloaded',
  'storage_unavailable',
  'shutting_down',
  'internal_error',
] as const satisfies readonly ErrorCode[];
export type FrameErrorCode = (typeof FRAME_ERROR_CODES)[number];

/** The client's correlation number, echoed in replies. */
const idSchema = z.number().finite().optional().meta({ description: 'A correlation number of the client, echoed in the reply.' });

const subscribeSchema = z
  .strictObject({
    op: z.literal('subscribe'),
    id: idSchema,
    channel: channelSchema,
    cursor: z.string().max(64).optional().meta({ description: 'Resume after this cursor: its events, oldest first, then live ones.' }),
    presence: z.boolean().optional().meta({ description: 'true: this subscription also receives the join and leave frames of the channel.' }),
  })
  .meta({ id: 'SubscribeFrame' });
const unsubscribeSchema = z.strictObject({ op: z.literal('unsubscribe'), id: idSchema, channel: channelSchema }).meta({ id: 'UnsubscribeFrame' });
const publishSchema = publishInputSchema
  .extend({ op: z.literal('publish'), id: idSchema })
  .meta({ id: 'PublishFrame', description: 'Answered with ack once committed (the token must grant publishing to the channel).' });
const pingSchema = z.strictObject({ op: z.literal('ping'), id: idSchema }).meta({ id: 'PingFrame' });
const presenceRequestSchema = z
  .strictObject({ op: z.literal('presence'), id: idSchema, channel: channelSchema })
  .meta({ id: 'PresenceRequestFrame', description: "Who is on the channel (the token's channels must grant it); answered with presence." });

/** Client → hub frames, by op (the API documents list them from here). */
export const clientFrameSchemas = {
  subscribe: subscribeSchema,
  unsubscribe: unsubscribeSchema,
  publish: publishSchema,
  ping: pingSchema,
  presence: presenceRequestSchema,
};

const SCHEMAS = clientFrameSchemas;

export type ClientFrame =
  | z.output<typeof subscribeSchema>
  | z.output<typeof unsubscribeSchema>
  | z.output<typeof publishSchema>
  | z.output<typeof pingSchema>
  | z.output<typeof presenceRequestSchema>;

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
export const GAP_REASONS = ['cursor_expired', 'foreign_cursor'] as const;
export type GapReason = (typeof GAP_REASONS)[number];

const replyId = z.number().optional().meta({ description: 'The id of the client frame this answers.' });

/** One member of a channel, as presence shows it. */
export const memberSchema = z
  .strictObject({
    sub: z.string().meta({ description: "The token's sub: one member however many connections it has." }),
    info: memberInfoSchema.meta({ description: "The token's info claim ({} when it has none)." }),
  })
  .meta({ id: 'Member' });

/** Who is on a channel: the `presence` frame and `GET /v1/channels/<channel>/presence` share these fields. */
export const presenceFields = {
  members: z.array(memberSchema).optional().meta({ description: 'Every member; absent when truncated.' }),
  count: z.number().int().min(0).meta({ description: 'How many members (exact, also when truncated).' }),
  truncated: z
    .literal(true)
    .optional()
    .meta({ description: 'More members than realtime.presenceMaxMembers: no list, and no join or leave frames until the channel is back under it.' }),
};

/** Hub → client frames, by op, for the API documents and the tests that check what the hub sends. */
export const serverFrameSchemas = {
  subscribed: z
    .strictObject({
      op: z.literal('subscribed'),
      id: replyId,
      channel: channelSchema,
      resumed: z.boolean().meta({ description: 'true: every event after the cursor follows, then live ones. false: nothing was replayed.' }),
      reason: z.enum(GAP_REASONS).optional().meta({ description: 'Why a cursor could not be resumed.' }),
      cursor: z.string().meta({ description: 'Every event of the channel after this position follows (a pushhub addition).' }),
    })
    .meta({ id: 'SubscribedFrame' }),
  event: z.strictObject({ op: z.literal('event'), event: envelopeSchema }).meta({ id: 'EventFrame' }),
  unsubscribed: z.strictObject({ op: z.literal('unsubscribed'), id: replyId, channel: channelSchema }).meta({ id: 'UnsubscribedFrame' }),
  ack: z
    .strictObject({ op: z.literal('ack'), id: replyId, event_id: z.string(), cursor: z.string() })
    .meta({ id: 'AckFrame', description: 'The publish is durably committed.' }),
  pong: z.strictObject({ op: z.literal('pong'), id: replyId }).meta({ id: 'PongFrame' }),
  presence: z
    .strictObject({ op: z.literal('presence'), id: replyId, channel: channelSchema, ...presenceFields })
    .meta({
      id: 'PresenceFrame',
      description:
        'The members of a channel. Without id (unasked, to presence subscriptions): truncated: the channel passed the limit and join/leave stop; ' +
        'with members: it is back under the limit, this is everyone, and join/leave go on.',
    }),
  join: z
    .strictObject({ op: z.literal('join'), channel: channelSchema, member: memberSchema })
    .meta({ id: 'JoinFrame', description: 'A member joined (or, for a member already present, its info changed). Coalesced: net changes only.' }),
  leave: z
    .strictObject({ op: z.literal('leave'), channel: channelSchema, member: z.strictObject({ sub: z.string() }) })
    .meta({ id: 'LeaveFrame', description: 'A member left: its last connection went, and did not come back within the grace (10 s).' }),
  error: z
    .strictObject({ op: z.literal('error'), id: replyId, code: z.enum(FRAME_ERROR_CODES), message: z.string() })
    .meta({ id: 'ErrorFrame', description: 'A frame was refused; the connection stays open.' }),
};

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
  presence: (id: number | undefined, channel: string, { members, count }: PresenceSnapshot): string =>
    JSON.stringify(members ? { op: 'presence', id, channel, members, count } : { op: 'presence', id, channel, count, truncated: true }),
  join: (channel: string, member: Member): string => JSON.stringify({ op: 'join', channel, member }),
  leave: (channel: string, sub: string): string => JSON.stringify({ op: 'leave', channel, member: { sub } }),
  error: (id: number | undefined, code: FrameErrorCode, message: string): string =>
    JSON.stringify({ op: 'error', id, code, message }),
};
