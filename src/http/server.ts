import Fastify, {
  LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Random } from '../clock.js';
import { HubError, invalidRequest } from '../errors.js';
import type { Logger } from '../logger.js';
import { endWithError } from '../raw-error.js';
import { principalLog } from '../auth/principal.js';
import { lazyRequestLogger } from './request-logger.js';

export interface ServerOptions {
  logger: Logger;
  bodyLimitBytes: number;
  random: Random;
  /** True once shutdown began: new requests get `503 shutting_down`. */
  isClosing: () => boolean;
}

const REQUEST_ID_RE = /^[\w.:-]{1,128}$/;

/** The Fastify instance with the API's error shape everywhere, request ids and access logs. */
export function createServer({ logger, bodyLimitBytes, random, isClosing }: ServerOptions): FastifyInstance {
  // Request ids: a random per-process prefix and a counter (cheaper than random per request).
  const idPrefix = `req_${random.bytes(6).toString('base64url')}`;
  let requests = 0;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: bodyLimitBytes,
    // One access line per request at debug (below), not two at info: logging must not cost
    // more than publishing.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyRequestLogger,
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    requestIdHeader: false,
    // `data` is the publisher's document, carried as is: a `__proto__` or `constructor` key in
    // it is data like any other (JSON.parse makes it an own property, and nothing here merges
    // bodies into objects), so it is accepted as the WebSocket path accepts it, not refused
    // as "not valid JSON". Unknown top-level keys are still refused by the strict schemas.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    // Channel names are up to 128 characters (384 percent-encoded): long enough that our
    // validator, not the router, judges them.
    routerOptions: { maxParamLength: 512 },
    frameworkErrors: (err, _request, reply) => {
      const message = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'has a segment that is too long' : 'is not a valid URL';
      sendError(reply, invalidRequest([{ field: 'path', message }]));
    },
    // Requests Node cannot parse never reach a route: answer them in the API's error shape
    // too, and log without the raw bytes (Fastify's own handler logs them at trace, and they
    // hold the Authorization header).
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      logger.debug({ err: { code: err.code, message: err.message } }, 'unparsable request refused');
      endWithError(socket, clientError(err.code));
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : `${idPrefix}${(++requests).toString(36)}`;
    },
  });

  // JSON only: a text/plain body would otherwise reach the handlers as a string.
  app.removeContentTypeParser('text/plain');

  // Hooks in callback style: no promise per request on the hot path.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done(isClosing() ? new HubError('shutting_down', { retryAfterS: 1 }) : undefined);
  });
  // Once shutdown began, every response closes its connection: a keep-alive client would
  // otherwise hold the server open (Node stops reading new requests on it after close()).
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (isClosing()) reply.header('connection', 'close');
    done(null, payload);
  });
  if (logger.isLevelEnabled('debug')) {
    app.addHook('onResponse', (request, reply, done) => {
      request.log.debug({ req: request, status: reply.statusCode, ms: reply.elapsedTime, ...principalLog(request.principal) }, 'request completed');
      done();
    });
  }

  app.setNotFoundHandler((request, reply) => {
    sendError(reply, new HubError('not_found', { message: `No route ${request.method} ${request.url.split('?')[0]}.` }));
  });
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const hubError = toHubError(err);
    if (hubError.statusCode >= 500 && hubError.code !== 'storage_unavailable' && hubError.code !== 'overloaded') {
      request.log.error({ err, req: request }, 'request failed');
    } else if (hubError.statusCode >= 500) {
      request.log.warn({ err: hubError, req: request }, 'request refused');
    }
    sendError(reply, hubError);
  });
  return app;
}

export function sendError(reply: FastifyReply, err: HubError): FastifyReply {
  if (err.retryAfterS !== undefined) reply.header('retry-after', String(err.retryAfterS));
  return reply.code(err.statusCode).type('application/json; charset=utf-8').send(err.toJSON());
}

/** A request Node's HTTP parser refused, as the API error to answer it with. */
function clientError(code: string | undefined): HubError {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new HubError('request_timeout');
  if (code === 'HPE_HEADER_OVERFLOW') return new HubError('headers_too_large');
  return invalidRequest([{ field: 'request', message: 'is not valid HTTP/1.1' }]);
}

/** Fastify's own errors (body parsing, limits) mapped to the API's codes. */
function toHubError(err: FastifyError): HubError {
  if (err instanceof HubError) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HubError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HubError('unsupported_media_type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalidRequest([{ field: 'body', message: 'is empty; send a JSON object' }]);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return invalidRequest([{ field: 'body', message: `is not valid JSON (${err.message})` }]);
  }
  if (err instanceof SyntaxError) return invalidRequest([{ field: 'body', message: `is not valid JSON (${err.message})` }]);
  const status = err.statusCode ?? 500;
  if (status === 404) return new HubError('not_found');
  if (status === 413) return new HubError('payload_too_large');
  if (status === 415) return new HubError('unsupported_media_type');
  if (status >= 400 && status < 500) return invalidRequest([{ field: 'request', message: err.message }]);
  return new HubError('internal_error', { cause: err });
}
