import cors from '@fastify/cors';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { allowsEveryOrigin, originCheck, originRefusedMessage } from '../domain/origins.js';
import { z } from 'zod';
import { HubError, invalidRequest } from '../errors.js';
import type { RouteDoc } from '../reference/route-doc.js';
import { channelParamsSchema } from '../auth/channel-read.js';

/**
 * The subscriber surface: the only routes a browser page on another origin may use. A new
 * subscriber route (presence) is added here, and registered inside `subscriberSurface`.
 */
export const SUBSCRIBER_PATHS: readonly string[] = ['/v1/channels/:channel/sse', '/v1/channels/:channel/events', '/v1/channels/:channel/presence'];

/** The operationId of each path's preflight. */
const PREFLIGHT_IDS: Record<string, string> = {
  '/v1/channels/:channel/sse': 'preflightStream',
  '/v1/channels/:channel/events': 'preflightPoll',
  '/v1/channels/:channel/presence': 'preflightPresence',
};

/** 10 min: a page polling with `Authorization` preflights rarely, and a changed setting is honoured soon. */
export const CORS_MAX_AGE_S = 600;
/** Listed one by one: `*` in Allow-Headers does not cover `Authorization`. */
export const CORS_ALLOWED_HEADERS = ['authorization', 'last-event-id'];
/** What a page may read of a response besides the safelisted headers. */
export const CORS_EXPOSED_HEADERS = ['retry-after', 'x-request-id'];
const CORS_METHODS = ['GET', 'HEAD'];

const surface = new Set(SUBSCRIBER_PATHS);

const preflightDoc = (path: string): RouteDoc => ({
  operationId: PREFLIGHT_IDS[path] ?? `preflight${path}`,
  summary: 'CORS preflight of a browser page on another origin',
  description: `Allowed methods ${CORS_METHODS.join(', ')}; request headers ${CORS_ALLOWED_HEADERS.join(', ')}; cached ${CORS_MAX_AGE_S} s. An Origin not in PUSHHUB_CORS_ORIGINS gets 403.`,
  tag: 'channels',
  access: 'public',
  params: channelParamsSchema,
  headers: z.object({ origin: z.string(), 'access-control-request-method': z.string() }),
  responses: {
    204: {
      description: 'Allowed.',
      headers: {
        'Access-Control-Allow-Origin': '`*`, or the Origin echoed (with `Vary: Origin`) when a list is configured.',
        'Access-Control-Allow-Methods': CORS_METHODS.join(', '),
        'Access-Control-Allow-Headers': CORS_ALLOWED_HEADERS.join(', '),
        'Access-Control-Max-Age': String(CORS_MAX_AGE_S),
      },
    },
  },
  errors: ['forbidden'],
});

/**
 * Registers the subscriber routes (`routes(scope)`) in an encapsulated scope that alone
 * answers CORS, so no server route (API key) ever does: a browser page must not be able to
 * read them, and their hot path pays nothing for it. In that scope:
 *
 * - an `Origin` that is present and not allowed → `403 forbidden`, with no CORS header;
 * - an allowed one (or none) → `@fastify/cors`: `Access-Control-Allow-Origin` (`*`, or the
 *   origin echoed with `Vary: Origin` for a list) on every answer, errors included, and
 *   preflights for GET/HEAD with `Authorization` and `Last-Event-ID`.
 *
 * `@fastify/cors` adds a catch-all `OPTIONS *` route (every path, server routes included);
 * within this scope it answers `404` as if it were not there.
 */
export function subscriberSurface(server: FastifyInstance, setting: readonly string[], routes: (scope: FastifyInstance) => void): void {
  const allowed = originCheck(setting);
  void server.register(async (scope) => {
    scope.addHook('onRoute', (route) => {
      // Everything registered here answers browsers on other origins: only what is listed may be.
      if (route.url !== '*' && !surface.has(route.url)) {
        throw new Error(`${route.method} ${route.url} is not on the subscriber surface (SUBSCRIBER_PATHS in http/cors.ts)`);
      }
    });
    // Added before @fastify/cors's hook, so it runs first: a refused request gets no CORS header.
    scope.addHook('onRequest', (request, _reply, done) => {
      const path = request.routeOptions.url;
      if (path === undefined || !surface.has(path)) {
        return done(new HubError('not_found', { message: `No route ${request.method} ${request.url.split('?')[0]}.` }));
      }
      const { origin } = request.headers;
      if (origin !== undefined && !allowed(origin)) return done(new HubError('forbidden', { message: originRefusedMessage(origin) }));
      if (request.method === 'OPTIONS' && (origin === undefined || request.headers['access-control-request-method'] === undefined)) {
        // @fastify/cors would say so in text/plain: say it in the API's error shape.
        return done(
          invalidRequest([{ field: 'headers', message: 'OPTIONS here is a CORS preflight: send Origin and Access-Control-Request-Method' }]),
        );
      }
      done();
    });
    // An error raised before the scope's hooks ran (the hub shutting down: 503 from the
    // server's own hook) still reaches the page readably.
    scope.addHook('onError', (request, reply, _err, done) => {
      if (!reply.hasHeader('access-control-allow-origin')) addSimpleCorsHeaders(request, reply, setting, allowed);
      done();
    });
    await scope.register(cors, {
      hook: 'onRequest',
      // A list: the origin is echoed (with Vary: Origin) only when allowed; refused ones never get here.
      origin: allowsEveryOrigin(setting) ? '*' : (origin, cb) => cb(null, origin !== undefined && allowed(origin)),
      methods: CORS_METHODS,
      allowedHeaders: CORS_ALLOWED_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      maxAge: CORS_MAX_AGE_S,
      credentials: false, // tokens travel in ?token= or Authorization, never in cookies
    });
    for (const path of SUBSCRIBER_PATHS) {
      // The preflight is answered by @fastify/cors's hook; this route only makes the router
      // match the path (and not the catch-all) so the hook knows it is on the surface.
      scope.options(path, { config: { doc: preflightDoc(path) } }, (_request, reply) => reply.code(204).send());
    }
    routes(scope);
  });
}

/** The headers @fastify/cors puts on a non-preflight answer, for the answers it did not see. */
function addSimpleCorsHeaders(request: FastifyRequest, reply: FastifyReply, setting: readonly string[], allowed: (o: string) => boolean): void {
  const path = request.routeOptions.url;
  if (path === undefined || !surface.has(path)) return;
  const { origin } = request.headers;
  if (allowsEveryOrigin(setting)) {
    reply.header('access-control-allow-origin', '*');
  } else {
    reply.header('vary', 'Origin');
    if (origin === undefined || !allowed(origin)) return;
    reply.header('access-control-allow-origin', origin);
  }
  reply.header('access-control-expose-headers', CORS_EXPOSED_HEADERS.join(', '));
}
