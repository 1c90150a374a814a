import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HubError } from '../errors.js';
import { bearerOf, type Authenticator, type Principal } from './principal.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request, once its credential was judged (the access log shows its key id). */
    principal?: Principal;
  }
}

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
 * The one check of every server route: its `config.doc` names the scope it needs, and this
 * onRequest hook judges the credential against it before the body is read or the path and
 * query are validated, so a caller without the right learns nothing from validation errors
 * and cannot make the hub parse a body (up to 8 MiB for a batch). Register it before the
 * routes. Subscriber routes (`access: 'subscriber'`) judge theirs in `openChannelRead`, once
 * the channel is known; public routes need none.
 */
export function guardServerRoutes(app: FastifyInstance, auth: Authenticator): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request) => {
    const doc = request.routeOptions.config.doc;
    if (doc?.access !== 'server') return;
    const principal = await auth.authenticate(credentialOf(request));
    request.principal = principal;
    if (!auth.authorize(principal, { scope: doc.scope! })) {
      const message =
        principal.kind === 'server' ? `This route needs an API key with scope ${doc.scope}.` : 'This route needs an API key, not a subscriber token.';
      throw new HubError('forbidden', { message });
    }
  });
}
