import { createRequire } from 'node:module';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { buildAsyncApi } from '../reference/asyncapi.js';
import { buildOpenApi, type DocumentedRoute } from '../reference/openapi.js';
import { checkScopeDeclared, type RouteDoc } from '../reference/route-doc.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** Where the rendered reference lives; its page assets are part of it, not API routes. */
export const DOCS_PREFIX = '/docs';

/** Every route the server registers, with its documentation (or none). */
export interface RouteCatalogue {
  readonly documented: DocumentedRoute[];
  /** Routes registered without `config.doc` (the contract test allows only the automatic ones). */
  readonly undocumented: { method: string; url: string }[];
}

/** Records every route as it is registered: call before any route is. */
export function routeCatalogue(app: FastifyInstance): RouteCatalogue {
  const catalogue: RouteCatalogue = { documented: [], undocumented: [] };
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      const doc = route.config?.doc;
      if (doc) checkScopeDeclared(method, route.url, doc);
      if (doc && method !== 'HEAD') catalogue.documented.push({ method, url: route.url, doc });
      else if (!doc) catalogue.undocumented.push({ method, url: route.url });
    }
  });
  return catalogue;
}

const documentSchema = z.record(z.string(), z.unknown()).meta({ id: 'ApiDocument', description: 'An OpenAPI 3.1 or AsyncAPI 3.0 document.' });
const referenceDoc = (operationId: string, summary: string, body: { schema: z.ZodType } | { contentType: string }): RouteDoc => ({
  operationId,
  summary,
  tag: 'reference',
  access: 'public',
  responses: { 200: { description: summary, ...body } },
});
const DOCS = {
  openapi: referenceDoc('openApiDocument', 'This document: OpenAPI 3.1 of the HTTP API', { schema: documentSchema }),
  asyncapi: referenceDoc('asyncApiDocument', 'AsyncAPI 3.0 of the WebSocket protocol and the SSE stream', { schema: documentSchema }),
  docs: referenceDoc('referencePage', 'The reference, rendered for a browser', { contentType: 'text/html' }),
};

/**
 * A strict policy for the rendered page: everything from the hub itself, nothing inline but
 * the styles Swagger UI sets on its elements.
 */
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * GET /openapi.json, /asyncapi.json and /docs. Register last: the OpenAPI document is built
 * from the catalogue once every other route is in it, with the routes served outside the
 * router (the WebSocket upgrade) given by `outsideRouter`.
 */
export function referenceRoutes(app: FastifyInstance, catalogue: RouteCatalogue, outsideRouter: readonly DocumentedRoute[]): void {
  let openapi: Record<string, unknown> | undefined;
  const openApiDocument = (): Record<string, unknown> =>
    (openapi ??= buildOpenApi([...catalogue.documented, ...outsideRouter, { method: 'GET', url: DOCS_PREFIX, doc: DOCS.docs }], { version }));

  app.get('/openapi.json', { config: { doc: DOCS.openapi } }, async (_request, reply) => reply.type('application/json; charset=utf-8').send(openApiDocument()));
  // The servers it names are this hub as the client reached it (behind a proxy, the proxy).
  app.get('/asyncapi.json', { config: { doc: DOCS.asyncapi } }, async (request, reply) =>
    reply.type('application/json; charset=utf-8').send(buildAsyncApi({ version }, request.headers.host ?? `${request.hostname}`)),
  );
  app.register(async (scope) => {
    await scope.register(swagger, { mode: 'static', specification: { document: openApiDocument() as never } });
    await scope.register(swaggerUi, {
      routePrefix: DOCS_PREFIX,
      staticCSP: DOCS_CSP,
      uiConfig: { deepLinking: false, defaultModelsExpandDepth: 0, tryItOutEnabled: false },
      theme: { title: 'pushhub API reference' },
    });
  });
}
