import type { FastifyInstance } from 'fastify';
import { mintInputSchema } from '../domain/token-claims.js';
import type { TokenService } from '../tokens.js';
import { requireServer } from './auth.js';
import type { HttpContext } from './context.js';
import { parseOr400 } from './validate.js';

/** POST /v1/tokens — the server mints a subscriber token for a browser or app. */
export function tokenRoutes(app: FastifyInstance, ctx: HttpContext, tokens: TokenService): void {
  const bodySchema = mintInputSchema(ctx.config.realtime.maxTokenTtlS);
  app.post('/v1/tokens', { onRequest: requireServer(ctx.auth) }, async (request, reply) => {
    const input = parseOr400(bodySchema, request.body);
    const { token, expiresAt } = await tokens.mint(input);
    return reply.code(201).send({ token, expires_at: new Date(expiresAt).toISOString() });
  });
}
