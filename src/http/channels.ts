import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { checkResume } from '../domain/cursor.js';
import { envelopeJson, envelopeSchema } from '../domain/envelope.js';
import { HubError, invalidRequest } from '../errors.js';
import type { RouteDoc } from '../reference/route-doc.js';
import { channelParamsSchema, openChannelRead } from '../auth/channel-read.js';
import type { HttpContext } from './context.js';
import { pageLimitSchema } from '../domain/validate.js';
import { presenceFields } from '../realtime/frames.js';

const pollQuerySchema = z.object({
  after: z.string().optional().meta({ description: 'A cursor: events after it. Without it, from the oldest retained event.' }),
  limit: pageLimitSchema.optional().meta({ description: '1-1000, default 100.' }),
});

export const eventPageSchema = z
  .strictObject({
    events: z.array(envelopeSchema).meta({ description: 'Oldest first.' }),
    next_cursor: z.string().meta({ description: 'Pass as `after` for the next page (also when this one is empty).' }),
    has_more: z.boolean(),
  })
  .meta({ id: 'EventPage' });

const pollDoc: RouteDoc = {
  operationId: 'pollChannel',
  summary: "A page of a channel's events (polling)",
  description: 'The polling fallback for consumers that cannot hold a WebSocket or SSE stream open.',
  tag: 'channels',
  access: 'subscriber',
  scope: 'read',
  params: channelParamsSchema,
  query: pollQuerySchema,
  responses: { 200: { description: 'A page, oldest first.', schema: eventPageSchema } },
  errors: ['cursor_expired'],
};

export const presencePageSchema = z.strictObject(presenceFields).meta({ id: 'Presence' });

const presenceQuerySchema = z.object({});

const presenceDoc: RouteDoc = {
  operationId: 'channelPresence',
  summary: 'Who is on a channel (presence)',
  description:
    'The members of the channel: one per token `sub` subscribed to it over WebSocket, with its `info` claim. A member whose last ' +
    'connection dropped stays for the grace (realtime.presenceGraceMs, 10 s). With several hubs, the union over all of them (a dead hub\'s ' +
    'members leave within 30 s). Over realtime.presenceMaxMembers, only `count`, with `truncated: true`.',
  tag: 'channels',
  access: 'subscriber',
  scope: 'read',
  params: channelParamsSchema,
  query: presenceQuerySchema,
  responses: { 200: { description: 'The members.', schema: presencePageSchema } },
};

/** GET /v1/channels/:channel/events — the polling fallback; GET /v1/channels/:channel/presence. */
export function channelRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.get('/v1/channels/:channel/events', { config: { doc: pollDoc } }, async (request, reply) => {
    const { channel, query } = await openChannelRead(ctx.auth, request, pollQuerySchema);
    const limit = query.limit ?? 100;
    const { store } = ctx;
    let afterSeq = 0;
    if (query.after !== undefined) {
      const check = checkResume(query.after, ctx.codec, await store.position());
      if (!check.ok && check.reason === 'malformed') throw invalidRequest([{ field: 'after', message: 'is not a cursor' }]);
      if (!check.ok) throw new HubError('cursor_expired', { details: { reason: check.reason } });
      afterSeq = check.seq;
    }
    // The head comes with the page, read at the same moment: a later read could pass an event
    // committed in between, on this channel, that the page did not hold.
    const { events: rows, head } = await store.readChannel(channel, afterSeq, limit + 1);
    const hasMore = rows.length > limit;
    const page = hasMore ? rows.slice(0, limit) : rows;
    const last = page.at(-1);
    // Nothing new: the head is a safe place to go on from, since every position up to it is
    // committed and none of them is on this channel after `after`.
    const next = last ? last.seq : Math.max(afterSeq, head);
    const json =
      `{"events":[${page.map((e) => envelopeJson(e, ctx.codec.encode(e.seq))).join(',')}],` +
      `"next_cursor":"${ctx.codec.encode(next)}","has_more":${hasMore}}`;
    return reply.type('application/json; charset=utf-8').send(json);
  });

  app.get('/v1/channels/:channel/presence', { config: { doc: presenceDoc } }, async (request) => {
    const { channel } = await openChannelRead(ctx.auth, request, presenceQuerySchema);
    const { members, count } = await ctx.presence.snapshot(channel);
    return members ? { members, count } : { count, truncated: true };
  });
}
