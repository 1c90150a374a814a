import type { z } from 'zod';
import type { ErrorCode } from '../errors.js';

/**
 * Who may call a route: nobody in particular (probes, the documents), the server (an API
 * key), or a subscriber (an API key, or a token granting the channel in the path, as an
 * `Authorization` header or a `?token=` query parameter).
 */
export type Access = 'public' | 'server' | 'subscriber';

export type Tag = 'events' | 'channels' | 'subscriptions' | 'deliveries' | 'tokens' | 'operations' | 'reference';

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

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's entry in the API reference; every route of the hub has one. */
    doc?: RouteDoc;
  }
}
