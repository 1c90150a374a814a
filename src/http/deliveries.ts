import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { attemptJson, deliveryJson } from '../domain/delivery.js';
import { HubError } from '../errors.js';
import { requireServer } from './auth.js';
import type { HttpContext } from './context.js';
import type { WebhookRouteDeps } from './subscriptions.js';
import { pageLimitSchema, parseOr400 } from './validate.js';

/** A page cursor of the delivery list: the position of the last row shown, in base 36. */
const CURSOR_RE = /^[0-9a-z]{1,11}$/;

const listQuerySchema = z.object({
  subscription_id: z.string().min(1).optional(),
  state: z.enum(['pending', 'in_flight', 'succeeded', 'retrying', 'dead', 'cancelled']).optional(),
  limit: pageLimitSchema.optional(),
  after: z.string().regex(CURSOR_RE, 'is not a cursor from next_cursor').optional(),
});
const idParams = z.object({ id: z.string() });

/** /v1/deliveries: the history and dead letters, newest first; one delivery with its attempts; retry. */
export function deliveryRoutes(app: FastifyInstance, ctx: HttpContext, { service }: WebhookRouteDeps): void {
  const onRequest = requireServer(ctx.auth);
  const deliveries = ctx.store.deliveries;

  app.get('/v1/deliveries', { onRequest }, async (request) => {
    const query = parseOr400(listQuerySchema, request.query, 'query');
    const limit = query.limit ?? 100;
    const rows = deliveries.list({
      subscriptionId: query.subscription_id,
      state: query.state,
      beforeSeq: query.after === undefined ? undefined : parseInt(query.after, 36),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const more = rows.length > limit;
    return { deliveries: page.map(deliveryJson), next_cursor: more ? page.at(-1)!.seq.toString(36) : null };
  });

  app.get('/v1/deliveries/:id', { onRequest }, async (request) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    const delivery = deliveries.get(id);
    if (!delivery) throw new HubError('not_found', { message: `No delivery ${id}.` });
    return { ...deliveryJson(delivery), attempts: deliveries.attempts(delivery.seq).map(attemptJson) };
  });

  app.post('/v1/deliveries/:id/retry', { onRequest }, async (request, reply) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    return reply.code(202).send(deliveryJson(service.retryDelivery(id)));
  });
}
