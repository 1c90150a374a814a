import type { z } from 'zod';
import { ErrorCodes, type ErrorCode } from '../errors.js';
import { namedSchemas, referencedIds, schemaId, schemaOrRef } from './json-schema.js';
import type { RouteDoc } from './route-doc.js';

type Json = Record<string, unknown>;

/** One route as Fastify registered it, with its documentation. */
export interface DocumentedRoute {
  method: string;
  /** Fastify's path syntax: `/v1/events/:id`. */
  url: string;
  doc: RouteDoc;
}

export interface ReferenceInfo {
  version: string;
}

const PREFIX = '#/components/schemas/';
const ref = (id: string): string => `${PREFIX}${id}`;

/** The security requirement of an operation: the API key with the route's scope (as a role name), or for subscriber routes a token too. */
function security(doc: RouteDoc): Json[] {
  const scopes = doc.scope ? [doc.scope] : [];
  if (doc.access === 'public') return [];
  if (doc.access === 'server') return [{ apiKey: scopes }];
  return [{ apiKey: scopes }, { subscriberToken: [] }, { tokenQuery: [] }];
}

/** Error codes every route of a kind can answer, beyond those it lists itself. */
function errorCodesOf(doc: RouteDoc): ErrorCode[] {
  const codes = new Set<ErrorCode>(['internal_error', 'shutting_down']);
  if (doc.access !== 'public' && !doc.credentialAfterUpgrade) codes.add('unauthorized');
  if (doc.access !== 'public') codes.add('forbidden');
  if (doc.params || doc.query || doc.headers) codes.add('invalid_request');
  if (doc.body) codes.add('invalid_request').add('payload_too_large').add('unsupported_media_type');
  for (const code of doc.errors ?? []) codes.add(code);
  return [...codes];
}

/** The named schema of a body; the documents name every body they show. */
function bodyRef(schema: z.ZodType, where: string): Json {
  const id = schemaId(schema);
  if (!id) throw new Error(`${where}: name its schema with .meta({ id }) to document it`);
  return { $ref: ref(id) };
}

function parameters(doc: RouteDoc): Json[] {
  const out: Json[] = [];
  const add = (where: 'path' | 'query' | 'header', shape: z.ZodObject | undefined): void => {
    for (const [name, schema] of Object.entries(shape?.shape ?? {}) as [string, z.ZodType][]) {
      const optional = schema.safeParse(undefined).success;
      const description = (schema.meta() as { description?: string } | undefined)?.description;
      out.push({
        name,
        in: where,
        required: where === 'path' || !optional,
        ...(description ? { description } : {}),
        schema: schemaOrRef(schema, ref, 'draft-2020-12'),
      });
    }
  };
  add('path', doc.params);
  add('query', doc.query);
  add('header', doc.headers);
  return out;
}

function operation(route: DocumentedRoute): Json {
  const { doc } = route;
  const responses: Record<string, Json> = {};
  for (const [status, response] of Object.entries(doc.responses)) {
    const content = response.schema
      ? { 'application/json': { schema: bodyRef(response.schema, `${route.method} ${route.url} ${status}`) } }
      : response.contentType
        ? { [response.contentType]: { schema: { type: 'string' } } }
        : undefined;
    const headers = response.headers
      ? Object.fromEntries(Object.entries(response.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }]))
      : undefined;
    responses[status] = { description: response.description, ...(headers ? { headers } : {}), ...(content ? { content } : {}) };
  }
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of errorCodesOf(doc)) {
    const status = ErrorCodes[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(status)] = {
      description: codes.map((c) => `\`${c}\`: ${ErrorCodes[c].message}`).join(' '),
      ...(status === 429 || status === 503 ? { headers: { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } } } } : {}),
      content: {
        'application/json': {
          schema: {
            allOf: [{ $ref: ref('Error') }, { properties: { error: { properties: { code: { enum: codes } } } } }],
          },
        },
      },
    };
  }
  return {
    operationId: doc.operationId,
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    tags: [doc.tag],
    security: security(doc),
    ...(doc.scope ? { 'x-required-scope': doc.scope } : {}),
    ...(parameters(doc).length > 0 ? { parameters: parameters(doc) } : {}),
    ...(doc.body ? { requestBody: { required: true, content: { 'application/json': { schema: bodyRef(doc.body, `${route.method} ${route.url} body`) } } } } : {}),
    responses,
  };
}

/** `/v1/events/:id` → `/v1/events/{id}` */
export function openApiPath(url: string): string {
  return url.replace(/:(\w+)/g, '{$1}');
}

/** The OpenAPI 3.1 document of the given routes. */
export function buildOpenApi(routes: DocumentedRoute[], info: ReferenceInfo): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const item = (paths[openApiPath(route.url)] ??= {});
    item[route.method.toLowerCase()] = operation(route);
  }
  const all = namedSchemas('draft-2020-12', ref);
  const used = referencedIds(paths, all, PREFIX);
  used.add('Error');
  for (const id of referencedIds([...used].map((id) => all[id]), all, PREFIX)) used.add(id);
  const schemas = Object.fromEntries([...used].sort().map((id) => [id, all[id]]));
  return {
    openapi: '3.1.0',
    info: {
      title: 'pushhub',
      version: info.version,
      description:
        'Durable publish, signed webhooks with retries, and WebSocket / SSE / polling channels that resume from a cursor. ' +
        'The WebSocket protocol and the SSE stream are described by /asyncapi.json; the guide is docs/protocol.md in the repository.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/', description: 'This hub' }],
    tags: [
      { name: 'events', description: 'Publishing and event status' },
      { name: 'channels', description: 'Reading channels: polling and Server-Sent Events' },
      { name: 'subscriptions', description: 'Webhook subscriptions' },
      { name: 'deliveries', description: 'Webhook deliveries, attempts and dead letters' },
      { name: 'tokens', description: 'Subscriber tokens' },
      { name: 'keys', description: 'API keys and their scopes' },
      { name: 'operations', description: 'Health, readiness and metrics' },
      { name: 'reference', description: 'These documents' },
    ],
    paths,
    components: {
      schemas,
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API key: `Authorization: Bearer <key>`, the root key (PUSHHUB_API_KEY, scope admin) or a `phk_…` key from POST /v1/keys. ' +
            'Each operation names the scope it needs (in its security requirement and `x-required-scope`); admin includes every scope, subscriptions includes read.',
        },
        subscriberToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A subscriber token (HS256 JWT with `exp`, `channels`, optional `sub` and `publish`).',
        },
        tokenQuery: {
          type: 'apiKey',
          in: 'query',
          name: 'token',
          description: 'The API key or a subscriber token as the `token` query parameter, for browsers (EventSource cannot set headers).',
        },
      },
    },
  };
}
