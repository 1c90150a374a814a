import type { FastifyInstance } from 'fastify';
import type { KeyRing } from '../auth/key-ring.js';
import { keyCreatedSchema, keyCreateSchema, keyListSchema, keyView } from '../auth/keys.js';
import { parseOr400 } from '../domain/validate.js';
import { HubError } from '../errors.js';
import { routeDocs } from '../reference/route-doc.js';
import { idParams } from './subscriptions.js';

const keyDoc = routeDocs('keys', 'server');
const DOCS = {
  create: keyDoc({
    operationId: 'createKey',
    summary: 'Create an API key with some scopes',
    description: 'The key (`phk_…`) is in this response only: the hub keeps its SHA-256 hash and a prefix.',
    scope: 'admin',
    body: keyCreateSchema,
    responses: { 201: { description: 'Created; the only time the key is shown.', schema: keyCreatedSchema } },
  }),
  list: keyDoc({
    operationId: 'listKeys',
    summary: 'List the API keys (never the keys themselves)',
    scope: 'read',
    responses: { 200: { description: 'Every key, oldest first (the root key PUSHHUB_API_KEY is not stored, so not listed).', schema: keyListSchema } },
  }),
  revoke: keyDoc({
    operationId: 'revokeKey',
    summary: 'Revoke an API key: refused at once, on every hub',
    scope: 'admin',
    params: idParams,
    responses: { 204: { description: 'Revoked.' } },
    errors: ['not_found'],
  }),
};

/** /v1/keys: create (the key shown once), list, revoke. */
export function keyRoutes(app: FastifyInstance, keys: KeyRing): void {
  app.post('/v1/keys', { config: { doc: DOCS.create } }, async (request, reply) => {
    const body = parseOr400(keyCreateSchema, request.body);
    const { stored, key } = await keys.create(body);
    request.log.info({ keyId: stored.id, scopes: stored.scopes }, 'API key created');
    return reply.code(201).send({ ...keyView(stored), key });
  });

  app.get('/v1/keys', { config: { doc: DOCS.list } }, async () => ({ keys: (await keys.list()).map(keyView) }));

  app.delete('/v1/keys/:id', { config: { doc: DOCS.revoke } }, async (request, reply) => {
    const { id } = parseOr400(idParams, request.params, 'path');
    if (!(await keys.revoke(id))) throw new HubError('not_found', { message: `No key ${id}.` });
    request.log.info({ keyId: id }, 'API key revoked');
    return reply.code(204).send();
  });
}
