import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { attemptJson, attemptSchema, deliveryJson, deliverySchema } from '../domain/delivery.js';
import { DELIVERY_STATES } from '../domain/event-status.js';
import { HubError } from '../errors.js';
import { routeDocs } from '../reference/route-doc.js';
import type { HttpContext } from './context.js';
import { idParams, type WebhookRouteDeps } from './subscriptions.js';
import { pageLimitSchema, parseOr400 } from '../domain/validate.js';

/** A page cursor of the delivery list: the position of the last row shown, in base 36. */
const CURSOR_RE = /^[0-9a-z]{1,11}$/;

const listQuerySchema = z.object({
  subscription_id: z.string().min(1).optional(),
  state: z.enum(DELIVERY_STATES).optional(),
  limit: pageLimitSchema.optional().meta({ description: '1-1000, default 100.' }),
  after: z.string().regex(CURSOR_RE, 'is not a cursor from next_cursor').optional().meta({ description: 'The next_cursor of the previous page.' }),
});

const deliveryPageSchema = z
  .strictObject({
    deliveries: z.array(deliverySchema).meta({ description: 'Newest first.' }),
    next_cursor: z.string().nullable().meta({ description: 'Pass as `after` for the next page; null on the last page.' }),
  })
  .meta({ id: 'DeliveryPage' });
const deliveryDetailSchema = deliverySchema
  .extend({ attempts: z.array(attemptSchema).meta({ description: 'Every attempt, oldest first.' }) })
  .meta({ id: 'DeliveryDetail' });

const deliveryDoc = routeDocs('deliveries', 'server');
const DOCS = {
  list: deliveryDoc({
    operationId: 'listDeliveries',
    scope: 'read',
    summary: 'Deliveries, newest first (the history and the dead letters)',
    query: listQuerySchema,
    responses: { 200: { description: 'A page.', schema: deliveryPageSchema } },
  }),
  get: deliveryDoc({
    operationId: 'getDelivery',
    scope: 'read',
    summary: 'A delivery with every attempt',
    params: idParams,
    responses: { 200: { description: 'The delivery.', schema: deliveryDetailSchema } },
    errors: ['not_found'],
  }),
  retry: deliveryDoc({
    operationId: 'retryDelivery',
    scope: 'subscriptions',
    summary: 'Re-queue a delivery now',
    params: idParams,
    responses: { 202: { description: 'Queued.', schema: deliverySchema } },
    errors: ['not_found', 'delivery_in_flight', 'subscription_deleted'],
  }),
};

/** /v1/deliveries: the history and dead letters, newest first; one delivery with its attempts; retry. */
export function deliveryRoutes(app: FastifyInstance, ctx: HttpContext, { service }: WebhookRouteDeps): void {
  const { store } = ctx;

  app.get('/v1/deliveries', { config: { doc: DOCS.list } }, async (request) => {
    const query = parseOr400(listQuerySchema, request.query, 'query');
    const limit = query.limit ?? 100;
    const rows = await store.listDeliveries({
      subscriptionId: query.subscription_id,
      state: query.state,
      beforeSeq: query.after === undefined ? undefined : parseInt(query.after, 36),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const more = rows.length > limit;
    return { deliveries: page.map(deliveryJson), next_cursor: more ? page.at(-1)!.seq.toString(36) : null };
  });

  app.get('/v1/deliveries/:id', { config: { doc: DOCS.get } }, async (request) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    const delivery = await store.delivery(id);
    if (!delivery) throw new HubError('not_found', { message: `No delivery ${id}.` });
    return { ...deliveryJson(delivery), attempts: (await store.deliveryAttempts(delivery.seq)).map(attemptJson) };
  });

  app.post('/v1/deliveries/:id/retry', { config: { doc: DOCS.retry } }, async (request, reply) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    return reply.code(202).send(deliveryJson(await service.retryDelivery(id)));
  });
}
