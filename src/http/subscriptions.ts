import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { allows } from '../auth/principal.js';
import type { Clock } from '../clock.js';
import { typeSchema } from '../domain/names.js';
import { MAX_DATA_DEPTH, nestsWithin } from '../domain/envelope.js';
import { taskView, taskViewSchema } from '../domain/task.js';
import { patternProblem } from '../domain/patterns.js';
import type { RetryOverride } from '../domain/retry-policy.js';
import {
  defaultSettings,
  headersSchema,
  retryOverrideSchema,
  signatureSchemeSchema,
  subscriptionView,
  subscriptionViewSchema,
  type SubscriptionSettings,
} from '../domain/subscription.js';
import { routeDocs } from '../reference/route-doc.js';
import type { SubscriptionService } from '../webhooks/subscription-service.js';
import { parseOr400 } from '../domain/validate.js';

/** In a `u` regular expression a surrogate pair is one code point; only a lone half is `Cs`. */
const LONE_SURROGATE = /\p{Cs}/u;

const patternSchema = z.string().superRefine((value, ctx) => {
  const problem = patternProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const patternsSchema = z.array(patternSchema).min(1, 'must hold at least one pattern').max(100, 'must hold at most 100 patterns');

const fields = {
  url: z.string(),
  channels: patternsSchema,
  types: patternsSchema.nullable().optional(),
  // Well-formed: a lone surrogate (legal in JSON text) cannot be stored as UTF-8 and would come back altered.
  description: z.string().max(1024).refine((v) => !LONE_SURROGATE.test(v), 'must be valid Unicode (no lone surrogates)').nullable().optional(),
  ordered: z.boolean().optional(),
  max_in_flight: z.int().min(1).max(1000).optional(),
  rate_limit_per_s: z.number().positive().max(100_000).nullable().optional(),
  signature_scheme: signatureSchemeSchema.optional(),
  retry: retryOverrideSchema.nullable().optional(),
  headers: headersSchema.optional(),
  enabled: z.boolean().optional(),
};
export const createSubscriptionSchema = z.strictObject(fields).meta({ id: 'SubscriptionCreate' });
export const patchSubscriptionSchema = z
  .strictObject({ ...fields, url: fields.url.optional(), channels: fields.channels.optional() })
  .meta({ id: 'SubscriptionPatch' });
const isoInput = (what: string) =>
  z.iso
    .datetime({ offset: true, message: 'must be an ISO 8601 date-time with a time zone, e.g. 2026-01-20T12:00:01.123Z' })
    .meta({ description: what });
export const redriveRequestSchema = z
  .strictObject({
    state: z.literal('dead', 'must be "dead"'),
    since: isoInput('Only dead letters of events accepted at or after this time.').optional(),
    until: isoInput('Only dead letters of events accepted before this time.').optional(),
  })
  .meta({ id: 'RedriveRequest' });
export const replayRequestSchema = z
  .strictObject({
    since: isoInput('Replay the events received at or after this time.').optional(),
    after: z.string().min(1).max(64).optional().meta({ description: 'Replay the events after this cursor.' }),
    until: isoInput('Only events received before this time.').optional(),
  })
  .superRefine((body, ctx) => {
    if ((body.since === undefined) === (body.after === undefined)) ctx.addIssue({ code: 'custom', path: ['since'], message: 'give either since or after (one of them)' });
  })
  .meta({ id: 'ReplayRequest' });
export const testEventRequestSchema = z
  .strictObject({
    type: typeSchema.optional().meta({ description: 'Default pushhub.test.' }),
    data: z
      .unknown()
      .refine((v) => nestsWithin(v, MAX_DATA_DEPTH), `must not nest arrays and objects more than ${MAX_DATA_DEPTH} levels deep`)
      .optional()
      .meta({ description: 'Any JSON value; default { "subscription_id": "<id>" }.' }),
  })
  .meta({ id: 'TestEventRequest' });
export const idParams = z.object({ id: z.string() });

const createdSchema = subscriptionViewSchema
  .extend({ secret: z.string().meta({ description: 'The signing secret (whsec_…): shown only here and on rotation.' }) })
  .meta({ id: 'SubscriptionCreated' });
const listSchema = z.strictObject({ subscriptions: z.array(subscriptionViewSchema) }).meta({ id: 'SubscriptionList' });
const rotatedSchema = z
  .strictObject({ secret: z.string(), previous_secret_expires_at: z.iso.datetime().nullable() })
  .meta({ id: 'RotatedSecret' });
const requeuedSchema = z.strictObject({ requeued: z.int().min(0) }).meta({ id: 'Requeued' });
const taskStartedSchema = z
  .strictObject({ task_id: z.string(), status_url: z.string().meta({ description: 'Path of the task resource.' }) })
  .meta({ id: 'TaskStarted' });
const testSentSchema = z.strictObject({ event_id: z.string(), delivery_id: z.string() }).meta({ id: 'TestEventSent' });

const subscriptionDoc = routeDocs('subscriptions', 'server');
const one = { 200: { description: 'The subscription.', schema: subscriptionViewSchema } };
const DOCS = {
  create: subscriptionDoc({
    operationId: 'createSubscription',
    scope: 'subscriptions',
    summary: 'Create a webhook subscription',
    body: createSubscriptionSchema,
    responses: { 201: { description: 'Created; the only time the secret is shown besides rotation.', schema: createdSchema } },
    errors: ['url_not_allowed'],
  }),
  list: subscriptionDoc({ operationId: 'listSubscriptions', scope: 'read', summary: 'List subscriptions', responses: { 200: { description: 'Every subscription.', schema: listSchema } } }),
  get: subscriptionDoc({ operationId: 'getSubscription', scope: 'read', summary: 'A subscription', params: idParams, responses: one, errors: ['not_found'] }),
  patch: subscriptionDoc({
    operationId: 'updateSubscription',
    scope: 'subscriptions',
    summary: 'Change a subscription, enable or disable it',
    params: idParams,
    body: patchSubscriptionSchema,
    responses: one,
    errors: ['not_found', 'url_not_allowed'],
  }),
  delete: subscriptionDoc({
    operationId: 'deleteSubscription',
    scope: 'subscriptions',
    summary: 'Delete a subscription and its pending deliveries',
    params: idParams,
    responses: { 204: { description: 'Deleted.' } },
    errors: ['not_found'],
  }),
  rotate: subscriptionDoc({
    operationId: 'rotateSubscriptionSecret',
    scope: 'subscriptions',
    summary: 'Rotate the signing secret (the previous one keeps signing alongside for 24 h)',
    params: idParams,
    responses: { 200: { description: 'The new secret.', schema: rotatedSchema } },
    errors: ['not_found'],
  }),
  redrive: subscriptionDoc({
    operationId: 'redriveSubscription',
    scope: 'subscriptions',
    summary: 'Re-queue every dead delivery of the subscription (of events accepted within since/until, when given)',
    params: idParams,
    body: redriveRequestSchema,
    responses: { 202: { description: 'Re-queued.', schema: requeuedSchema } },
    errors: ['not_found'],
  }),
  replay: subscriptionDoc({
    operationId: 'replaySubscription',
    scope: 'subscriptions',
    summary: 'Replay retained events to the subscription (a background task)',
    description:
      'Creates, oldest first, a delivery for every retained event after the cursor (or received since the time), up to the head of the log now and received before until, that matches the subscription and that it has no delivery for yet.',
    params: idParams,
    body: replayRequestSchema,
    responses: { 202: { description: 'The task started.', schema: taskStartedSchema } },
    errors: ['not_found', 'cursor_expired'],
  }),
  test: subscriptionDoc({
    operationId: 'sendTestEvent',
    scope: 'subscriptions',
    summary: 'Send a test event ($hub.test) to this subscription only',
    params: idParams,
    body: testEventRequestSchema,
    responses: { 202: { description: 'Published and queued.', schema: testSentSchema } },
    errors: ['not_found'],
  }),
  task: routeDocs('operations', 'server')({
    operationId: 'getTask',
    scope: 'read',
    summary: 'A background task (a replay) and its progress',
    params: idParams,
    responses: { 200: { description: 'The task.', schema: taskViewSchema } },
    errors: ['not_found'],
  }),
};

type PatchBody = z.output<typeof patchSubscriptionSchema>;

/** API fields → settings; only what the body names (undefined keys are left out). */
function settingsPatch(body: PatchBody): Partial<SubscriptionSettings> {
  const out: Partial<SubscriptionSettings> = {};
  if (body.url !== undefined) out.url = body.url;
  if (body.channels !== undefined) out.channels = body.channels;
  if (body.types !== undefined) out.types = body.types;
  if (body.description !== undefined) out.description = body.description;
  if (body.ordered !== undefined) out.ordered = body.ordered;
  if (body.max_in_flight !== undefined) out.maxInFlight = body.max_in_flight;
  if (body.rate_limit_per_s !== undefined) out.rateLimitPerS = body.rate_limit_per_s;
  if (body.signature_scheme !== undefined) out.signatureScheme = body.signature_scheme;
  if (body.retry !== undefined) out.retry = body.retry as RetryOverride | null;
  if (body.headers !== undefined) out.headers = body.headers;
  return out;
}

export interface WebhookRouteDeps {
  service: SubscriptionService;
  clock: Clock;
}

const ms = (iso: string | undefined): number | undefined => (iso === undefined ? undefined : Date.parse(iso));

/**
 * /v1/subscriptions: create, list, read, change, delete, rotate the secret, redrive dead
 * letters, replay, send a test event; /v1/tasks.
 */
export function subscriptionRoutes(app: FastifyInstance, { service, clock }: WebhookRouteDeps): void {
  // A custom header's value is shown only to a caller that may change it (scope subscriptions).
  const view = (sub: Parameters<typeof subscriptionView>[0], request: { principal?: Parameters<typeof allows>[0] | undefined }) =>
    subscriptionView(sub, clock.now(), request.principal !== undefined && allows(request.principal, { scope: 'subscriptions' }));

  app.post('/v1/subscriptions', { config: { doc: DOCS.create } }, async (request, reply) => {
    const body = parseOr400(createSubscriptionSchema, request.body);
    const sub = await service.create({ ...defaultSettings(body.url, body.channels), ...settingsPatch(body) }, body.enabled ?? true);
    return reply.code(201).send({ ...view(sub, request), secret: sub.secret });
  });

  app.get('/v1/subscriptions', { config: { doc: DOCS.list } }, async (request) => ({
    subscriptions: (await service.list()).map((sub) => view(sub, request)),
  }));

  app.get('/v1/subscriptions/:id', { config: { doc: DOCS.get } }, async (request) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    return view(await service.get(id), request);
  });

  app.patch('/v1/subscriptions/:id', { config: { doc: DOCS.patch } }, async (request) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    const body = parseOr400(patchSubscriptionSchema, request.body);
    return view(await service.update(id, settingsPatch(body), body.enabled), request);
  });

  app.delete('/v1/subscriptions/:id', { config: { doc: DOCS.delete } }, async (request, reply) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    await service.delete(id);
    return reply.code(204).send();
  });

  app.post('/v1/subscriptions/:id/rotate-secret', { config: { doc: DOCS.rotate } }, async (request) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    const sub = await service.rotateSecret(id);
    return { secret: sub.secret, previous_secret_expires_at: view(sub, request).previous_secret_expires_at };
  });

  app.post('/v1/subscriptions/:id/redrive', { config: { doc: DOCS.redrive } }, async (request, reply) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    const body = parseOr400(redriveRequestSchema, request.body);
    return reply.code(202).send({ requeued: await service.redriveDead(id, { since: ms(body.since), until: ms(body.until) }) });
  });

  app.post('/v1/subscriptions/:id/replay', { config: { doc: DOCS.replay } }, async (request, reply) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    const body = parseOr400(replayRequestSchema, request.body);
    const from = body.after !== undefined ? { after: body.after } : { since: ms(body.since)! };
    const task = await service.replay(id, from, ms(body.until) ?? null);
    return reply.code(202).send({ task_id: task.id, status_url: `/v1/tasks/${task.id}` });
  });

  app.post('/v1/subscriptions/:id/test', { config: { doc: DOCS.test } }, async (request, reply) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    const body = parseOr400(testEventRequestSchema, request.body ?? {});
    const sent = await service.sendTest(id, body.type, body.data);
    return reply.code(202).send({ event_id: sent.eventId, delivery_id: sent.deliveryId });
  });

  app.get('/v1/tasks/:id', { config: { doc: DOCS.task } }, async (request) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    return taskView(await service.task(id));
  });
}
