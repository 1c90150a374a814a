import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { HubError } from '../errors.js';
import { routeDocs } from '../reference/route-doc.js';
import type { HttpContext } from './context.js';
import { sendError } from './server.js';

const healthSchema = z.strictObject({ status: z.literal('ok') }).meta({ id: 'Health' });
const clusterSchema = z
  .strictObject({
    hubs: z.int().min(1).meta({ description: 'Hubs seen alive on this database within a lease, this one included (1 on SQLite).' }),
    leases: z.int().min(0).meta({ description: 'Subscriptions whose webhook work this hub owns.' }),
    listening: z.boolean().nullable().meta({ description: "Whether other hubs' commits are heard live (PostgreSQL LISTEN); null on SQLite." }),
    lag: z.int().min(0).meta({ description: 'Committed positions this hub has not fanned out yet.' }),
  })
  .meta({ id: 'Cluster' });
const readySchema = z
  .strictObject({ status: z.literal('ready'), checks: z.record(z.string(), z.literal('ok')), cluster: clusterSchema })
  .meta({ id: 'Ready', description: 'Each check by name; when one fails, 503 not_ready carries them all in details.' });

const opsDoc = routeDocs('operations', 'public');
const DOCS = {
  health: opsDoc({ operationId: 'health', summary: 'The process is alive', responses: { 200: { description: 'Alive.', schema: healthSchema } } }),
  ready: opsDoc({
    operationId: 'ready',
    summary: 'The database is writable and the workers run',
    responses: { 200: { description: 'Ready.', schema: readySchema } },
    errors: ['not_ready'],
  }),
  metrics: opsDoc({
    operationId: 'metrics',
    summary: 'Prometheus metrics',
    responses: { 200: { description: 'Prometheus text exposition format.', contentType: 'text/plain' } },
  }),
};

/** GET /healthz, /readyz, /metrics — unauthenticated, for probes and scrapers. */
export function opsRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.get('/healthz', { config: { doc: DOCS.health } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config: { doc: DOCS.ready } }, async (_request, reply) => {
    const checks: Record<string, string> = {};
    try {
      await ctx.store.checkWritable();
      checks.database = 'ok';
    } catch (err) {
      checks.database = `not writable: ${(err as Error).message}`;
    }
    for (const [name, check] of ctx.readiness) checks[name] = check() ?? 'ok';
    const ready = Object.values(checks).every((v) => v === 'ok');
    if (!ready) return sendError(reply, new HubError('not_ready', { details: checks, retryAfterS: 1 }));
    return { status: 'ready', checks, cluster: ctx.cluster() };
  });

  app.get('/metrics', { config: { doc: DOCS.metrics } }, async (_request, reply) => {
    const text = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(text);
  });
}
