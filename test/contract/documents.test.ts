import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';
import { compileErrors, validate } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { FRAME_ERROR_CODES, clientFrameSchemas, serverFrameSchemas } from '../../src/realtime/frames.js';
import { serverMessageName } from '../../src/reference/asyncapi.js';
import { openApiPath } from '../../src/reference/openapi.js';
import { startHub, type TestHub } from '../helpers/hub.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The HTTP routes of the public contract, written out here so that a route dropped from the hub or the document fails. */
const CONTRACT_ROUTES = [
  'POST /v1/events',
  'POST /v1/events/batch',
  'GET /v1/events/{id}',
  'GET /v1/channels/{channel}/events',
  'GET /v1/channels/{channel}/sse',
  'GET /v1/channels/{channel}/presence',
  'OPTIONS /v1/channels/{channel}/presence',
  'GET /v1/ws',
  'OPTIONS /v1/channels/{channel}/events',
  'OPTIONS /v1/channels/{channel}/sse',
  'POST /v1/subscriptions',
  'GET /v1/subscriptions',
  'GET /v1/subscriptions/{id}',
  'PATCH /v1/subscriptions/{id}',
  'DELETE /v1/subscriptions/{id}',
  'POST /v1/subscriptions/{id}/rotate-secret',
  'POST /v1/subscriptions/{id}/redrive',
  'POST /v1/subscriptions/{id}/replay',
  'POST /v1/subscriptions/{id}/test',
  'GET /v1/tasks/{id}',
  'GET /v1/deliveries',
  'GET /v1/deliveries/{id}',
  'POST /v1/deliveries/{id}/retry',
  'POST /v1/tokens',
  'POST /v1/keys',
  'GET /v1/keys',
  'DELETE /v1/keys/{id}',
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /openapi.json',
  'GET /asyncapi.json',
  'GET /docs',
  'GET /dashboard',
];

let hub: TestHub;
let openapi: Json;
let asyncapi: Json;

beforeAll(async () => {
  hub = await startHub({ config: { logLevel: 'warn' } });
  openapi = (await (await fetch(`${hub.url}/openapi.json`)).json()) as Json;
  asyncapi = (await (await fetch(`${hub.url}/asyncapi.json`)).json()) as Json;
});
afterAll(async () => hub?.close());

const operations = (doc: Json): string[] =>
  Object.entries(doc.paths as Json).flatMap(([path, item]) => Object.keys(item as Json).map((m) => `${m.toUpperCase()} ${path}`));

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(openapi.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(openapi) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('documents every route of the contract, and only routes the hub has', () => {
    expect(operations(openapi).sort()).toEqual([...CONTRACT_ROUTES].sort());
  });

  it("documents every route the server registers (the rendered page's assets, automatic HEAD routes and CORS's catch-all aside)", () => {
    const registered = hub.app.routes.documented.map((r) => `${r.method} ${openApiPath(r.url)}`);
    // The rendered page and the WebSocket upgrade are served outside the router's documented routes;
    // the reference's and the dashboard's asset files (and /dashboard/, a redirect) are not API routes.
    expect(new Set(operations(openapi))).toEqual(new Set([...registered, 'GET /docs', 'GET /v1/ws']));
    const undocumented = hub.app.routes.undocumented.filter(
      (r) => !(r.url === '/docs' || r.url.startsWith('/docs/') || r.url.startsWith('/dashboard/')) && r.method !== 'HEAD' && !(r.method === 'OPTIONS' && r.url === '*'),
    );
    expect(undocumented).toEqual([]);
  });

  it('names the security of every operation: server routes the API key, channel reads a key or a token, probes none', () => {
    for (const [path, item] of Object.entries(openapi.paths as Json)) {
      for (const [method, op] of Object.entries(item as Json)) {
        const schemes = (op.security as Json[]).flatMap((s) => Object.keys(s)).sort();
        const where = `${method} ${path}`;
        if (method === 'options') expect(schemes, where).toEqual([]); // a preflight carries no credential
        else if (path.startsWith('/v1/channels/') || path === '/v1/ws') expect(schemes, where).toEqual(['apiKey', 'subscriberToken', 'tokenQuery']);
        else if (path.startsWith('/v1/')) expect(schemes, where).toEqual(['apiKey']);
        else expect(schemes, where).toEqual([]);
        // The upgrade refuses a bad credential after the handshake, with close code 4001.
        const refusals = path === '/v1/ws' ? ['403'] : ['401', '403'];
        if (path.startsWith('/v1/') && method !== 'options') expect(Object.keys(op.responses as Json), where).toEqual(expect.arrayContaining(refusals));
      }
    }
    expect(Object.keys(openapi.components.securitySchemes as Json).sort()).toEqual(['apiKey', 'subscriberToken', 'tokenQuery']);
  });

  it('gives every request body and every JSON response a named schema', () => {
    for (const [path, item] of Object.entries(openapi.paths as Json)) {
      for (const [method, op] of Object.entries(item as Json)) {
        const bodies = [op.requestBody, ...Object.values(op.responses as Json)].filter(Boolean) as Json[];
        for (const body of bodies) {
          const schema = body.content?.['application/json']?.schema as Json | undefined;
          if (schema) expect(schema.$ref ?? schema.allOf?.[0]?.$ref, `${method} ${path}`).toMatch(/^#\/components\/schemas\//);
        }
      }
    }
  });
});

describe('error codes', () => {
  const codes = Object.keys(ErrorCodes).sort();

  it('every code of src/errors.ts is in the Error schema of /openapi.json, and nothing else is', () => {
    const schema = openapi.components.schemas.Error as Json;
    expect([...(schema.properties.error.properties.code.enum as string[])].sort()).toEqual(codes);
  });

  it('every code is in docs/errors.md, and the table lists no other', () => {
    const text = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = [...text.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|/gm)];
    expect(rows.map((r) => r[1]).sort()).toEqual(codes);
    for (const [, code, status] of rows) expect(Number(status), code).toBe(ErrorCodes[code as keyof typeof ErrorCodes].status);
  });

  it('the WebSocket error frame codes are error codes of the catalogue', () => {
    for (const code of FRAME_ERROR_CODES) expect(codes).toContain(code);
  });
});

describe('/asyncapi.json', () => {
  it('is a valid AsyncAPI 3.0 document', async () => {
    expect(asyncapi.asyncapi).toBe('3.0.0');
    const diagnostics = await new Parser().validate(JSON.stringify(asyncapi));
    const errors = diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join('.')}: ${d.message}`);
    expect(errors).toEqual([]);
  });

  it('names this hub as its servers, as the client reached it', () => {
    const host = new URL(hub.url).host;
    expect(asyncapi.servers.websocket).toMatchObject({ host, protocol: 'ws' });
    expect(asyncapi.servers.http).toMatchObject({ host, protocol: 'http' });
  });

  it('describes every WebSocket frame each way and the SSE messages', () => {
    const messages = Object.keys(asyncapi.channels.ws.messages as Json).sort();
    expect(messages).toEqual([...Object.keys(clientFrameSchemas), ...Object.keys(serverFrameSchemas).map(serverMessageName)].sort());
    expect(Object.keys(asyncapi.channels.sse.messages as Json).sort()).toEqual(['sseEvent', 'sseReset']);
    const received = (asyncapi.operations.receiveClientFrames.messages as Json[]).map((m) => String(m.$ref).split('/').pop());
    expect(received.sort()).toEqual(Object.keys(clientFrameSchemas).sort());
  });
});
