import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { acceptedBatchSchema, acceptedEventSchema, batchInputSchema, envelopeJson, envelopeSchema, publishRequestSchema } from '../domain/envelope.js';
import { deliverySchema } from '../domain/delivery.js';
import { EVENT_STATUSES, eventStatus } from '../domain/event-status.js';
import { HubError } from '../errors.js';
import type { RouteDoc } from '../reference/route-doc.js';
import type { HttpContext } from './context.js';
import { parseOr400 } from '../domain/validate.js';

const idempotencyKeySchema = z
  .string()
  .regex(/^[\x20-\x7e]{1,255}$/, 'must be 1-255 printable ASCII characters')
  .optional()
  .meta({ description: 'The same key and body within 24 h answer the first result again (Idempotent-Replayed: true); another body, 409.' });
const publishHeaders = z.object({ 'idempotency-key': idempotencyKeySchema });
const eventParams = z.object({ id: z.string() });
/** `GET /v1/events/<id>`: the event, its overall status and its webhook deliveries. */
const eventStatusSchema = z
  .strictObject({ event: envelopeSchema, status: z.enum(EVENT_STATUSES), deliveries: z.array(deliverySchema) })
  .meta({ id: 'EventStatus' });
const REPLAYED = { 'Idempotent-Replayed': '`true` when this is the stored answer to an earlier request with the same Idempotency-Key.' };

const publishDoc: RouteDoc = {
  operationId: 'publishEvent',
  summary: 'Publish an event',
  description: 'Answers 202 only once the event (and its webhook deliveries) is durably committed.',
  tag: 'events',
  access: 'server',
  scope: 'publish',
  headers: publishHeaders,
  body: publishRequestSchema,
  responses: { 202: { description: 'Committed.', schema: acceptedEventSchema, headers: REPLAYED } },
  errors: ['idempotency_key_reused', 'overloaded', 'storage_unavailable'],
};
const batchDoc: RouteDoc = {
  ...publishDoc,
  operationId: 'publishEvents',
  summary: 'Publish up to 1000 events, all or nothing',
  body: batchInputSchema,
  responses: { 202: { description: 'All committed, one result per input in order.', schema: acceptedBatchSchema, headers: REPLAYED } },
};
const statusDoc: RouteDoc = {
  operationId: 'getEvent',
  summary: 'An event, its status and its webhook deliveries',
  tag: 'events',
  access: 'server',
  scope: 'read',
  params: eventParams,
  responses: { 200: { description: 'The event.', schema: eventStatusSchema } },
  errors: ['not_found'],
};

const JSON_TYPE = 'application/json; charset=utf-8';

function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  return parseOr400(idempotencyKeySchema, request.headers['idempotency-key'], 'Idempotency-Key');
}

/** POST /v1/events, POST /v1/events/batch, GET /v1/events/:id */
export function eventRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.post('/v1/events', { config: { doc: publishDoc } }, async (request, reply) => {
    const input = parseOr400(publishRequestSchema, request.body);
    const idempotencyKey = idempotencyKeyOf(request);
    const { json, replayed } = await ctx.publisher.publishOne(input, { via: 'http', idempotencyKey });
    if (replayed) reply.header('idempotent-replayed', 'true');
    return reply.code(202).type(JSON_TYPE).send(json);
  });

  app.post('/v1/events/batch', { bodyLimit: ctx.config.batchBodyLimitBytes, config: { doc: batchDoc } }, async (request, reply) => {
    const { events } = parseOr400(batchInputSchema, request.body);
    const idempotencyKey = idempotencyKeyOf(request);
    const { json, replayed } = await ctx.publisher.publishBatch(events, { via: 'http', idempotencyKey });
    if (replayed) reply.header('idempotent-replayed', 'true');
    return reply.code(202).type(JSON_TYPE).send(json);
  });

  app.get<{ Params: { id: string } }>('/v1/events/:id', { config: { doc: statusDoc } }, async (request, reply) => {
    const event = await ctx.store.eventById(request.params.id);
    if (!event) throw new HubError('not_found', { message: `No event ${request.params.id}.` });
    const deliveries = await ctx.deliveriesOf(event);
    const json =
      `{"event":${envelopeJson(event, ctx.codec.encode(event.seq))},` +
      `"status":"${eventStatus(deliveries)}","deliveries":${JSON.stringify(deliveries)}}`;
    return reply.type(JSON_TYPE).send(json);
  });
}
