import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { channelSchema } from '../domain/names.js';
import { parseOr400 } from '../domain/validate.js';
import { HubError } from '../errors.js';
import type { Authenticator, Principal } from './principal.js';
import { credentialOf } from './request.js';

/** The path of every channel route. */
export const channelParamsSchema = z.object({ channel: channelSchema });

/**
 * The opening of every HTTP read of one channel (SSE, polling, presence), in this order: the
 * credential (header or `?token=`) first, since without one the path and query are nobody's
 * business; then the path and the query; then the grant (a key's `read` scope, or a token's
 * `channels`).
 */
export async function openChannelRead<S extends z.ZodType>(
  auth: Authenticator,
  request: FastifyRequest,
  querySchema: S,
): Promise<{ principal: Principal; channel: string; query: z.output<S> }> {
  const principal = await auth.authenticate(credentialOf(request, true));
  request.principal = principal;
  const { channel } = parseOr400(channelParamsSchema, request.params, 'path');
  const query = parseOr400(querySchema, request.query, 'query');
  if (!auth.authorize(principal, { read: channel })) {
    const message = principal.kind === 'server' ? 'Reading channels needs an API key with scope read.' : `The token does not grant channel ${channel}.`;
    throw new HubError('forbidden', { message });
  }
  return { principal, channel, query };
}
