import type { z } from 'zod';
import type { Scope } from '../auth/scopes.js';
import type { ErrorCode } from '../errors.js';

/**
 * Who may call a route: nobody in particular (probes, the documents), the server (an API
 * key), or a subscriber (an API key, or a token granting the channel in the path, as an
 * `Authorization` header or a `?token=` query parameter).
 */
export type Access = 'public' | 'server' | 'subscriber';

export type Tag = 'events' | 'channels' | 'subscriptions' | 'deliveries' | 'tokens' | 'keys' | 'operations' | 'reference';

export interface ResponseDoc {
  description: string;
  /** The body's schema, when it is JSON. */
  schema?: z.ZodType;
  /** A body that is not JSON (text/event-stream, Prometheus text, HTML). */
  contentType?: string;
  headers?: Record<string, string>;
}

/**
 * The documentation of one HTTP route, declared beside the route itself (in its Fastify
 * `config.doc`) with the very schemas that validate its requests, so that `/openapi.json`
 * cannot describe a route other than the one that runs.
 */
export interface RouteDoc {
  operationId: string;
  summary: string;
  description?: string;
  tag: Tag;
  access: Access;
  /**
   * The scope an API key needs (src/auth/scopes.ts), on every route but public ones: the
   * server routes' guard (auth/request.ts) checks it; a subscriber route's is `read` (or a
   * token granting the channel). The OpenAPI document shows it on each operation.
   */
  scope?: Scope;
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Request headers the route reads (lower-case names). */
  headers?: z.ZodObject;
  body?: z.ZodType;
  responses: Record<number, ResponseDoc>;
  /** Error codes this route can answer beyond those of its access kind and its inputs. */
  errors?: ErrorCode[];
  /**
   * A route that judges its credential after answering (a WebSocket upgrade closes with 4001
   * instead): its access kind adds no 401.
   */
  credentialAfterUpgrade?: true;
}

/** A maker of the docs of a family of routes that share a tag and an access kind. */
export function routeDocs(tag: Tag, access: Access): (doc: Omit<RouteDoc, 'tag' | 'access'>) => RouteDoc {
  return (doc) => ({ tag, access, ...doc });
}

/** A route that needs a credential must say which scope: refused at registration otherwise. */
export function checkScopeDeclared(method: string, url: string, doc: RouteDoc): void {
  if (doc.access !== 'public' && doc.scope === undefined) throw new Error(`${method} ${url}: its config.doc needs a scope (access ${doc.access})`);
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's entry in the API reference; every route of the hub has one. */
    doc?: RouteDoc;
  }
}
