import type { FastifyInstance } from 'fastify';
import { HubError } from '../errors.js';
import type { HttpContext } from './context.js';
import { sendError } from './server.js';

/** GET /healthz, /readyz, /metrics — unauthenticated, for probes and scrapers. */
export function opsRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const checks: Record<string, string> = {};
    try {
      ctx.store.checkWritable();
      checks.database = 'ok';
    } catch (err) {
      checks.database = `not writable: ${(err as Error).message}`;
    }
    for (const [name, check] of ctx.readiness) checks[name] = check() ?? 'ok';
    const ready = Object.values(checks).every((v) => v === 'ok');
    if (!ready) return sendError(reply, new HubError('not_ready', { details: checks, retryAfterS: 1 }));
    return { status: 'ready', checks };
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(text);
  });
}
