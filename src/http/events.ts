import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { batchInputSchema, envelopeJson, publishInputSchema } from '../domain/envelope.js';
import { eventStatus } from '../domain/event-status.js';
import { HubError } from '../errors.js';
import { requireServer } from './auth.js';
import type { HttpContext } from './context.js';
import { parseOr400 } from './validate.js';

const idempotencyKeySchema = z
  .string()
  .regex(/^[\x20-\x7e]{1,255}$/, 'must be 1-255 printable ASCII characters')
  .optional();

const JSON_TYPE = 'application/json; charset=utf-8';

function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  return parseOr400(idempotencyKeySchema, request.headers['idempotency-key'], 'Idempotency-Key');
}

/** POST /v1/events, POST /v1/events/batch, GET /v1/events/:id */
export function eventRoutes(app: FastifyInstance, ctx: HttpContext): void {
  const onRequest = requireServer(ctx.auth);

  app.post('/v1/events', { onRequest }, async (request, reply) => {
    const input = parseOr400(publishInputSchema, request.body);
    const idempotencyKey = idempotencyKeyOf(request);
    const { json, replayed } = await ctx.publisher.publishOne(input, { via: 'http', idempotencyKey });
    if (replayed) reply.header('idempotent-replayed', 'true');
    return reply.code(202).type(JSON_TYPE).send(json);
  });

  app.post('/v1/events/batch', { onRequest, bodyLimit: ctx.config.batchBodyLimitBytes }, async (request, reply) => {
    const { events } = parseOr400(batchInputSchema, request.body);
    const idempotencyKey = idempotencyKeyOf(request);
    const { json, replayed } = await ctx.publisher.publishBatch(events, { via: 'http', idempotencyKey });
    if (replayed) reply.header('idempotent-replayed', 'true');
    return reply.code(202).type(JSON_TYPE).send(json);
  });

  app.get<{ Params: { id: string } }>('/v1/events/:id', { onRequest }, async (request, reply) => {
    const event = ctx.store.events.getById(request.params.id);
    if (!event) throw new HubError('not_found', { message: `No event ${request.params.id}.` });
    const deliveries = ctx.deliveriesOf(event);
    const json =
      `{"event":${envelopeJson(event, ctx.codec.encode(event.seq))},` +
      `"status":"${eventStatus(deliveries)}","deliveries":${JSON.stringify(deliveries)}}`;
    return reply.type(JSON_TYPE).send(json);
  });
}
