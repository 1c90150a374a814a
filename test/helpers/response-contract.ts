import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { openApiPath } from '../../src/reference/openapi.js';

// ajv-formats is CommonJS with its function as `default`.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

type Json = Record<string, unknown>;

/**
 * Checks every JSON response of a documented route against the schema /openapi.json gives
 * for its path, method and status, so the document cannot drift from what the hub sends.
 * Installed by the test hub before it listens; violations are collected and reported when
 * the hub closes (a response that breaks its schema fails the test file).
 */
export class ResponseContract {
  readonly violations: string[] = [];
  private readonly ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  private readonly cache = new Map<string, ValidateFunction | null>();
  private doc: Json | undefined;

  /** The document to check against: what the hub serves at /openapi.json. */
  use(document: Json): void {
    this.doc = document;
    this.ajv.addSchema({ $id: 'openapi.json', ...document });
  }

  install(app: FastifyInstance): void {
    app.addHook('onSend', (request, reply, payload, done) => {
      const url = request.routeOptions.url;
      const type = String(reply.getHeader('content-type') ?? '');
      if (this.doc && url && typeof payload === 'string' && type.startsWith('application/json')) {
        this.check(request.method, url, reply.statusCode, payload);
      }
      done(null, payload);
    });
  }

  private check(method: string, url: string, status: number, payload: string): void {
    const where = `${method} ${url} → ${status}`;
    const validate = this.validator(method === 'HEAD' ? 'GET' : method, url, status);
    if (validate === null) {
      // A documented route answered a status its document does not list.
      if (this.isDocumented(url, method)) this.violations.push(`${where}: status not documented; body ${payload.slice(0, 200)}`);
      return;
    }
    if (validate === undefined) return; // not a JSON body (documented as text)
    let body: unknown;
    try {
      body = JSON.parse(payload);
    } catch {
      this.violations.push(`${where}: body is not JSON`);
      return;
    }
    if (!validate(body)) {
      this.violations.push(`${where}: ${this.ajv.errorsText(validate.errors)}; body ${payload.slice(0, 300)}`);
    }
  }

  private isDocumented(url: string, method: string): boolean {
    const paths = this.doc!.paths as Record<string, Json>;
    return Boolean(paths[openApiPath(url)]?.[method.toLowerCase()]);
  }

  /** null: the status is not documented; undefined: documented without a JSON schema (or the route is not documented). */
  private validator(method: string, url: string, status: number): ValidateFunction | null | undefined {
    const key = `${method} ${url} ${status}`;
    if (this.cache.has(key)) return this.cache.get(key) ?? undefined;
    const doc = this.doc!;
    const path = openApiPath(url);
    const operation = (doc.paths as Record<string, Record<string, Json>>)[path]?.[method.toLowerCase()];
    if (!operation) return undefined;
    const response = (operation.responses as Record<string, Json>)[String(status)];
    if (!response) return null;
    const content = response.content as Record<string, { schema?: unknown }> | undefined;
    if (!content?.['application/json']) {
      this.cache.set(key, null);
      return undefined;
    }
    const pointer = ['paths', path, method.toLowerCase(), 'responses', String(status), 'content', 'application/json', 'schema']
      .map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1'))
      .join('/');
    const validate = this.ajv.compile({ $ref: `openapi.json#/${pointer}` });
    this.cache.set(key, validate);
    return validate;
  }
}
