import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { patternProblem } from '../domain/patterns.js';
import type { RetryOverride } from '../domain/retry-policy.js';
import { defaultSettings, subscriptionView, type SubscriptionSettings } from '../domain/subscription.js';
import type { SubscriptionService } from '../webhooks/subscription-service.js';
import { requireServer } from './auth.js';
import type { HttpContext } from './context.js';
import { parseOr400 } from './validate.js';

/** In a `u` regular expression a surrogate pair is one code point; only a lone half is `Cs`. */
const LONE_SURROGATE = /\p{Cs}/u;

const DAY_MS = 86_400_000;

const patternSchema = z.string().superRefine((value, ctx) => {
  const problem = patternProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const patternsSchema = z.array(patternSchema).min(1, 'must hold at least one pattern').max(100, 'must hold at most 100 patterns');

/** API.md's `retry` override; every field optional, 0 = no limit for the two limits. */
const retrySchema = z.strictObject({
  initial_delay_ms: z.int().min(0).max(DAY_MS).optional(),
  factor: z.number().min(1).max(10).optional(),
  max_delay_ms: z.int().min(0).max(7 * DAY_MS).optional(),
  max_attempts: z.int().min(0).max(10_000).optional(),
  max_age_s: z.int().min(0).max(30 * 86_400).optional(),
  schedule_ms: z.array(z.int().min(0).max(7 * DAY_MS)).min(1).max(100).optional(),
  timeout_ms: z.int().min(100).max(60_000).optional(),
});

const fields = {
  url: z.string(),
  channels: patternsSchema,
  types: patternsSchema.nullable().optional(),
  // Well-formed: a lone surrogate (legal in JSON text) cannot be stored as UTF-8 and would come back altered.
  description: z.string().max(1024).refine((v) => !LONE_SURROGATE.test(v), 'must be valid Unicode (no lone surrogates)').nullable().optional(),
  ordered: z.boolean().optional(),
  max_in_flight: z.int().min(1).max(1000).optional(),
  rate_limit_per_s: z.number().positive().max(100_000).nullable().optional(),
  signature_scheme: z.enum(['standard', 'stripe']).optional(),
  retry: retrySchema.nullable().optional(),
  enabled: z.boolean().optional(),
};
const createSchema = z.strictObject(fields);
const patchSchema = z.strictObject({ ...fields, url: fields.url.optional(), channels: fields.channels.optional() });
const redriveSchema = z.strictObject({ state: z.literal('dead', 'must be "dead"') });
const idParams = z.object({ id: z.string() });

type PatchBody = z.output<typeof patchSchema>;

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
  return out;
}

export interface WebhookRouteDeps {
  service: SubscriptionService;
  clock: Clock;
}

/** /v1/subscriptions: create, list, read, change, delete, rotate the secret, redrive dead letters. */
export function subscriptionRoutes(app: FastifyInstance, ctx: HttpContext, { service, clock }: WebhookRouteDeps): void {
  const onRequest = requireServer(ctx.auth);
  const view = (sub: Parameters<typeof subscriptionView>[0]) => subscriptionView(sub, clock.now());

  app.post('/v1/subscriptions', { onRequest }, async (request, reply) => {
    const body = parseOr400(createSchema, request.body);
    const sub = await service.create({ ...defaultSettings(body.url, body.channels), ...settingsPatch(body) }, body.enabled ?? true);
    return reply.code(201).send({ ...view(sub), secret: sub.secret });
  });

  app.get('/v1/subscriptions', { onRequest }, async () => ({ subscriptions: service.list().map(view) }));

  app.get('/v1/subscriptions/:id', { onRequest }, async (request) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    return view(service.get(id));
  });

  app.patch('/v1/subscriptions/:id', { onRequest }, async (request) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    const body = parseOr400(patchSchema, request.body);
    return view(await service.update(id, settingsPatch(body), body.enabled));
  });

  app.delete('/v1/subscriptions/:id', { onRequest }, async (request, reply) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    await service.delete(id);
    return reply.code(204).send();
  });

  app.post('/v1/subscriptions/:id/rotate-secret', { onRequest }, async (request) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    const sub = service.rotateSecret(id);
    return { secret: sub.secret, previous_secret_expires_at: view(sub).previous_secret_expires_at };
  });

  app.post('/v1/subscriptions/:id/redrive', { onRequest }, async (request, reply) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    parseOr400(redriveSchema, request.body);
    return reply.code(202).send({ requeued: await service.redriveDead(id) });
  });
}
