import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { mintInputSchema } from '../auth/token-claims.js';
import type { RouteDoc } from '../reference/route-doc.js';
import type { TokenService } from '../auth/tokens.js';
import type { HttpContext } from './context.js';
import { parseOr400 } from '../domain/validate.js';

const mintedSchema = z
  .strictObject({ token: z.string().meta({ description: 'An HS256 JWT.' }), expires_at: z.iso.datetime() })
  .meta({ id: 'MintedToken' });

/** POST /v1/tokens — the server mints a subscriber token for a browser or app. */
export function tokenRoutes(app: FastifyInstance, ctx: HttpContext, tokens: TokenService): void {
  const bodySchema = mintInputSchema(ctx.config.realtime.maxTokenTtlS).meta({ id: 'TokenRequest' });
  const doc: RouteDoc = {
    operationId: 'mintToken',
    summary: 'Mint a subscriber token for a browser or app',
    tag: 'tokens',
    access: 'server',
    scope: 'tokens',
    body: bodySchema,
    responses: { 201: { description: 'The token.', schema: mintedSchema } },
  };
  app.post('/v1/tokens', { config: { doc } }, async (request, reply) => {
    const input = parseOr400(bodySchema, request.body);
    const { token, expiresAt } = await tokens.mint(input);
    return reply.code(201).send({ token, expires_at: new Date(expiresAt).toISOString() });
  });
}
