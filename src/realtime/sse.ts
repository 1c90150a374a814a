import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { HubError, invalidRequest } from '../errors.js';
import { channelParamsSchema, openChannelRead } from '../auth/channel-read.js';
import type { RouteDoc } from '../reference/route-doc.js';
import type { RealtimeContext } from './context.js';
import type { EventFrames } from './event-frames.js';
import { GAP_REASONS, type GapReason } from './frames.js';
import { StreamSink } from './sink.js';
import { startSubscription } from './start-subscription.js';
import type { Subscription } from './subscription.js';
import { armTokenExpiry } from './token-expiry.js';

const querySchema = z.object({
  after: z.string().optional().meta({ description: 'A cursor: stream the events after it, then live ones. Last-Event-ID wins over it.' }),
  token: z.string().optional(),
});
const headersSchema = z.object({
  'last-event-id': z.string().optional().meta({ description: 'The cursor of the last event received (EventSource sends it on reconnect).' }),
});

const sseDoc: RouteDoc = {
  operationId: 'streamChannel',
  summary: 'Stream a channel as Server-Sent Events',
  description:
    'Each event: `id: <cursor>` and `data: <envelope JSON>`; an expired or foreign cursor gets a first `event: reset`; ' +
    'comment heartbeats every 15 s. HEAD answers the headers after the same checks, without a stream. See /asyncapi.json.',
  tag: 'channels',
  access: 'subscriber',
  scope: 'read',
  params: channelParamsSchema,
  query: querySchema.omit({ token: true }),
  headers: headersSchema,
  responses: { 200: { description: 'The stream.', contentType: 'text/event-stream' } },
  errors: ['overloaded'],
};
const HEARTBEAT = Buffer.from(': heartbeat\n\n');

/** The `data` of an `event: reset` message. */
export const sseResetSchema = z
  .strictObject({
    reason: z.enum(GAP_REASONS),
    cursor: z.string().meta({ description: 'Where the stream goes on from (also the message id).' }),
  })
  .meta({ id: 'SseReset', description: 'The events after the requested position are gone: resynchronise, then carry on from cursor.' });

/** The events after the client's position are gone: it carries on from `cursor` (the id makes EventSource resume there). */
const resetMessage = (reason: GapReason, cursor: string): string =>
  `event: reset\nid: ${cursor}\ndata: ${JSON.stringify({ reason, cursor })}\n\n`;

/** One SSE response streaming one channel. */
export class SseStream extends StreamSink {
  readonly transport = 'sse' as const;
  sub: Subscription | undefined;
  /** The stored API key the stream was opened with (its revocation ends the stream). */
  keyId: string | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly ctx: RealtimeContext,
  ) {
    super(res, ctx.config.sendBufferBytes, ctx.writes);
  }

  isOpen(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  protected encode(frames: EventFrames): Buffer {
    return frames.sse();
  }

  protected gapNotice(_channel: string, reason: GapReason, cursor: string): Buffer {
    return Buffer.from(resetMessage(reason, cursor));
  }

  protected closeSlow(buffered: number): void {
    // No close code in SSE: cut the stream and free its buffer at once. The client reconnects
    // with the Last-Event-ID of what it did receive, so it loses nothing.
    this.ctx.metrics.slowConsumers.inc({ transport: 'sse' });
    this.ctx.logger.info({ channel: this.sub?.channel, buffered }, 'slow SSE consumer disconnected');
    this.res.destroy();
  }

  /** Writes now, after the events queued before it. */
  write(text: string | Buffer): void {
    if (!this.isOpen()) return;
    this.writePending();
    this.res.write(text);
  }

  heartbeat(): void {
    this.write(HEARTBEAT);
  }

  end(): void {
    if (!this.isOpen()) return;
    this.writePending(false);
    this.res.end();
  }
}

export interface SseOptions {
  ctx: RealtimeContext;
  streams: Set<SseStream>;
  /** Connections of both transports, for the shared limit. */
  connectionCount: () => number;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no', // proxies must not buffer a stream
};

/**
 * GET /v1/channels/:channel/sse — Server-Sent Events for clients that cannot use WebSocket.
 * Resumes from `Last-Event-ID` (what EventSource sends on reconnect; it wins over `?after=`,
 * which only the first request of an EventSource carries).
 */
export function sseRoutes(app: FastifyInstance, { ctx, streams, connectionCount }: SseOptions): void {
  app.get('/v1/channels/:channel/sse', { config: { doc: sseDoc } }, async (request, reply) => {
    const { principal, channel, query } = await openChannelRead(ctx.auth, request, querySchema);
    const lastEventId = request.headers['last-event-id'];
    const [field, cursor] =
      typeof lastEventId === 'string' && lastEventId !== '' ? ['Last-Event-ID', lastEventId] : ['after', query.after];
    if (connectionCount() >= ctx.config.maxConnections) {
      throw new HubError('overloaded', { message: 'The hub has reached its connection limit; retry later.', retryAfterS: 1 });
    }

    // HEAD (a health probe, a proxy checking the route): the stream's headers, no stream.
    if (request.method === 'HEAD') return reply.headers(SSE_HEADERS).send();

    const res = reply.raw;
    const stream = new SseStream(res, ctx);
    const started = await startSubscription(ctx, channel, stream, cursor, (err) => {
      ctx.logger.error({ err, channel }, 'SSE replay failed');
      res.destroy();
    });
    if (!started.ok) throw invalidRequest([{ field, message: 'is not a cursor this hub issued' }]);
    stream.sub = started.sub;
    stream.keyId = principal.kind === 'server' ? principal.keyId : undefined;
    streams.add(stream);
    reply.hijack();
    // reply.getHeaders(): what the hooks set (CORS above all: without it a page on another
    // origin cannot read the stream), since a hijacked reply sends none of them itself.
    res.writeHead(200, { ...(reply.getHeaders() as OutgoingHttpHeaders), ...SSE_HEADERS, connection: 'keep-alive', 'x-request-id': request.id });
    res.flushHeaders(); // the client learns the stream is open now, not at the first event
    if (started.reason) {
      // The events after that cursor are gone: say so first, and carry on from the head.
      stream.write(resetMessage(started.reason, started.cursor));
    } else if (!started.resumed) {
      // No event yet, but a position: EventSource records an id-only message as its
      // Last-Event-ID without dispatching it, so a drop before the first event loses nothing.
      stream.write(`id: ${started.cursor}\n\n`);
    }
    const disarm = armTokenExpiry(principal, ctx.clock, () => stream.end());
    const cleanUp = (): void => {
      disarm();
      started.sub.cancel();
      ctx.registry.remove(started.sub);
      streams.delete(stream);
    };
    res.on('close', cleanUp);
    if (res.destroyed) return cleanUp(); // the client left while we were authenticating it
    void started.run();
  });
}
