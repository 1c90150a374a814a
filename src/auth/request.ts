import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { HubError } from '../errors.js';
import { bearerOf, type Authenticator } from './principal.js';

/**
 * The credential of a request: `Authorization: Bearer …`, or, where browsers cannot set
 * headers (WebSocket, SSE, polling), the `token` query parameter.
 */
export function credentialOf(request: FastifyRequest, allowQuery = false): string | undefined {
  const header = request.headers.authorization;
  if (header) return bearerOf(header);
  if (allowQuery) {
    const token = (request.query as Record<string, unknown> | undefined)?.token;
    if (typeof token === 'string' && token) return token;
  }
  return undefined;
}

/**
 * onRequest hook for server-only routes: the API key, nothing else. It runs before the body
 * is read or the path and query are validated, so a caller without the key learns nothing
 * from validation errors and cannot make the hub parse a body (up to 8 MiB for a batch).
 */
export function requireServer(auth: Authenticator): onRequestAsyncHookHandler {
  return async (request) => {
    const principal = await auth.authenticate(credentialOf(request));
    if (principal.kind !== 'server') throw new HubError('forbidden', { message: 'This route needs the server API key.' });
  };
}

