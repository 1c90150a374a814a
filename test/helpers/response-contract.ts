import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { openApiPath } from '../../src/reference/openapi.js';

// ajv-formats is CommonJS with its function as `default`.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

type Json = Record<string, unknown>;

/** What the document says of one route's answer with one status. */
type Expectation = 'route not documented' | 'status not documented' | 'not JSON' | ValidateFunction;

/**
 * Checks every JSON response of a documented route against the schema /openapi.json gives
 * for its path, method and status, so the document cannot drift from what the hub sends.
 * Installed by the test hub before it listens; violations are collected and reported when
 * the hub closes (a response that breaks its document fails the test file).
 */
export class ResponseContract {
  readonly violations: string[] = [];
  private readonly ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  private readonly expectations = new Map<string, Expectation>();
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
        this.check(request.method === 'HEAD' ? 'GET' : request.method, url, reply.statusCode, payload);
      }
      done(null, payload);
    });
  }

  private check(method: string, url: string, status: number, payload: string): void {
    const key = `${method} ${url} ${status}`;
    let expected = this.expectations.get(key);
    if (expected === undefined) this.expectations.set(key, (expected = this.expectation(method, url, status)));
    if (expected === 'route not documented' || expected === 'not JSON') return;
    const where = `${method} ${url} → ${status}`;
    if (expected === 'status not documented') {
      this.violations.push(`${where}: status not documented; body ${payload.slice(0, 200)}`);
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(payload);
    } catch {
      this.violations.push(`${where}: body is not JSON`);
      return;
    }
    if (!expected(body)) this.violations.push(`${where}: ${this.ajv.errorsText(expected.errors)}; body ${payload.slice(0, 300)}`);
  }

  private expectation(method: string, url: string, status: number): Expectation {
    const path = openApiPath(url);
    const operation = (this.doc!.paths as Record<string, Record<string, Json>>)[path]?.[method.toLowerCase()];
    if (!operation) return 'route not documented';
    const response = (operation.responses as Record<string, Json>)[String(status)];
    if (!response) return 'status not documented';
    if (!(response.content as Json | undefined)?.['application/json']) return 'not JSON';
    const pointer = ['paths', path, method.toLowerCase(), 'responses', String(status), 'content', 'application/json', 'schema']
      .map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1'))
      .join('/');
    return this.ajv.compile({ $ref: `openapi.json#/${pointer}` });
  }
}
