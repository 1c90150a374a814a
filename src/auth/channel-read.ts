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
 * business; a key's `read` scope; then the path and the query; then a token's grant of the channel.
 */
export async function openChannelRead<S extends z.ZodType>(
  auth: Authenticator,
  request: FastifyRequest,
  querySchema: S,
): Promise<{ principal: Principal; channel: string; query: z.output<S> }> {
  const principal = await auth.authenticate(credentialOf(request, true));
  request.principal = principal;
  // A key's right to read does not depend on the channel: judged at once, as a server route's is.
  if (principal.kind === 'server' && !auth.authorize(principal, { scope: 'read' })) {
    throw new HubError('forbidden', { message: 'Reading channels needs an API key with scope read.' });
  }
  const { channel } = parseOr400(channelParamsSchema, request.params, 'path');
  const query = parseOr400(querySchema, request.query, 'query');
  if (principal.kind === 'subscriber' && !auth.authorize(principal, { read: channel })) {
    throw new HubError('forbidden', { message: `The token does not grant channel ${channel}.` });
  }
  return { principal, channel, query };
}
